// Start-up: from spawning `deno run` to the first 200 answer, for the function's entrypoint and
// for a bare Deno.serve, alternated in one run with dependencies cached; plus the module graph.
import { signedRequest } from "../tests/support/clerk_payloads.ts";
import { freePort } from "../tests/support/pg_cluster.ts";
import { median, type RatioSummary, summarizeRatios } from "./ratio.ts";
import { inheritedEnv, RUN_FLAGS } from "./server_process.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** The function's entrypoint, as the local stack runs it. */
export const ENTRYPOINT = "supabase/functions/clerk-webhook/index.ts";
const BARE_SERVER = "bench/bare_server.ts";

/** Start-up times in milliseconds, per repetition, their medians, and the per-pair ratios. */
export interface StartupResult {
  repetitions: number;
  functionMs: number[];
  bareMs: number[];
  functionMedianMs: number;
  bareMedianMs: number;
  /** Each pair's function start-up over the bare server's started just after it. */
  ratio: RatioSummary;
}

/** The entrypoint's module graph from `deno info --json`. */
export interface ModuleGraph {
  /** Local modules (the function's own files). */
  localModules: number;
  localBytes: number;
  /** npm packages reachable from the entrypoint, and the bytes of their files on disk. */
  npmPackages: number;
  npmBytes: number;
}

/**
 * Starts the entrypoint and the bare server `repetitions` times each (after one untimed start of
 * each), alternating, with the function's environment; each answers a signed session.created
 * (which the function answers 200 without touching the database).
 */
export async function measureStartup(
  env: Readonly<Record<string, string>>,
  webhookSecret: string,
  repetitions: number,
): Promise<StartupResult> {
  const functionMs: number[] = [];
  const bareMs: number[] = [];
  const body = JSON.stringify({ type: "session.created", object: "event", data: { id: "sess_1" } });
  for (let i = -1; i < repetitions; i++) {
    const fn = await timeToFirst200(ENTRYPOINT, env, webhookSecret, body);
    const bare = await timeToFirst200(BARE_SERVER, env, webhookSecret, body);
    if (i >= 0) {
      functionMs.push(fn);
      bareMs.push(bare);
    }
  }
  return {
    repetitions,
    functionMs,
    bareMs,
    functionMedianMs: median(functionMs),
    bareMedianMs: median(bareMs),
    ratio: summarizeRatios(functionMs.map((ms, i) => ms / bareMs[i])),
  };
}

/** Counts the entrypoint's modules and bytes with `deno info --json`. */
export async function moduleGraph(): Promise<ModuleGraph> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--frozen", `./${ENTRYPOINT}`],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) throw new Error(new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout));
  const local = info.modules.filter((m: { kind: string }) => m.kind === "esm");
  const packages = new Map<string, { dependencies: string[]; localPath: string }>(
    Object.entries(info.npmPackages),
  );
  const reachable = new Set<string>();
  const visit = (id: string) => {
    if (reachable.has(id)) return;
    reachable.add(id);
    packages.get(id)?.dependencies.forEach(visit);
  };
  for (const m of info.modules) if (m.kind === "npm") visit(m.npmPackage);
  let npmBytes = 0;
  for (const id of reachable) npmBytes += await directoryBytes(packages.get(id)?.localPath);
  return {
    localModules: local.length,
    localBytes: local.reduce((sum: number, m: { size: number }) => sum + m.size, 0),
    npmPackages: reachable.size,
    npmBytes,
  };
}

async function timeToFirst200(
  script: string,
  env: Readonly<Record<string, string>>,
  secret: string,
  body: string,
): Promise<number> {
  const port = freePort();
  const url = `http://127.0.0.1:${port}/functions/v1/clerk-webhook`;
  const start = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [...RUN_FLAGS, script],
    cwd: ROOT,
    clearEnv: true,
    env: { ...inheritedEnv(), DENO_NO_UPDATE_CHECK: "1", ...env, PORT: String(port) },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    for (;;) {
      const res = await fetch(signedRequest(url, secret, body)).catch(() => undefined);
      await res?.body?.cancel();
      if (res?.status === 200) return performance.now() - start;
      if (res) throw new Error(`${script} answered ${res.status}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

async function directoryBytes(path: string | undefined): Promise<number> {
  if (!path) return 0;
  let bytes = 0;
  for await (const entry of Deno.readDir(path)) {
    const full = `${path}/${entry.name}`;
    if (entry.isDirectory) bytes += await directoryBytes(full);
    else if (entry.isFile) bytes += (await Deno.stat(full)).size;
  }
  return bytes;
}
