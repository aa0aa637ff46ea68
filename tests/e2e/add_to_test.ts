// `npm run add-to` on a user's own Supabase project, checked with the real Supabase CLI: a fixture
// app (its own migration, already pushed; its own function, `_shared/`, import map and
// config.toml; a Next.js package.json) and a platform-shaped database (the mirror, not this
// project's migrations). The command adds the sync without touching a byte of the app's files;
// `supabase db push` applies exactly our migrations without --include-all; `supabase functions
// deploy` uploads each function's graph with its deno.json; both functions, run from the app's
// folder as deployed, answer; a second run does nothing; and an older version of this project
// (a commit before the newest migration, exported with git) installed first is upgraded by
// adding exactly the newer migrations, pushed to a second database of the same cluster.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { clerkId } from "../support/clerk_payloads.ts";
import { mintSessionToken } from "../support/clerk_session.ts";
import { EXAMPLE_USER_ID, startLocalStack } from "../support/local_stack.ts";
import {
  type CapturedDeploy,
  type ManagementApiStandIn,
  startManagementApiStandIn,
} from "../support/management_api_stand_in.ts";
import { applyMirror, type PgCluster, startCluster } from "../support/pg_cluster.ts";
import { survivingObjects } from "../../scripts/add_to/sql_objects.ts";
import { deliver, post, runId, snapshot, userDelivery, withSql } from "./support.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
/** The CLI under test: the pinned one unless SUPABASE_BIN names another (a newer pin to try). */
const SUPABASE = Deno.env.get("SUPABASE_BIN") ?? `${ROOT}/node_modules/.bin/supabase`;
const OUR_DIRS = [
  "supabase/functions/clerk-webhook/",
  "supabase/functions/clerk-profile-sync/",
  "supabase/functions/_clerk_sync/",
];
const decoder = new TextDecoder();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `npm run -s add-to -- ...args` from this clone, as a user runs it. */
async function addTo(...args: string[]): Promise<Run> {
  const out = await new Deno.Command("npm", {
    args: ["run", "-s", "add-to", "--", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** The CLI's major version: 3.x deprecates `--db-url` for `--remote=<db-url>` (2.x has no --remote). */
async function cliMajor(): Promise<number> {
  const out = await new Deno.Command(SUPABASE, { args: ["--version"], stdout: "piped" }).output();
  return Number(decoder.decode(out.stdout).trim().split(".")[0]);
}

/**
 * The Supabase CLI from `cwd` (the app's folder), with `--workdir` as well; its output must
 * carry no deprecation warning (of a flag used here, or of a key in the app's config.toml).
 */
async function supabase(cwd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(SUPABASE, {
    args: [...args, "--workdir", cwd],
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = decoder.decode(out.stdout) + decoder.decode(out.stderr);
  assert.ok(out.success, `supabase ${args.join(" ")} failed (exit ${out.code}):\n${text}`);
  assert.doesNotMatch(text, /deprecat/i, `supabase ${args.join(" ")}:\n${text}`);
  return text;
}

/**
 * `supabase db push --db-url <url>?sslmode=disable --yes` (`--remote=<url>` with CLI 3), the
 * password in PGPASSWORD. Never --include-all.
 */
async function dbPush(app: string, url: string): Promise<string> {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = "";
  const target = `${parsed}?sslmode=disable`;
  const flags = await cliMajor() >= 3 ? [`--remote=${target}`] : ["--db-url", target];
  return await supabase(app, ["db", "push", ...flags, "--yes"], { PGPASSWORD: password });
}

async function appliedVersions(url: string): Promise<{ version: string; name: string }[]> {
  return await withSql(url, async (sql) =>
    (await sql<{ version: string; name: string }[]>`
      select version, name from supabase_migrations.schema_migrations order by version`)
      .map((r) => ({ version: r.version, name: r.name })));
}

/** sha256 of every file under `dir`, by path from it. */
async function fileHashes(dir: string, prefix = ""): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const entry of Deno.readDir(`${dir}/${prefix}`)) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory) {
      for (const [p, h] of await fileHashes(dir, `${path}/`)) out.set(p, h);
    } else {
      const bytes = await Deno.readFile(`${dir}/${path}`);
      out.set(path, createHash("sha256").update(bytes).digest("hex"));
    }
  }
  return out;
}

/** The paths a run's output lists (`  create  path  (note)`). */
function listedPaths(stdout: string): string[] {
  return [...stdout.matchAll(/^ {2}(?:create|update|append|delete) {2}(\S+)/gm)].map((m) => m[1]);
}

function migrationNames(dir: string): string[] {
  return [...Deno.readDirSync(`${dir}/supabase/migrations`)]
    .filter((e) => e.isFile && /^[0-9]+_.+\.sql$/.test(e.name)).map((e) => e.name).sort();
}

function suffix(name: string): string {
  return name.replace(/^[0-9]+_/, "");
}

/** A 14-digit migration version one day after `version`. */
function dayAfter(version: string): string {
  const [y, mo, d, h, mi, s] = [0, 4, 6, 8, 10, 12].map((i, n) =>
    Number(version.slice(i, n === 0 ? 4 : i + 2))
  );
  return new Date(Date.UTC(y, mo - 1, d + 1, h, mi, s)).toISOString().replace(/[-:T]/g, "")
    .slice(0, 14);
}

/** A user's project: a Next.js app with its own Supabase migration, function and config. */
async function writeFixture(app: string, migrationVersion: string): Promise<void> {
  const files: Record<string, string> = {
    "package.json": JSON.stringify(
      {
        name: "fixture-app",
        private: true,
        scripts: { dev: "next dev" },
        dependencies: { "@clerk/nextjs": "6.36.0", next: "15.5.0", react: "19.2.0" },
      },
      null,
      2,
    ) + "\n",
    "supabase/config.toml": [
      "# A user's own config: add-to may only append to it.",
      'project_id = "fixture-app"',
      "",
      "[api]",
      "enabled = true",
      "port = 54321",
      'schemas = ["public", "graphql_public"]',
      "",
      "[db]",
      "port = 54322",
      "major_version = 17",
      "",
      "[auth]",
      "enabled = true",
      'site_url = "http://127.0.0.1:3000"',
      "",
      "[auth.email]",
      "enabled = true",
      "",
      "[functions.hello]",
      "enabled = true",
      "verify_jwt = true",
      "",
      "[edge_runtime]",
      "enabled = true",
      "deno_version = 2",
      "", // the file ends without a blank line after its last table
    ].join("\n"),
    [`supabase/migrations/${migrationVersion}_todos.sql`]: [
      "create table public.todos (",
      "  id bigint generated always as identity primary key,",
      "  user_id text not null default (auth.jwt() ->> 'sub'),",
      "  title text not null",
      ");",
      "alter table public.todos enable row level security;",
      'create policy "Users can read their own todos" on public.todos for select to authenticated',
      "  using (user_id = ((select auth.jwt()) ->> 'sub'));",
      "",
    ].join("\n"),
    "supabase/functions/_shared/cors.ts":
      'export const corsHeaders = { "Access-Control-Allow-Origin": "*" };\n',
    "supabase/functions/hello/index.ts": [
      'import { corsHeaders } from "../_shared/cors.ts";',
      "",
      'Deno.serve(() => new Response("hello", { headers: corsHeaders }));',
      "",
    ].join("\n"),
    "supabase/functions/import_map.json": '{ "imports": {} }\n',
    "supabase/.gitignore": ".branches\n.temp\n",
  };
  for (const [path, content] of Object.entries(files)) {
    await Deno.mkdir(`${app}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true })
      .catch(() => {});
    await Deno.writeTextFile(`${app}/${path}`, content);
  }
}

/**
 * This project as it was before its newest migration: the files add-to reads, exported with
 * `git archive` from the parent of the commit that added the newest committed migration.
 */
async function exportOlderVersion(into: string, ours: string[]): Promise<string> {
  for (const name of [...ours].reverse()) {
    const log = await new Deno.Command("git", {
      args: ["log", "--diff-filter=A", "--format=%H", "--", `supabase/migrations/${name}`],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const added = decoder.decode(log.stdout).trim().split("\n").at(-1);
    if (!log.success || !added) continue; // not committed yet (a working tree)
    const commit = `${added}^`;
    const tar = `${into}.tar`;
    const archive = await new Deno.Command("git", {
      args: [
        "archive",
        "-o",
        tar,
        commit,
        "--",
        "package.json",
        "import_map.json",
        "supabase/functions",
        "supabase/migrations",
      ],
      cwd: ROOT,
      stderr: "piped",
    }).output();
    assert.ok(archive.success, `git archive ${commit}: ${decoder.decode(archive.stderr)}`);
    await Deno.mkdir(into, { recursive: true });
    const untar = await new Deno.Command("tar", { args: ["-xf", tar, "-C", into] }).output();
    assert.ok(untar.success, "tar -x failed");
    return commit;
  }
  throw new Error("no committed migration: the upgrade needs this repository's git history");
}

/** A second database of `cluster`, copied from `postgres` as it is now (owner `postgres`). */
async function copyDatabase(cluster: PgCluster, name: string): Promise<string> {
  const admin = new URL(cluster.adminUrl);
  admin.pathname = "/template1"; // not connected to the template being copied
  await withSql(admin.toString(), async (sql) => {
    await sql.unsafe(`create database ${name} template postgres owner postgres`);
    await sql.unsafe(`grant all on database ${name} to postgres`);
  });
  const url = new URL(cluster.url);
  url.pathname = `/${name}`;
  return url.toString();
}

Deno.test("npm run add-to: a user's project gets the sync, pushed, deployed and upgraded with the real CLI", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "clerk-sync-add-to-" });
  const cluster = await startCluster({ migrate: false });
  const ours = migrationNames(ROOT);
  const ourVersions = ours.map((n) => n.split("_")[0]).sort();
  const fixtureVersion = dayAfter(ourVersions.at(-1)!);
  const app = `${work}/app`;
  let before: Map<string, string> | undefined;
  let dryRunPaths: string[] = [];
  try {
    await applyMirror(cluster);
    await writeFixture(app, fixtureVersion);
    // The app's own history, pushed by the user before: recorded as `db push` records it.
    await dbPush(app, cluster.url);
    assert.deepEqual((await appliedVersions(cluster.url)).map((r) => r.version), [fixtureVersion]);
    const upgradeUrl = await copyDatabase(cluster, "clerk_upgrade");
    before = await fileHashes(app);

    await t.step("--dry-run lists every file it would write and writes nothing", async () => {
      const run = await addTo(app, "--dry-run");
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^Dry run: Adding clerk-supabase-sync /);
      assert.match(run.stdout, /\nDry run: nothing written \(/);
      dryRunPaths = listedPaths(run.stdout);
      assert.ok(dryRunPaths.includes("supabase/config.toml"));
      assert.deepEqual(await fileHashes(app), before);
    });

    await t.step("the command adds the sync; every file of the app is as it was", async () => {
      const config = await Deno.readTextFile(`${app}/supabase/config.toml`);
      const run = await addTo(app);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stderr, "");
      assert.match(run.stdout, /\nDone \(/);
      // The same list (new migrations are dated from the clock, so a second may have passed).
      const undated = (paths: string[]) =>
        paths.map((p) => p.replace(/^(supabase\/migrations\/)[0-9]+_/, "$1"));
      assert.deepEqual(undated(listedPaths(run.stdout)), undated(dryRunPaths));
      const after = await fileHashes(app);
      for (const [path, hash] of before!) {
        if (path === "supabase/config.toml") continue;
        assert.equal(after.get(path), hash, `${path} changed`);
      }
      const written = [...after.keys()].filter((p) => !before!.has(p)).sort();
      assert.deepEqual(
        written,
        listedPaths(run.stdout).filter((p) => p !== "supabase/config.toml").sort(),
      );
      for (const path of written) {
        assert.ok(
          OUR_DIRS.some((d) => path.startsWith(d)) ||
            path.startsWith("supabase/migrations/") || path === "supabase/clerk-sync.json",
          `${path} is outside what add-to writes`,
        );
      }
      // config.toml: the same bytes, then the appended tables.
      const now = await Deno.readTextFile(`${app}/supabase/config.toml`);
      assert.ok(now.startsWith(config), "config.toml's own lines changed");
      const appended = now.slice(config.length);
      assert.match(
        appended,
        /^\n# clerk-supabase-sync: [^\n]*\n(?:#[^\n]*\n)*\[functions\.clerk-webhook\]\n/,
      );
      assert.match(
        appended,
        /\[functions\.clerk-profile-sync\]\nenabled = true\nverify_jwt = false\n/,
      );
      assert.match(appended, /\n# \[auth\.third_party\.clerk\]\n# enabled = true\n# domain = /);
      // The migrations: ours, renamed after the app's latest, in our order.
      const names = migrationNames(app);
      assert.deepEqual(names[0], `${fixtureVersion}_todos.sql`);
      assert.deepEqual(names.slice(1).map(suffix), ours.map(suffix));
      assert.ok(names.slice(1).every((n) => n > names[0]));
      for (const [i, name] of names.slice(1).entries()) {
        assert.equal(
          await Deno.readTextFile(`${app}/supabase/migrations/${name}`),
          await Deno.readTextFile(`${ROOT}/supabase/migrations/${ours[i]}`),
        );
      }
      // No module of ours reaches the app's _shared/.
      for (const path of written.filter((p) => p.endsWith(".ts"))) {
        assert.doesNotMatch(await Deno.readTextFile(`${app}/${path}`), /_shared\//, path);
      }
    });

    await t.step(
      "supabase db push applies exactly our migrations, without --include-all",
      async () => {
        const output = await dbPush(app, cluster.url);
        const installed = migrationNames(app).slice(1);
        const rows = await appliedVersions(cluster.url);
        assert.deepEqual(rows.map((r) => `${r.version}_${r.name}.sql`), [
          `${fixtureVersion}_todos.sql`,
          ...installed,
        ]);
        for (const name of installed) {
          assert.match(output, new RegExp(`Applying migration ${name}`));
        }
        // What our migrations leave exists in the app's database.
        const objects = survivingObjects(
          ours.map((name) => ({
            name,
            content: Deno.readTextFileSync(`${ROOT}/supabase/migrations/${name}`),
          })),
        );
        assert.ok(objects.some((o) => o.object.label === "table public.profiles"));
        await withSql(cluster.url, async (sql) => {
          for (const { object } of objects) {
            const [row] = object.kind === "schema"
              ? await sql`select exists (select from pg_namespace where nspname = ${object.name}) as ok`
              : object.kind === "relation"
              ? await sql`select to_regclass(${`"${object.schema}"."${object.name}"`}) is not null as ok`
              : await sql`select exists (select from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                                        where n.nspname = ${object.schema} and p.proname = ${object.name}) as ok`;
            assert.ok(row.ok, `${object.label} is missing`);
          }
          const [todos] = await sql`select to_regclass('public.todos') is not null as ok`;
          assert.ok(todos.ok);
        });
      },
    );

    await t.step(
      "functions deploy uploads each graph with its deno.json; both answer from the app",
      async () => {
        const api = startManagementApiStandIn();
        const profile = `${work}/profile.json`;
        await Deno.writeTextFile(
          profile,
          JSON.stringify({
            name: "local",
            api_url: api.url,
            dashboard_url: api.url,
            project_host: "supabase.test",
          }),
        );
        try {
          await supabase(
            app,
            [
              "functions",
              "deploy",
              "clerk-webhook",
              "clerk-profile-sync",
              "--use-api",
              "--profile",
              profile,
              "--yes",
            ],
            {
              SUPABASE_PROJECT_ID: api.projectRef,
              SUPABASE_ACCESS_TOKEN: api.accessToken,
              HOME: work,
            },
          );
        } finally {
          await api.close();
        }
        const manifest = JSON.parse(await Deno.readTextFile(`${app}/supabase/clerk-sync.json`));
        for (const name of ["clerk-webhook", "clerk-profile-sync"]) {
          const deployed = deployment(api, name);
          assert.deepEqual(
            deployed.metadata.entrypoint_path,
            `supabase/functions/${name}/index.ts`,
          );
          assert.deepEqual(
            deployed.metadata.import_map_path,
            `supabase/functions/${name}/deno.json`,
          );
          assert.equal(deployed.metadata.verify_jwt, false);
          // Exactly the files add-to wrote for it, byte for byte.
          const mine = Object.keys(manifest.files).filter((p) =>
            p.startsWith(`supabase/functions/${name}/`) ||
            p.startsWith("supabase/functions/_clerk_sync/")
          );
          for (const [path, text] of deployed.files) {
            assert.equal(text, await Deno.readTextFile(`${app}/${path}`), path);
            assert.ok(mine.includes(path), `${path} uploaded but not written by add-to`);
          }
          const ownFiles = mine.filter((p) => p.startsWith(`supabase/functions/${name}/`));
          assert.deepEqual(
            [...deployed.files.keys()].filter((p) => ownFiles.includes(p)).sort(),
            ownFiles.sort(),
          );
        }

        // Served as deployed: the entrypoint with its deno.json as import map, from the app's folder.
        const stack = await startLocalStack({
          cluster,
          functionRun: (name) => {
            const { metadata } = deployment(api, name);
            return {
              args: [
                "run",
                "--allow-net",
                "--allow-env",
                "--no-lock",
                "--config",
                metadata.import_map_path!,
                metadata.entrypoint_path,
              ],
              cwd: app,
            };
          },
        });
        try {
          const userId = `user_addto${runId()}`;
          const created = userDelivery("user.created", userId, Date.now() - 1000, clerkId("msg"));
          const answer = await deliver(stack, created);
          assert.equal(answer.status, 200, answer.text);
          assert.equal(answer.body.status, "applied", answer.text);
          await withSql(cluster.url, async (sql) => {
            assert.equal((await snapshot(sql, userId)).profiles.length, 1);
          });
          const token = await mintSessionToken(stack.clerkSigningKey!, EXAMPLE_USER_ID);
          const visit = await post(stack.profileSyncUrl, {
            headers: { authorization: `Bearer ${token}` },
            body: "",
          });
          assert.equal(visit.status, 200, visit.text);
          assert.equal((visit.body.profile as Record<string, unknown>).user_id, EXAMPLE_USER_ID);
        } finally {
          await stack.close();
        }
      },
    );

    await t.step("a second run changes nothing, and says so", async () => {
      const files = await fileHashes(app);
      const run = await addTo(app);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^Nothing to do: /);
      assert.deepEqual(await fileHashes(app), files);
    });

    await t.step("an older version, upgraded, gets exactly the newer migrations", async () => {
      const older = `${work}/older`;
      const commit = await exportOlderVersion(older, ours);
      const olderMigrations = migrationNames(older);
      const newer = ours.filter((n) => !olderMigrations.includes(n));
      assert.ok(newer.length > 0, `${commit} has every migration`);

      const upgraded = `${work}/upgraded`;
      await writeFixture(upgraded, fixtureVersion);
      const first = await addTo(upgraded, "--from", older);
      assert.equal(first.code, 0, first.stderr);
      assert.match(
        first.stdout,
        /^Adding clerk-supabase-sync 0\.\d+\.\d+ \(not from a git checkout\)/,
      );
      await dbPush(upgraded, upgradeUrl);
      const pushedBefore = await appliedVersions(upgradeUrl);
      assert.equal(pushedBefore.length, 1 + olderMigrations.length);

      const migrationsBefore = await fileHashes(`${upgraded}/supabase/migrations`);
      const appFiles = await fileHashes(upgraded);
      const run = await addTo(upgraded);
      assert.equal(run.code, 0, run.stderr);
      assert.match(
        run.stdout,
        /^Upgrading clerk-supabase-sync in .*: 0\.\d+\.\d+ \(not from a git checkout\) -> /,
      );
      const listed = listedPaths(run.stdout);
      const added = listed.filter((p) => p.startsWith("supabase/migrations/"));
      assert.deepEqual(
        added.map((p) => suffix(p.slice("supabase/migrations/".length))),
        newer.map(suffix),
      );
      assert.ok(
        listed.some((p) => p.startsWith("supabase/functions/")),
        "no function code updated",
      );
      // Nothing else in migrations/ changed; the app's own files neither.
      const migrationsAfter = await fileHashes(`${upgraded}/supabase/migrations`);
      for (const [path, hash] of migrationsBefore) {
        assert.equal(migrationsAfter.get(path), hash, path);
      }
      const now = await fileHashes(upgraded);
      for (const [path, hash] of appFiles) {
        if (!listed.includes(path)) {
          assert.equal(now.get(path), hash, `${path} changed`);
        }
      }
      // The upgraded code is what a fresh install of this version writes.
      const fresh = await fileHashes(app);
      for (const dir of OUR_DIRS) {
        const pick = (m: Map<string, string>) => [...m].filter(([p]) => p.startsWith(dir)).sort();
        assert.deepEqual(pick(now), pick(fresh), dir);
      }
      const output = await dbPush(upgraded, upgradeUrl);
      const pushed = (await appliedVersions(upgradeUrl)).slice(pushedBefore.length);
      assert.deepEqual(
        pushed.map((r) => `${r.version}_${r.name}.sql`),
        added.map((p) => p.slice("supabase/migrations/".length)),
      );
      assert.doesNotMatch(output, /include-all/);
      const again = await addTo(upgraded);
      assert.match(again.stdout, /^Nothing to do: /);
    });
  } finally {
    await cluster.destroy();
    await Deno.remove(work, { recursive: true });
  }
});

/** The last upload of function `slug`: its metadata and each file's text by path. */
function deployment(
  api: ManagementApiStandIn,
  slug: string,
): { metadata: CapturedDeploy["metadata"]; files: Map<string, string> } {
  const upload = api.deploys.findLast((d) => d.slug === slug);
  assert.ok(upload, `${slug} was not deployed`);
  const decoder = new TextDecoder();
  return {
    metadata: upload.metadata,
    files: new Map(upload.files.map((f) => [f.name, decoder.decode(f.bytes)])),
  };
}
