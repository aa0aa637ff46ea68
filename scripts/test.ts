/**
 * The test command (`npm test`). Starts throwaway PostgreSQL clusters with the Supabase mirror and
 * the migrations: on PostgreSQL 15 and on 17 (what new Supabase projects get), each in both
 * default-privileges modes of a project (`none`, as projects created since 2026-10-30, and
 * `legacy`). Then:
 *
 * - pgTAP with pg_prove on all four; Supabase's own linter (`supabase db lint`, plpgsql_check) on
 *   15 (plpgsql_check and pg_cron have no build for 17 here);
 * - the development pass: every Deno suite on the development Deno (this one), PostgreSQL 15;
 * - beside it, the platform pass, on the hosted Edge Runtime's Deno 2.1 and PostgreSQL 17:
 *   `deno check` of the functions on 2.1, the functions' unit suites run by Deno 2.1 itself, and
 *   the end-to-end suites with every function process on Deno 2.1 (FUNCTION_DENO, see
 *   tests/support/function_deno.ts; the suites' own code runs on this Deno).
 *
 * It prints a line per suite and per runtime and ends with one line `N passed, N failed`.
 *
 * Every PostgreSQL server of the run, its own and those the suites start, inherits the run's
 * CLERK_SYNC_TEST_RUN mark in its environment. On SIGINT or SIGTERM (Ctrl-C reaches the whole
 * process group; a supervisor may signal this process alone), and when the parent process goes
 * away, it stops the suites it runs (each in a session of its own, so it decides when they end),
 * then every server carrying the mark, removes their data and exits 130 (SIGINT) or 143. A
 * server a suite left behind after a normal run is stopped the same way.
 *
 * Usage: deno run -A scripts/test.ts [test files or directories] [deno test flags]
 * (with files, each pass runs those of them it covers).
 */
import {
  PG_BINS,
  type PgCluster,
  type PgMajor,
  startCluster,
} from "../tests/support/pg_cluster.ts";
import { DENO_21_LOCK, DENO_21_PATH, functionDeno } from "../tests/support/function_deno.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DEV_DENO = Deno.execPath();
const SUPABASE = `${ROOT}node_modules/.bin/supabase`;
/** Created by the superuser in schema `extensions`, as the platform does (pgTAP for the suite). */
const TEST_EXTENSIONS: Record<PgMajor, string[]> = {
  15: ["pgtap", "plpgsql_check"],
  // No plpgsql_check build for 17 here: 06_plpgsql_check.sql skips, the linter runs on 15.
  17: ["pgtap"],
};
/** The schemas `supabase db lint` checks: every schema the migrations create functions in. */
const LINT_SCHEMAS = "public,clerk_sync,clerk_rls";
const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;
/** The environment variable that marks the run's PostgreSQL servers. */
const RUN_MARK = "CLERK_SYNC_TEST_RUN";
type StopSignal = typeof STOP_SIGNALS[number];

interface SuiteResult {
  name: string;
  /** Which tally of the per-runtime lines it counts in. */
  runtime: string;
  passed: number;
  failed: number;
  ok: boolean;
}

/** Thrown by {@linkcode spawn} once the run is stopping. */
class Interrupted extends Error {}

/** The processes the run waits on (each the leader of its own session) and why it stops. */
const run = {
  children: new Set<Deno.ChildProcess>(),
  signal: undefined as StopSignal | undefined,
  wake: () => {},
};
const interrupted = new Promise<void>((resolve) => run.wake = resolve);

function stopRun(signal: StopSignal, why: string): void {
  if (run.signal) return;
  run.signal = signal;
  log(`test command: ${why}; stopping the suites and every PostgreSQL server of the run ...`);
  for (const child of run.children) killGroup(child, "SIGTERM");
  run.wake();
}

async function main(): Promise<number> {
  const started = performance.now();
  // postgres keeps the environment pg_ctl started it with: the mark finds every server of the run.
  const mark = crypto.randomUUID();
  Deno.env.set(RUN_MARK, mark);
  const handlers = STOP_SIGNALS.map((signal) => {
    const handler = () => stopRun(signal, `${signal} received`);
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  const parent = Deno.ppid;
  const orphanWatch = setInterval(() => {
    if (Deno.ppid !== parent) stopRun("SIGTERM", "the parent process is gone");
  }, 500);

  const clusters = new Set<PgCluster>();
  const work = runSuites(clusters).then(
    (results) => ({ results, error: undefined }),
    (error: unknown) => ({ results: [], error }),
  );
  // Either the suites finish, or a signal stops them: then the suites get SIGTERM (stopRun), a
  // SIGKILL if they linger, and the clusters still starting are waited for (their start-up ends
  // on its own), so that the sweep below finds every server.
  const outcome = await Promise.race([work, interrupted.then(() => undefined)]);
  if (run.signal) {
    await Promise.race([work, delay(10_000)]);
    await waitForChildren(0);
    await work;
  }

  const errors: string[] = [];
  for (const cluster of clusters) await cluster.destroy().catch((e) => errors.push(String(e)));
  // What a suite left running (a suite stopped half-way cannot stop its own clusters).
  const leftover = await stopServersOfRun(mark, errors);
  clearInterval(orphanWatch);
  for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  for (const error of errors) log(`test command: cleanup: ${error}`);

  if (run.signal || !outcome) {
    log(
      `test command: stopped (${run.signal}); ${clusters.size + leftover} PostgreSQL server(s) ` +
        "stopped, the run's databases removed",
    );
    return run.signal === "SIGINT" ? 130 : 143;
  }
  if (leftover > 0) log(`test command: stopped ${leftover} PostgreSQL server(s) a suite left`);
  if (outcome.error !== undefined) {
    const error = outcome.error;
    log(`test command: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    console.log("0 passed, 1 failed");
    return 1;
  }
  const results = outcome.results;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  for (const r of results) {
    console.log(`${r.name}: ${r.passed} passed, ${r.failed} failed${r.ok ? "" : " (suite error)"}`);
  }
  const runtimes = [...new Set(results.map((r) => r.runtime))].map((runtime) => {
    const of = results.filter((r) => r.runtime === runtime);
    const passed = of.reduce((n, r) => n + r.passed, 0);
    const failed = of.reduce((n, r) => n + r.failed, 0);
    return `${runtime}: ${passed} passed, ${failed} failed`;
  });
  console.log(`per runtime: ${runtimes.join("; ")}`);
  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  const ok = results.every((r) => r.ok) && failed === 0 && errors.length === 0;
  console.log(`test command: ${seconds} s`);
  console.log(`${passed} passed, ${failed} failed`);
  return ok ? 0 : 1;
}

async function runSuites(clusters: Set<PgCluster>): Promise<SuiteResult[]> {
  const plan = planDenoSuites(Deno.args);
  if (!exists(`${PG_BINS[17]}/../share/postgresql/extension/pgtap.control`)) {
    throw new Error(`PostgreSQL 17 (${PG_BINS[17]}) has no pgTAP: run npm run setup`);
  }
  const keys = [[15, "none"], [15, "legacy"], [17, "none"], [17, "legacy"]] as const;
  const starts = await Promise.allSettled(keys.map(async ([major, defaultPrivileges]) => {
    const cluster = await startCluster({
      major,
      defaultPrivileges,
      extensions: TEST_EXTENSIONS[major],
    });
    clusters.add(cluster);
    return cluster;
  }));
  for (const s of starts) if (s.status === "rejected") throw s.reason;
  if (run.signal) throw new Interrupted();
  const [pg15, legacy15, pg17, legacy17] = starts.map((s) =>
    (s as PromiseFulfilledResult<PgCluster>).value
  );
  async function release(cluster: PgCluster): Promise<void> {
    if (clusters.delete(cluster)) await cluster.destroy();
  }

  // Side by side: four pg_prove runs and the linter take a few seconds of one core each. The
  // linter's probe goes into the legacy 15 cluster once its pgTAP run is over.
  const [tap15, legacy15Run, tap17, tapLegacy17, lintRun] = await Promise.all([
    runPgTap(pg15),
    runPgTap(legacy15).then(async (tap) => ({ tap, probe: await lintProbe(legacy15) })),
    runPgTap(pg17),
    runPgTap(legacy17),
    dbLint(pg15.url, LINT_SCHEMAS),
  ]);
  const lint = lintResult(lintRun, legacy15Run.probe);
  await Promise.all([release(legacy15), release(legacy17)]);
  const sql = [tap15, legacy15Run.tap, tap17, tapLegacy17, lint];
  for (const { output } of sql) await Deno.stdout.write(output);

  const [dev, platform] = await Promise.all([
    developmentPass(pg15, plan),
    platformPass(pg17, plan),
  ]);
  for (const { output } of [...dev, ...platform]) await Deno.stdout.write(output);
  return [...sql, ...dev, ...platform].map((c) => c.result);
}

interface DenoPlan {
  /** What the development pass runs: the arguments as given, else `tests/`. */
  all: string[];
  /** Test files of the functions' unit suites (run by Deno 2.1 itself). */
  unit: string[];
  /** Test files that start function processes (run with FUNCTION_DENO = Deno 2.1). */
  e2e: string[];
  /** `deno test` flags among the arguments. */
  flags: string[];
}

/**
 * Which suites the platform pass runs, from their imports: a top-level test that imports function
 * code (or the profile-sync rig, which runs it in-process) is a unit suite, unless it tests the
 * backfill CLI or a script (which run on the developer's Deno); an end-to-end or browser test that starts
 * the functions (tests/support/local_stack.ts or function_deno.ts) runs them on 2.1.
 */
function planDenoSuites(args: string[]): DenoPlan {
  const flags = args.filter((a) => a.startsWith("-"));
  const paths = args.filter((a) => !a.startsWith("-"));
  const files = (paths.length ? paths : ["tests/"]).flatMap((p) => testFiles(p)).sort();
  const read = (file: string) => Deno.readTextFileSync(`${ROOT}${file}`);
  const unit = files.filter((f) => {
    if (!/^tests\/[^/]+_test\.ts$/.test(f)) return false;
    const text = read(f);
    return /from "(\.\.\/supabase\/functions\/|\.\/support\/profile_sync_rig\.ts)/.test(text) &&
      !/from "\.\.\/(backfill|scripts)\//.test(text);
  });
  const e2e = files.filter((f) =>
    /^tests\/(e2e|browser)\//.test(f) &&
    /support\/(local_stack|function_deno)\.ts/.test(read(f))
  );
  return { all: paths.length ? args : ["tests/", ...flags], unit, e2e, flags };
}

// The test files at `path` (a file or a directory), as paths from the root.
function testFiles(path: string): string[] {
  const rel = path.replace(/^\.\//, "").replace(/\/$/, "");
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(`${ROOT}${rel}`);
  } catch {
    return [];
  }
  if (info.isFile) return [rel];
  return [...Deno.readDirSync(`${ROOT}${rel}`)].flatMap((e) =>
    e.isDirectory
      ? testFiles(`${rel}/${e.name}`)
      : /_test\.(ts|tsx|js|mjs)$/.test(e.name)
      ? [`${rel}/${e.name}`]
      : []
  );
}

interface Captured {
  result: SuiteResult;
  output: Uint8Array;
}

/** Every Deno suite on this Deno, PostgreSQL 15, function processes on this Deno too. */
async function developmentPass(cluster: PgCluster, plan: DenoPlan): Promise<Captured[]> {
  const runtime = `Deno ${Deno.version.deno}`;
  return [
    await runDeno(`${runtime}, every suite, PostgreSQL ${cluster.major}`, runtime, DEV_DENO, [
      "test",
      "--allow-all",
      "--frozen",
      ...plan.all,
    ], { DATABASE_URL: cluster.url, PG_MAJOR: String(cluster.major), FUNCTION_DENO: "" }),
  ];
}

/** The functions on the Edge Runtime's Deno 2.1, PostgreSQL 17. */
async function platformPass(cluster: PgCluster, plan: DenoPlan): Promise<Captured[]> {
  let deno21;
  try {
    deno21 = functionDeno(DENO_21_PATH);
  } catch (error) {
    const name = "Deno 2.1 (platform pass)";
    const text = `not ok 1 - ${name}: ${error instanceof Error ? error.message : error}\n` +
      "(npm ci installs it: package.json optionalDependencies deno21-linux-x64-glibc)\n";
    return [{
      result: { name, runtime: "Deno 2.1", passed: 0, failed: 1, ok: false },
      output: concat(`\n== ${name}\n`, text),
    }];
  }
  const runtime = `Deno ${deno21.version}`;
  const lock = [`--lock=${DENO_21_LOCK}`, "--frozen"];
  const env = {
    ...deno21.env,
    DATABASE_URL: cluster.url,
    PG_MAJOR: String(cluster.major),
    FUNCTION_DENO: deno21.path,
  };
  const results = [await denoCheck(runtime, deno21.path, lock, env)];
  if (plan.unit.length) {
    results.push(
      await runDeno(
        `${runtime}, the functions' unit suites, PostgreSQL ${cluster.major}`,
        runtime,
        deno21.path,
        // Type-checked by the development pass; 2.1's TypeScript 5.6 lacks what tests/support uses.
        ["test", "--allow-all", "--no-check", ...lock, ...plan.flags, ...plan.unit],
        env,
      ),
    );
  }
  if (plan.e2e.length) {
    results.push(
      await runDeno(
        `${runtime} function processes, end-to-end suites, PostgreSQL ${cluster.major}`,
        runtime,
        DEV_DENO,
        // The suites themselves run on this Deno (checked by the development pass).
        ["test", "--allow-all", "--frozen", "--no-check", ...plan.flags, ...plan.e2e],
        env,
      ),
    );
  }
  return results;
}

/** `deno check` of every function on Deno 2.1: one test, with its report when it fails. */
async function denoCheck(
  runtime: string,
  deno: string,
  lock: string[],
  env: Record<string, string>,
): Promise<Captured> {
  const entrypoints = [...Deno.readDirSync(`${ROOT}supabase/functions`)]
    .filter((e) => e.isDirectory && !e.name.startsWith("_"))
    .map((e) => `supabase/functions/${e.name}/index.ts`)
    .filter((path) => exists(`${ROOT}${path}`))
    .sort();
  const name = `${runtime}, deno check of the functions`;
  const output = await spawn(deno, ["check", "--quiet", ...lock, ...entrypoints], {
    env: { ...env, NO_COLOR: "1" },
  });
  const text = (decode(output.stdout) + decode(output.stderr)).trim();
  const line = output.success
    ? `ok 1 - ${runtime}: deno check ${entrypoints.join(" ")}\n`
    : `not ok 1 - ${runtime}: deno check ${
      entrypoints.join(" ")
    } (exit ${output.code}):\n${text}\n`;
  return {
    result: {
      name,
      runtime,
      passed: output.success ? 1 : 0,
      failed: output.success ? 0 : 1,
      ok: true,
    },
    output: concat(`\n== ${name}\n`, line),
  };
}

/** pg_prove as `postgres`, as `supabase test db` runs the suite on a project. */
async function runPgTap(cluster: PgCluster): Promise<Captured> {
  const dir = `${ROOT}supabase/tests/database`;
  const files = [...Deno.readDirSync(dir)]
    .filter((e) => e.isFile && e.name.endsWith(".sql"))
    .map((e) => `${dir}/${e.name}`)
    .sort();
  const name =
    `pgTAP, PostgreSQL ${cluster.major} (default privileges: ${cluster.defaultPrivileges})`;
  const output = await spawn("pg_prove", ["--verbose", "--dbname", cluster.url, ...files], {
    env: { PGOPTIONS: "-c search_path=public,extensions -c client_min_messages=warning" },
  });
  const text = decode(output.stdout);
  const passed = text.match(/^\s*ok \d+/gm)?.length ?? 0;
  const failed = text.match(/^\s*not ok \d+/gm)?.length ?? 0;
  return {
    result: { name, runtime: "SQL", passed, failed, ok: output.success },
    output: concat(`\n== ${name}\n`, output.stdout, output.stderr),
  };
}

/**
 * Supabase's own linter (plpgsql_check) on the migrated schema, as `postgres`: one test, failed by
 * any warning, with the linter's report shown. It counts only if the linter, in the same run,
 * reported a known bad function in its probe ({@linkcode lintProbe}).
 */
function lintResult(lint: LintRun, probe: LintRun): Captured {
  const name = "supabase db lint, PostgreSQL 15";
  const caught = !probe.success && /too many attributes/.test(probe.text);
  const passed = lint.success && caught;
  const command = `supabase db lint --schema ${LINT_SCHEMAS} --fail-on warning`;
  const line = passed
    ? `ok 1 - ${command} finds nothing\n`
    : !lint.success
    ? `not ok 1 - ${command} (exit ${lint.code}):\n`
    : `not ok 1 - supabase db lint missed the bad function of its probe:\n`;
  const report = passed ? "" : !lint.success ? lint.text : probe.text;
  return {
    result: { name, runtime: "SQL", passed: passed ? 1 : 0, failed: passed ? 0 : 1, ok: true },
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
  const output = await spawn(SUPABASE, [
    "db",
    "lint",
    `--remote=${bare}?sslmode=disable`,
    "--schema",
    schemas,
    "--fail-on",
    "warning",
    "--workdir",
    ROOT,
  ], { env: { PGPASSWORD: password, NO_COLOR: "1" } });
  const text = (decode(output.stdout) + decode(output.stderr)).trim();
  return { success: output.success, code: output.code, text };
}

async function psql(url: string, sql: string): Promise<void> {
  const { bare, password } = splitUrl(url);
  const output = await spawn("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", bare], {
    env: { PGPASSWORD: password },
    stdin: sql,
  });
  if (!output.success) throw new Error(`psql failed: ${decode(output.stderr)}`);
}

function splitUrl(url: string): { bare: string; password: string } {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = "";
  return { bare: parsed.toString(), password };
}

async function runDeno(
  name: string,
  runtime: string,
  deno: string,
  args: string[],
  env: Record<string, string>,
): Promise<Captured> {
  const output = await spawn(deno, args, {
    env: { ...env, NO_COLOR: "1" },
    stderr: "inherit",
  });
  const text = decode(output.stdout);
  const summary = text.match(/^(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/m);
  const result = summary
    ? { name, runtime, passed: Number(summary[1]), failed: Number(summary[2]), ok: output.success }
    : { name, runtime, passed: 0, failed: 1, ok: false };
  return { result, output: concat(`\n== ${name}\n`, output.stdout) };
}

interface SpawnOptions {
  env?: Record<string, string>;
  stdin?: string;
  stderr?: "piped" | "inherit";
}

/**
 * Runs `command` to completion in a session of its own (setsid), from the root: a Ctrl-C reaches
 * only this process, which ends the suites through {@linkcode stopRun} (the whole session of
 * each: a suite's function processes with it).
 */
async function spawn(
  command: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<Deno.CommandOutput> {
  if (run.signal) throw new Interrupted();
  const child = new Deno.Command("setsid", {
    args: [command, ...args],
    cwd: ROOT,
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: options.stderr ?? "piped",
  }).spawn();
  run.children.add(child);
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin));
      await writer.close();
    }
    const output = await child.output();
    if (run.signal) throw new Interrupted();
    return output;
  } finally {
    run.children.delete(child);
  }
}

// setsid(1) execs in place (a spawned child leads no group yet): the pid is the session's id.
function killGroup(child: Deno.ChildProcess, signal: Deno.Signal): void {
  for (const target of [-child.pid, child.pid]) {
    try {
      Deno.kill(target, signal);
    } catch {
      // Gone already.
    }
  }
}

async function waitForChildren(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (run.children.size > 0 && Date.now() < deadline) await delay(50);
  for (const child of run.children) killGroup(child, "SIGKILL");
}

/**
 * Stops every postmaster carrying the run's mark (fast shutdown, SIGINT; SIGQUIT after 10 s),
 * waits for them to end and removes their clusters' directories; returns how many there were.
 */
async function stopServersOfRun(mark: string, errors: string[]): Promise<number> {
  const servers = markedPostmasters(mark);
  for (const { pid } of servers) signalPid(pid, "SIGINT");
  const deadline = Date.now() + 10_000;
  const running = () => markedPostmasters(mark).length > 0;
  while (running() && Date.now() < deadline) await delay(50);
  for (const { pid } of markedPostmasters(mark)) signalPid(pid, "SIGQUIT");
  while (running() && Date.now() < deadline + 5_000) await delay(50);
  for (const { dataDir } of servers) {
    // pg_cluster.ts: <TMPDIR>/clerk-sync-pg-*/data.
    const clusterDir = dataDir.replace(/\/data\/?$/, "");
    if (!/\/clerk-sync-pg-[^/]+$/.test(clusterDir)) continue;
    await Deno.remove(clusterDir, { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) errors.push(String(error));
    });
  }
  return servers.length;
}

// A postmaster keeps its command line (`postgres -D <data> ...`); its children rewrite theirs.
function markedPostmasters(mark: string): { pid: number; dataDir: string }[] {
  const found: { pid: number; dataDir: string }[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let args: string[];
    let env: string[];
    try {
      args = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      if (!args[0].endsWith("/postgres") || !args.includes("-D")) continue;
      env = Deno.readTextFileSync(`/proc/${entry.name}/environ`).split("\0");
    } catch {
      continue; // ended meanwhile, or not ours to read
    }
    if (env.includes(`${RUN_MARK}=${mark}`)) {
      found.push({ pid: Number(entry.name), dataDir: args[args.indexOf("-D") + 1] });
    }
  }
  return found;
}

function signalPid(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // Ended meanwhile.
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function log(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`${line}\n`));
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
