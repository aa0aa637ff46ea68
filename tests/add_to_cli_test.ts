// runAddTo(): the command's arguments, messages and exit codes on small projects in temp
// folders (in-process; tests/e2e/add_to_test.ts runs it through npm with the real Supabase CLI).
import assert from "node:assert/strict";
import { ApplyError, applyPlan } from "../scripts/add_to/apply.ts";
import { type AddToIo, EXIT, runAddTo } from "../scripts/add_to/cli.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

async function project(files: Record<string, string> = {}): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "clerk-sync-add-to-cli-" });
  const all = { "supabase/config.toml": 'project_id = "app"\n', ...files };
  for (const [path, content] of Object.entries(all)) {
    await Deno.mkdir(`${dir}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/${path}`, content);
  }
  return dir;
}

async function run(argv: string[], cwd = ROOT) {
  const out: string[] = [];
  const err: string[] = [];
  const io: AddToIo = {
    argv,
    cwd,
    defaultSource: ROOT,
    stdout: (line) => out.push(line),
    stderr: (line) => err.push(line),
    now: () => new Date("2026-12-07T10:00:00Z"),
  };
  const code = await runAddTo(io);
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) {
      out.push(...(await listing(`${dir}/${e.name}`)).map((p) => `${e.name}/${p}`));
    } else out.push(e.name);
  }
  return out.sort();
}

Deno.test("add-to: usage errors exit 2 with the usage, --help exits 0", async () => {
  for (const argv of [[], ["a", "b"], ["--bogus", "a"], ["--from"]]) {
    const r = await run(argv);
    assert.equal(r.code, EXIT.usage, argv.join(" "));
    assert.match(r.stderr, /^add-to: .*\n\nusage: npm run add-to -- <your-project>/);
  }
  const help = await run(["--help"]);
  assert.equal(help.code, EXIT.ok);
  assert.match(help.stdout, /^usage: /);
  assert.match(help.stdout, /Exit codes: 0 done/);
});

Deno.test("add-to: a folder without supabase/config.toml exits 2 and names it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await run([dir]);
    assert.equal(r.code, EXIT.usage);
    assert.equal(
      r.stderr,
      `add-to: ${dir} has no supabase/config.toml: give the folder that holds your supabase/ (or run \`supabase init\` there first)`,
    );
    const missing = await run([`${dir}/nope`]);
    assert.equal(missing.code, EXIT.usage);
    assert.match(missing.stderr, /is not a directory/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("add-to: --from a folder that is not clerk-supabase-sync exits 2", async () => {
  const dir = await project();
  try {
    const r = await run([dir, "--from", dir]);
    assert.equal(r.code, EXIT.usage);
    assert.match(r.stderr, /is not a clerk-supabase-sync tree/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("add-to: a refusal exits 1, names each file, and writes nothing (also with --dry-run)", async () => {
  const dir = await project({
    "supabase/config.toml": 'project_id = "app"\n[functions.clerk-webhook]\nverify_jwt = true\n',
    "supabase/migrations/20261201000000_init.sql":
      "create table public.profiles (id uuid primary key);\n",
    "supabase/functions/_clerk_sync/mine.ts": "export {};\n",
  });
  try {
    const before = await listing(dir);
    for (const argv of [[dir], [dir, "--dry-run"]]) {
      const r = await run(argv);
      assert.equal(r.code, EXIT.refused);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /^add-to: refused, nothing written/);
      assert.match(
        r.stderr,
        /\n {2}supabase\/migrations\/20261201000000_init\.sql: creates table public\.profiles, .*"Adopting an existing profiles table"/,
      );
      assert.match(
        r.stderr,
        /\n {2}supabase\/config\.toml: already has \[functions\.clerk-webhook\]/,
      );
      assert.match(
        r.stderr,
        /\n {2}supabase\/functions\/_clerk_sync\/mine\.ts: exists and was not written by add-to/,
      );
      assert.deepEqual(await listing(dir), before);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("add-to: a relative path starts from the caller's folder; the dry run writes nothing, the run writes what it listed", async () => {
  const dir = await project();
  try {
    const parent = dir.slice(0, dir.lastIndexOf("/"));
    const relative = dir.slice(parent.length + 1);
    const dry = await run([relative, "--dry-run"], parent);
    assert.equal(dry.code, EXIT.ok, dry.stderr);
    assert.deepEqual(await listing(dir), ["supabase/config.toml"]);
    const listed = [...dry.stdout.matchAll(/^ {2}(?:create|append) {2}(\S+)/gm)].map((m) => m[1]);
    const real = await run([relative], parent);
    assert.equal(real.code, EXIT.ok, real.stderr);
    assert.deepEqual(
      await listing(dir),
      [...listed].sort(),
    );
    assert.match(
      real.stdout,
      /\nDone \(\d+ files: \d+ created, 1 changed\)\. Next, from the folder that holds supabase\/:\n {2}supabase db push/,
    );
    const again = await run([dir]);
    assert.equal(again.code, EXIT.ok);
    assert.match(again.stdout, /^Nothing to do: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("applyPlan() stops at a file changed since planning, listing what it wrote", async () => {
  const dir = await project({ "supabase/functions/x/a.ts": "mine\n" });
  try {
    const error = await applyPlan(dir, [
      { kind: "create", path: "supabase/functions/y/b.ts", content: "b\n", before: null },
      { kind: "update", path: "supabase/functions/x/a.ts", content: "new\n", before: "old\n" },
    ]).then(() => null, (e) => e);
    assert.ok(error instanceof ApplyError);
    assert.equal(error.message, "supabase/functions/x/a.ts changed while add-to ran");
    assert.deepEqual(error.done.map((op) => op.path), ["supabase/functions/y/b.ts"]);
    assert.equal(await Deno.readTextFile(`${dir}/supabase/functions/x/a.ts`), "mine\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("add-to: a write that fails part-way exits 3 and lists what was written", async () => {
  const dir = await project();
  try {
    // supabase/functions is a file: the first write under it fails.
    await Deno.writeTextFile(`${dir}/supabase/functions`, "");
    const r = await run([dir]);
    assert.equal(r.code, EXIT.failed);
    assert.match(
      r.stderr,
      /^add-to: could not create supabase\/functions\/_clerk_sync\/[a-z_]+\.ts: .*; written before it:\nRun add-to again/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("add-to: a file name with control characters is shown escaped", async () => {
  const dir = await project({
    "supabase/migrations/20261201000000_\u001b[2Jinit.sql": "create table profiles (id uuid);\n",
  });
  try {
    const r = await run([dir]);
    assert.equal(r.code, EXIT.refused);
    assert.ok(!r.stderr.includes("\u001b"));
    assert.match(r.stderr, /20261201000000_\\u001b\[2Jinit\.sql: creates table public\.profiles/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
