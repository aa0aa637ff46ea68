// planAddTo(): what add-to writes into a user's project, and when it refuses, on in-memory
// projects (no files, no clock): a first install, a second run, upgrades, a run that stopped
// half-way, and everything of the user's that must stop it.
import assert from "node:assert/strict";
import type { InstallFile } from "../scripts/add_to/bundle.ts";
import { functionTables } from "../scripts/add_to/config_toml.ts";
import { MANIFEST_PATH, parseManifest, sha256 } from "../scripts/add_to/manifest.ts";
import {
  ADOPTION_RECIPE,
  CONFIG_PATH,
  type MigrationFile,
  type Operation,
  type Plan,
  planAddTo,
  type Source,
  type Target,
} from "../scripts/add_to/plan.ts";

const NOW = new Date("2026-12-07T10:00:00Z");
const V1 = { version: "0.1.0", commit: "a".repeat(40), modified: false };
const V2 = { version: "0.2.0", commit: "b".repeat(40), modified: false };

const PROFILES_SQL = "create table public.profiles (user_id text primary key);\n" +
  "create function public.sync_clerk_user(payload jsonb) returns text language sql as $$ select '' $$;\n";
const ORGS_SQL = "create table public.organizations (org_id text primary key);\n";

function source(version = V1, migrations: readonly MigrationFile[] = [
  { name: "20261128000000_clerk_profile_sync.sql", content: PROFILES_SQL },
  { name: "20261129160000_clerk_organizations.sql", content: ORGS_SQL },
], files: readonly InstallFile[] = [
  {
    path: "supabase/functions/clerk-webhook/index.ts",
    content: 'import "../_clerk_sync/log.ts";\n',
  },
  { path: "supabase/functions/clerk-webhook/deno.json", content: '{ "imports": {} }\n' },
  { path: "supabase/functions/_clerk_sync/log.ts", content: "export {};\n" },
]): Source {
  return { version, migrations, files };
}

const USER_CONFIG = 'project_id = "app"\n\n[api]\nport = 54321\n';
const USER_MIGRATION = {
  name: "20261201000000_todos.sql",
  content: "create table todos (id int);\n",
};

function target(overrides: Partial<Target> = {}): Target {
  return {
    configToml: USER_CONFIG,
    migrations: [USER_MIGRATION],
    manifestText: null,
    files: new Map(),
    ...overrides,
  };
}

/** `target` after `plan` is applied, as scripts/add_to/apply.ts would leave it. */
function applied(before: Target, plan: Plan): Target {
  assert.deepEqual(plan.refusals, []);
  const migrations = new Map((before.migrations ?? []).map((m) => [m.name, m.content]));
  const files = new Map(before.files);
  let { configToml, manifestText } = before;
  for (const op of plan.operations) {
    const content = op.kind === "delete" ? undefined : op.content;
    if (op.path === CONFIG_PATH) configToml = content!;
    else if (op.path === MANIFEST_PATH) manifestText = content ?? null;
    else if (op.path.startsWith("supabase/migrations/")) {
      migrations.set(op.path.slice("supabase/migrations/".length), content!);
    } else if (content === undefined) files.delete(op.path);
    else files.set(op.path, content);
  }
  return {
    configToml,
    manifestText,
    files,
    migrations: [...migrations].sort().map(([name, content]) => ({ name, content })),
  };
}

function paths(plan: Plan, kind?: Operation["kind"]): string[] {
  return plan.operations.filter((op) => !kind || op.kind === kind).map((op) => op.path);
}

Deno.test("planAddTo() installs the functions, the migrations after the user's latest, the config tables and a manifest", () => {
  const plan = planAddTo(source(), target(), NOW);
  assert.deepEqual(plan.refusals, []);
  assert.equal(plan.installed, null);
  assert.deepEqual(paths(plan), [
    "supabase/functions/clerk-webhook/index.ts",
    "supabase/functions/clerk-webhook/deno.json",
    "supabase/functions/_clerk_sync/log.ts",
    "supabase/migrations/20261207100000_clerk_profile_sync.sql",
    "supabase/migrations/20261207100001_clerk_organizations.sql",
    CONFIG_PATH,
    MANIFEST_PATH,
  ]);
  const config = plan.operations.find((op) => op.path === CONFIG_PATH)!;
  assert.equal(config.kind, "append");
  assert.ok(config.kind === "append" && config.content.startsWith(USER_CONFIG));
  const manifest = parseManifest(
    plan.operations.at(-1)!.kind === "create"
      ? (plan.operations.at(-1) as { content: string }).content
      : "",
  );
  assert.deepEqual(manifest.source, V1);
  assert.deepEqual(manifest.migrations["20261128000000_clerk_profile_sync.sql"], {
    file: "20261207100000_clerk_profile_sync.sql",
    sha256: sha256(PROFILES_SQL),
  });
  assert.equal(manifest.files["supabase/functions/_clerk_sync/log.ts"], sha256("export {};\n"));
});

Deno.test("planAddTo() a second run plans nothing", () => {
  const once = applied(target(), planAddTo(source(), target(), NOW));
  const twice = planAddTo(source(), once, new Date("2027-01-01T00:00:00Z"));
  assert.deepEqual(twice.refusals, []);
  assert.deepEqual(twice.operations, []);
  assert.deepEqual(twice.installed, V1);
});

Deno.test("planAddTo() a newer commit with the same files plans nothing and keeps the recorded version", () => {
  const once = applied(target(), planAddTo(source(V1), target(), NOW));
  assert.deepEqual(planAddTo(source(V2), once, NOW).operations, []);
});

Deno.test("planAddTo() dates the migrations after a user's migration dated in the future, one second apart", () => {
  const future = { name: "20270101000000_later.sql", content: "select 1;\n" };
  const plan = planAddTo(source(), target({ migrations: [USER_MIGRATION, future] }), NOW);
  assert.deepEqual(paths(plan).filter((p) => p.includes("migrations/")), [
    "supabase/migrations/20270101000001_clerk_profile_sync.sql",
    "supabase/migrations/20270101000002_clerk_organizations.sql",
  ]);
});

Deno.test("planAddTo() refuses when the latest migration is not a timestamp it can date after", () => {
  const odd = { name: "99999999999999999_odd.sql", content: "select 1;\n" };
  const plan = planAddTo(source(), target({ migrations: [odd] }), NOW);
  assert.deepEqual(plan.refusals.map((r) => r.path), [
    "supabase/migrations/99999999999999999_odd.sql",
  ]);
  assert.deepEqual(plan.operations, []);
});

Deno.test("planAddTo() creates supabase/migrations/ when the project has none", () => {
  const plan = planAddTo(source(), target({ migrations: null }), NOW);
  assert.ok(
    paths(plan, "create").includes("supabase/migrations/20261207100000_clerk_profile_sync.sql"),
  );
});

Deno.test("planAddTo() refuses a profiles table in the user's migrations, naming the file and the recipe", () => {
  const theirs = {
    name: "20261201000000_profiles.sql",
    content: "create table profiles (id uuid);\n",
  };
  const plan = planAddTo(source(), target({ migrations: [theirs] }), NOW);
  assert.deepEqual(plan.operations, []);
  assert.equal(plan.refusals.length, 1);
  assert.equal(plan.refusals[0].path, "supabase/migrations/20261201000000_profiles.sql");
  assert.match(plan.refusals[0].reason, /table public\.profiles/);
  assert.ok(plan.refusals[0].reason.includes(`"${ADOPTION_RECIPE}"`));
});

Deno.test("planAddTo() refuses a function of the same name, whatever its arguments", () => {
  const theirs = {
    name: "20261201000000_fn.sql",
    content:
      "create or replace function public.sync_clerk_user() returns void language sql as $$ $$;\n",
  };
  const plan = planAddTo(source(), target({ migrations: [theirs] }), NOW);
  assert.match(plan.refusals[0]?.reason ?? "", /function public\.sync_clerk_user/);
});

Deno.test("planAddTo() accepts a profiles table the user renamed away (the adoption recipe)", () => {
  const created = {
    name: "20261201000000_profiles.sql",
    content: "create table profiles (id uuid);\n",
  };
  const renamed = {
    name: "20261202000000_adopt.sql",
    content: "alter table public.profiles rename to app_profiles;\n",
  };
  const plan = planAddTo(source(), target({ migrations: [created, renamed] }), NOW);
  assert.deepEqual(plan.refusals, []);
});

Deno.test("planAddTo() refuses an existing [functions.clerk-webhook] in config.toml", () => {
  for (
    const config of [
      `${USER_CONFIG}\n[functions.clerk-webhook]\nverify_jwt = false\n`,
      `${USER_CONFIG}\n[functions]\nclerk-webhook = { verify_jwt = false }\n`,
      `functions.clerk-webhook.verify_jwt = false\n${USER_CONFIG}`,
    ]
  ) {
    const plan = planAddTo(source(), target({ configToml: config }), NOW);
    assert.deepEqual(plan.refusals.map((r) => r.path), [CONFIG_PATH], config);
    assert.match(plan.refusals[0].reason, /already has \[functions\.clerk-webhook\]/);
  }
});

Deno.test("planAddTo() refuses to overwrite a file of the user's where its functions go", () => {
  const files = new Map([[
    "supabase/functions/clerk-webhook/index.ts",
    "Deno.serve(() => new Response());\n",
  ]]);
  const plan = planAddTo(source(), target({ files }), NOW);
  assert.deepEqual(plan.refusals.map((r) => r.path), ["supabase/functions/clerk-webhook/index.ts"]);
  assert.match(plan.refusals[0].reason, /not written by add-to/);
  assert.deepEqual(plan.operations, []);
});

Deno.test("planAddTo() refuses a folder of the user's where its functions go, even with other file names", () => {
  const files = new Map([["supabase/functions/_clerk_sync/mine.ts", "export const x = 1;\n"]]);
  const plan = planAddTo(source(), target({ files }), NOW);
  assert.deepEqual(plan.refusals.map((r) => r.path), ["supabase/functions/_clerk_sync/mine.ts"]);
});

Deno.test("planAddTo() refuses an unreadable manifest", () => {
  const plan = planAddTo(source(), target({ manifestText: "{ not json" }), NOW);
  assert.deepEqual(plan.refusals.map((r) => r.path), [MANIFEST_PATH]);
});

Deno.test("planAddTo() picks up a run that stopped before its manifest: same bytes are not copied again", () => {
  const full = applied(target(), planAddTo(source(), target(), NOW));
  const partial: Target = { ...full, manifestText: null };
  const plan = planAddTo(source(), partial, new Date("2026-12-08T00:00:00Z"));
  assert.deepEqual(plan.refusals, []);
  assert.deepEqual(paths(plan), [MANIFEST_PATH]);
  const manifest = parseManifest((plan.operations[0] as { content: string }).content);
  assert.equal(
    manifest.migrations["20261129160000_clerk_organizations.sql"].file,
    "20261207100001_clerk_organizations.sql",
  );
});

Deno.test("planAddTo() an upgrade adds only the new migrations, updates changed code, deletes dropped modules", () => {
  const first = applied(target(), planAddTo(source(), target(), NOW));
  const userLater = { name: "20261210000000_more.sql", content: "create table more (id int);\n" };
  const before = { ...first, migrations: [...first.migrations!, userLater] };
  const newer = source(V2, [
    ...source().migrations,
    { name: "20261207000000_clerk_new.sql", content: "create table public.clerk_new (id int);\n" },
  ], [
    {
      path: "supabase/functions/clerk-webhook/index.ts",
      content: 'import "../_clerk_sync/log2.ts";\n',
    },
    { path: "supabase/functions/clerk-webhook/deno.json", content: '{ "imports": {} }\n' },
    { path: "supabase/functions/_clerk_sync/log2.ts", content: "export {};\n" },
  ]);
  const plan = planAddTo(newer, before, new Date("2026-12-09T00:00:00Z"));
  assert.deepEqual(plan.refusals, []);
  assert.deepEqual(plan.installed, V1);
  assert.deepEqual(
    plan.operations.map((op) => `${op.kind} ${op.path}`),
    [
      "update supabase/functions/clerk-webhook/index.ts",
      "create supabase/functions/_clerk_sync/log2.ts",
      "delete supabase/functions/_clerk_sync/log.ts",
      // after the user's latest (2026-12-10), not at the clock's 2026-12-09
      "create supabase/migrations/20261210000001_clerk_new.sql",
      `update ${MANIFEST_PATH}`,
    ],
  );
  const after = applied(before, plan);
  assert.deepEqual(planAddTo(newer, after, NOW).operations, []);
  assert.deepEqual(parseManifest(after.manifestText!).source, V2);
});

Deno.test("planAddTo() an upgrade refuses to overwrite a file the user edited, and to delete one", () => {
  const first = applied(target(), planAddTo(source(), target(), NOW));
  const files = new Map(first.files);
  files.set("supabase/functions/clerk-webhook/index.ts", "// mine\n");
  files.set("supabase/functions/_clerk_sync/log.ts", "// mine too\n");
  const newer = source(V2, source().migrations, [
    { path: "supabase/functions/clerk-webhook/index.ts", content: "// new\n" },
    { path: "supabase/functions/clerk-webhook/deno.json", content: '{ "imports": {} }\n' },
  ]);
  const plan = planAddTo(newer, { ...first, files }, NOW);
  assert.deepEqual(plan.refusals.map((r) => r.path).sort(), [
    "supabase/functions/_clerk_sync/log.ts",
    "supabase/functions/clerk-webhook/index.ts",
  ]);
  assert.match(plan.refusals[0].reason, /changed after add-to wrote it/);
  assert.deepEqual(plan.operations, []);
});

Deno.test("planAddTo() an upgrade leaves a user's extra file in its folders alone", () => {
  const first = applied(target(), planAddTo(source(), target(), NOW));
  const files = new Map(first.files).set("supabase/functions/clerk-webhook/deno.lock", "{}\n");
  assert.deepEqual(planAddTo(source(), { ...first, files }, NOW).operations, []);
});

Deno.test("planAddTo() an upgrade notes a changed installed migration and keeps the installed copy", () => {
  const first = applied(target(), planAddTo(source(), target(), NOW));
  const changed = source(V2, [
    { name: "20261128000000_clerk_profile_sync.sql", content: `${PROFILES_SQL}-- edited\n` },
    source().migrations[1],
  ]);
  const plan = planAddTo(changed, first, NOW);
  assert.deepEqual(plan.operations, []);
  assert.match(
    plan.notes[0],
    /changed since it was installed as 20261207100000_clerk_profile_sync\.sql/,
  );
});

Deno.test("planAddTo() an upgrade refuses a new object of ours that a migration of the user's made since", () => {
  const first = applied(target(), planAddTo(source(), target(), NOW));
  const theirs = {
    name: "20261210000000_mine.sql",
    content: "create table public.clerk_new (x int);\n",
  };
  const newer = source(V2, [
    ...source().migrations,
    { name: "20261207000000_clerk_new.sql", content: "create table public.clerk_new (id int);\n" },
  ]);
  const plan = planAddTo(newer, { ...first, migrations: [...first.migrations!, theirs] }, NOW);
  assert.deepEqual(plan.refusals.map((r) => r.path), [
    "supabase/migrations/20261210000000_mine.sql",
  ]);
});

Deno.test("planAddTo() an upgrade replaces the config tables it appended when their text changes", () => {
  const first = applied(target(), planAddTo(source(), target(), NOW));
  const tables = functionTables(["clerk-webhook", "clerk-profile-sync"]);
  const older = tables.replaceAll("verify_jwt = false\n", "");
  const manifest = JSON.parse(first.manifestText!);
  manifest.config_toml = older;
  const before: Target = {
    ...first,
    configToml: first.configToml.replace(tables, older),
    manifestText: `${JSON.stringify(manifest, null, 2)}\n`,
  };
  const plan = planAddTo(source(), before, NOW);
  const config = plan.operations.find((op) => op.path === CONFIG_PATH);
  assert.equal(config?.kind, "update");
  assert.equal((config as { content: string }).content, first.configToml);
});

Deno.test("planAddTo() an upgrade refuses config tables the user edited", () => {
  const first = applied(target(), planAddTo(source(), target(), NOW));
  const plan = planAddTo(source(), {
    ...first,
    configToml: first.configToml.replace(
      "[functions.clerk-webhook]\nenabled = true\nverify_jwt = false",
      "[functions.clerk-webhook]\nenabled = true\nverify_jwt = true",
    ),
  }, NOW);
  assert.deepEqual(plan.refusals.map((r) => r.path), [CONFIG_PATH]);
  assert.match(plan.refusals[0].reason, /make them read:\n\[functions\.clerk-webhook\]/);
});

Deno.test("planAddTo() keeps a CRLF config.toml in CRLF", () => {
  const crlf = USER_CONFIG.replaceAll("\n", "\r\n");
  const plan = planAddTo(source(), target({ configToml: crlf }), NOW);
  const config = plan.operations.find((op) => op.path === CONFIG_PATH) as { content: string };
  assert.ok(config.content.startsWith(crlf));
  assert.doesNotMatch(config.content.slice(crlf.length), /[^\r]\n/);
  const again = planAddTo(source(), applied(target({ configToml: crlf }), plan), NOW);
  assert.deepEqual(again.operations, []);
});

Deno.test("planAddTo() notes a config.toml that runs functions on Deno 1", () => {
  const config = `${USER_CONFIG}\n[edge_runtime]\ndeno_version = 1\n`;
  const plan = planAddTo(source(), target({ configToml: config }), NOW);
  assert.deepEqual(plan.refusals, []);
  assert.match(plan.notes.join("\n"), /deno_version = 1/);
});
