/**
 * The test command (`npm test`): starts a throwaway PostgreSQL 15 cluster with the Supabase
 * mirror and the migrations, runs the pgTAP suite with pg_prove and the Deno suites against it,
 * removes the cluster, and ends with one line `N passed, N failed` over every suite.
 *
 * Usage: deno run -A scripts/test.ts [deno test filter args...]
 */
import { startCluster } from "../tests/support/pg_cluster.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DENO = Deno.execPath();

interface SuiteResult {
  name: string;
  passed: number;
  failed: number;
  ok: boolean;
}

async function main(): Promise<number> {
  const started = performance.now();
  const cluster = await startCluster();
  const results: SuiteResult[] = [];
  try {
    results.push(await runPgTap(cluster.url));
    results.push(await runDeno(cluster.url, Deno.args));
  } finally {
    await cluster.destroy();
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

async function runPgTap(url: string): Promise<SuiteResult> {
  const dir = `${ROOT}supabase/tests/database`;
  const files = [...Deno.readDirSync(dir)]
    .filter((e) => e.isFile && e.name.endsWith(".sql"))
    .map((e) => `${dir}/${e.name}`)
    .sort();
  const output = await new Deno.Command("pg_prove", {
    args: ["--verbose", "--dbname", url, ...files],
    env: { PGOPTIONS: "-c search_path=public,extensions" },
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  await Deno.stdout.write(output.stdout);
  const passed = text.match(/^\s*ok \d+/gm)?.length ?? 0;
  const failed = text.match(/^\s*not ok \d+/gm)?.length ?? 0;
  return { name: "pgTAP", passed, failed, ok: output.success };
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

Deno.exit(await main());
