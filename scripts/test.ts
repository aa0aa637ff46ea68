/**
 * The test command (`npm test`): starts two throwaway PostgreSQL 15 clusters with the Supabase
 * mirror and the migrations, one per default-privileges mode of a Supabase project (`none`, as
 * projects created since 2026-10-30, and `legacy`), runs the pgTAP suite with pg_prove on both,
 * Supabase's own linter (`supabase db lint`, plpgsql_check) and the Deno suites on `none`,
 * removes the clusters, and ends with one line `N passed, N failed` over every suite.
 *
 * Usage: deno run -A scripts/test.ts [deno test filter args...]
 */
import { type PgCluster, startCluster } from "../tests/support/pg_cluster.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DENO = Deno.execPath();
const SUPABASE = `${ROOT}node_modules/.bin/supabase`;
/** Created by the superuser in schema `extensions`, as the platform does (pgTAP for the suite). */
const TEST_EXTENSIONS = ["pgtap", "plpgsql_check"];
/** The schemas `supabase db lint` checks: every schema the migrations create functions in. */
const LINT_SCHEMAS = "public,clerk_sync,clerk_rls";

interface SuiteResult {
  name: string;
  passed: number;
  failed: number;
  ok: boolean;
}

async function main(): Promise<number> {
  const started = performance.now();
  const starts = await Promise.allSettled([
    startCluster({ defaultPrivileges: "none", extensions: TEST_EXTENSIONS }),
    startCluster({ defaultPrivileges: "legacy", extensions: TEST_EXTENSIONS }),
  ]);
  const live = new Set(starts.flatMap((c) => c.status === "fulfilled" ? [c.value] : []));
  async function release(cluster: PgCluster): Promise<void> {
    if (live.delete(cluster)) await cluster.destroy();
  }
  const results: SuiteResult[] = [];
  try {
    for (const c of starts) if (c.status === "rejected") throw c.reason;
    const [none, legacy] = [...live];
    // Side by side: two pg_prove runs and the linter take a few seconds of one core each. The
    // linter's probe goes into the legacy cluster once its pgTAP run is over.
    const [tapNone, legacyRun, lintRun] = await Promise.all([
      runPgTap(none),
      runPgTap(legacy).then(async (tap) => ({ tap, probe: await lintProbe(legacy) })),
      dbLint(none.url, LINT_SCHEMAS),
    ]);
    const tapLegacy = legacyRun.tap;
    const lint = lintResult(lintRun, legacyRun.probe);
    await release(legacy);
    for (const { output } of [tapNone, tapLegacy, lint]) await Deno.stdout.write(output);
    results.push(tapNone.result, tapLegacy.result, lint.result);
    results.push(await runDeno(none.url, Deno.args));
  } finally {
    for (const cluster of [...live]) await release(cluster);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  for (const r of results) {
    console.log(`${r.name}: ${r.passed} passed, ${r.failed} failed${r.ok ? "" : " (suite error)"}`);
  }
  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  const ok = results.every((r) => r.ok) && failed === 0;
  console.log(`test command: ${seconds} s`);
  console.log(`${passed} passed, ${failed} failed`);
  return ok ? 0 : 1;
}

interface Captured {
  result: SuiteResult;
  output: Uint8Array;
}

/** pg_prove as `postgres`, as `supabase test db` runs the suite on a project. */
async function runPgTap(cluster: PgCluster): Promise<Captured> {
  const dir = `${ROOT}supabase/tests/database`;
  const files = [...Deno.readDirSync(dir)]
    .filter((e) => e.isFile && e.name.endsWith(".sql"))
    .map((e) => `${dir}/${e.name}`)
    .sort();
  const name = `pgTAP (default privileges: ${cluster.defaultPrivileges})`;
  const output = await new Deno.Command("pg_prove", {
    args: ["--verbose", "--dbname", cluster.url, ...files],
    env: { PGOPTIONS: "-c search_path=public,extensions -c client_min_messages=warning" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const passed = text.match(/^\s*ok \d+/gm)?.length ?? 0;
  const failed = text.match(/^\s*not ok \d+/gm)?.length ?? 0;
  return {
    result: { name, passed, failed, ok: output.success },
    output: concat(`\n== ${name}\n`, output.stdout, output.stderr),
  };
}

/**
 * Supabase's own linter (plpgsql_check) on the migrated schema, as `postgres`: one test, failed by
 * any warning, with the linter's report shown. It counts only if the linter, in the same run,
 * reported a known bad function in its probe ({@linkcode lintProbe}).
 */
function lintResult(lint: LintRun, probe: LintRun): Captured {
  const name = "supabase db lint";
  const caught = !probe.success && /too many attributes/.test(probe.text);
  const passed = lint.success && caught;
  const line = passed
    ? `ok 1 - ${name} --schema ${LINT_SCHEMAS} --fail-on warning finds nothing\n`
    : !lint.success
    ? `not ok 1 - ${name} --schema ${LINT_SCHEMAS} --fail-on warning (exit ${lint.code}):\n`
    : `not ok 1 - ${name} missed the bad function of its probe:\n`;
  const report = passed ? "" : !lint.success ? lint.text : probe.text;
  return {
    result: { name, passed: passed ? 1 : 0, failed: passed ? 0 : 1, ok: true },
    output: concat(`\n== ${name}\n`, line, report ? `${report}\n` : ""),
  };
}

/**
 * The linter on a scratch schema of `cluster` (one nothing else uses by then) holding a function
 * it must report: a `select ... into` with more columns than variables.
 */
async function lintProbe(cluster: PgCluster): Promise<LintRun> {
  await psql(cluster.url, LINT_PROBE_SQL);
  return await dbLint(cluster.url, "lint_probe");
}

const LINT_PROBE_SQL = `
create schema lint_probe;
create function lint_probe.too_many_columns() returns integer
language plpgsql set search_path = '' as $$
declare a integer; b integer;
begin
  select 1, 2, 3 into a, b;
  return a + b;
end $$;`;

interface LintRun {
  success: boolean;
  code: number;
  text: string;
}

async function dbLint(url: string, schemas: string): Promise<LintRun> {
  const { bare, password } = splitUrl(url);
  const output = await new Deno.Command(SUPABASE, {
    args: [
      "db",
      "lint",
      "--db-url",
      `${bare}?sslmode=disable`,
      "--schema",
      schemas,
      "--fail-on",
      "warning",
      "--workdir",
      ROOT,
    ],
    env: { PGPASSWORD: password, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const text = (decoder.decode(output.stdout) + decoder.decode(output.stderr)).trim();
  return { success: output.success, code: output.code, text };
}

async function psql(url: string, sql: string): Promise<void> {
  const { bare, password } = splitUrl(url);
  const child = new Deno.Command("psql", {
    args: ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", bare],
    env: { PGPASSWORD: password },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(sql));
  await writer.close();
  const output = await child.output();
  if (!output.success) throw new Error(`psql failed: ${new TextDecoder().decode(output.stderr)}`);
}

function splitUrl(url: string): { bare: string; password: string } {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = "";
  return { bare: parsed.toString(), password };
}

async function runDeno(url: string, extra: string[]): Promise<SuiteResult> {
  const output = await new Deno.Command(DENO, {
    args: ["test", "--allow-all", "--frozen", ...(extra.length ? extra : ["tests/"])],
    cwd: ROOT,
    env: { DATABASE_URL: url, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "inherit",
  }).output();
  await Deno.stdout.write(output.stdout);
  const text = new TextDecoder().decode(output.stdout);
  const summary = text.match(/^(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/m);
  if (!summary) return { name: "Deno", passed: 0, failed: 1, ok: false };
  return {
    name: "Deno",
    passed: Number(summary[1]),
    failed: Number(summary[2]),
    ok: output.success,
  };
}

function concat(...parts: (string | Uint8Array)[]): Uint8Array {
  const bytes = parts.map((p) => typeof p === "string" ? new TextEncoder().encode(p) : p);
  const out = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bytes) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

Deno.exit(await main());
