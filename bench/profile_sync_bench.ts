// clerk-profile-sync benchmark (a benchmark, not a test): the real entrypoint as its own `deno run`
// process, with a throwaway PostgreSQL (migrated), the PostgREST stand-in served over HTTP and the
// Clerk API stand-in on loopback. Every figure is a ratio against a floor measured in the same run,
// pairs interleaved, reported as the median of the runs with their spread:
//   1. start-up to the first answer against a bare Deno.serve (bench/bare_server.ts), and what
//      dominates it (module load of @clerk/backend and supabase-js, measured alone);
//   2. the module graph: the npm packages the entrypoint loads (never svix);
//   3. per call, for a `recent` answer and an `applied` one: the function process's CPU against
//      the bare server's per request, and latency against the same work done without the
//      function (the RPC alone; Clerk's getUser plus the RPC);
//   4. Clerk API requests per 1,000 calls in a reload storm, in both key modes.
//
// Run alone: deno run -A --frozen bench/profile_sync_bench.ts [--runs N]
// From `npm run bench`: import { runProfileSyncBench, formatProfileSyncReport }.
import { verifyToken } from "@clerk/backend";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { toProfile } from "../supabase/functions/_shared/clerk_user.ts";
import {
  type ClerkApiStandIn,
  fakeClerkUser,
  startClerkApiStandIn,
} from "../tests/support/clerk_api_stand_in.ts";
import {
  type ClerkSigningKey,
  generateSigningKey,
  mintSessionToken,
} from "../tests/support/clerk_session.ts";
import { roleJwt } from "../tests/support/jwt.ts";
import { freePort, type PgCluster, startCluster } from "../tests/support/pg_cluster.ts";
import {
  createPostgrestStandIn,
  type PostgrestStandIn,
} from "../tests/support/postgrest_stand_in.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** The function's entrypoint, as the local stack runs it. */
export const PROFILE_SYNC_ENTRYPOINT = "supabase/functions/clerk-profile-sync/index.ts";
const BARE_SERVER = "bench/bare_server.ts";
const FUNCTION_PATH = "/functions/v1/clerk-profile-sync";
// The local stack's command line (tests/support/local_stack.ts).
const RUN_FLAGS = ["run", "--allow-net", "--allow-env", "--frozen"];
const INHERITED_ENV = ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "NO_COLOR"];
const JWT_SECRET = "profile-sync-bench-jwt-secret-with-32-characters";

/** Options of {@linkcode runProfileSyncBench}. */
export interface ProfileSyncBenchOptions {
  /** Interleaved runs of every pair (at least 3; default 5). */
  runs?: number;
  /** `recent` calls per run (default 1000). */
  recentCalls?: number;
  /** `applied` calls per run, one new user each (default 300). */
  appliedCalls?: number;
  /** Users in a reload storm (default 20), each calling {@linkcode stormCallsPerUser} times. */
  stormUsers?: number;
  /** Calls per user in a reload storm (default 50: 1,000 calls with 20 users). */
  stormCallsPerUser?: number;
  /** Calls in flight during a reload storm (default 50). */
  stormConcurrency?: number;
  /** Progress lines (default to stderr). */
  progress?: (line: string) => void;
}

/** A figure over interleaved runs: each run's value, the median and the spread (bench/ratio.ts's shape). */
export interface Spread {
  runs: number[];
  median: number;
  min: number;
  max: number;
}

/** One kind of call (`recent` or `applied`), per run. */
export interface CallFigures {
  calls: number;
  /** Median latency of the function's calls (ms). */
  latencyMs: Spread;
  /** Median latency of the floor: the same work without the function (ms). */
  floorLatencyMs: Spread;
  /** latencyMs / floorLatencyMs, per run. */
  latencyRatio: Spread;
  /** 90th percentile latency of the function's calls (ms). */
  p90Ms: Spread;
  /** CPU of the function process per call (µs). */
  cpuMicros: Spread;
  /** cpuMicros / the bare server's CPU per request, per run. */
  cpuRatio: Spread;
}

/** Everything the benchmark measured. */
export interface ProfileSyncBenchResult {
  date: string;
  wallSeconds: number;
  runs: number;
  startup: {
    /** Spawn to the first answer (a preflight's 204) of the function (ms). */
    functionMs: Spread;
    /** Spawn to the first 200 of bench/bare_server.ts (ms). */
    bareMs: Spread;
    /** functionMs / bareMs, per run: the target is at most 1.5. */
    ratio: Spread;
    /** Spawn to the first 200 `recent` answer (token verified, database read) (ms). */
    firstRecentMs: Spread;
    /** Spawn to the first 200 of a bare server that only imports the SDKs (ms). */
    importsOnly: { clerkBackendMs: Spread; supabaseJsMs: Spread; bothMs: Spread };
  };
  moduleGraph: { localModules: number; npmPackages: string[]; loadsSvix: boolean };
  /** CPU per request of the bare server (µs), the CPU floor. */
  bareCpuMicros: Spread;
  /** `verifyToken` with CLERK_JWT_KEY alone, in this process, per token (µs): part of every call. */
  verifyTokenMicros: Spread;
  recent: CallFigures;
  applied: CallFigures;
  storm: {
    users: number;
    calls: number;
    concurrency: number;
    /** The fewest Clerk API requests possible: one getUser per user, one JWKS. */
    minimumPer1000: number;
    jwtKeyPer1000: Spread;
    secretKeyPer1000: Spread;
    /** Answers other than 200 across all storms (expected 0). */
    non200: number;
  };
}

/** The stack the benchmarks run the function against. */
export interface Services {
  cluster: PgCluster;
  postgrest: PostgrestStandIn;
  postgrestServer: Deno.HttpServer<Deno.NetAddr>;
  supabaseUrl: string;
  serviceKey: string;
  client: SupabaseClient;
  clerk: ClerkApiStandIn;
  key: ClerkSigningKey;
}

/** Runs every measurement (about a minute with the defaults) and returns the figures. */
export async function runProfileSyncBench(
  options: ProfileSyncBenchOptions = {},
): Promise<ProfileSyncBenchResult> {
  const runs = Math.max(3, options.runs ?? 5);
  const progress = options.progress ?? ((line: string) => console.error(line));
  const started = performance.now();
  const services = await startServices();
  try {
    progress(`start-up, ${runs} interleaved runs ...`);
    const startup = await measureStartup(services, runs);
    const moduleGraph = await readModuleGraph();
    progress(`per-call CPU and latency, ${runs} interleaved runs ...`);
    const calls = await measureCalls(
      services,
      runs,
      options.recentCalls ?? 1000,
      options.appliedCalls ?? 300,
    );
    progress(`reload storms, ${runs} per key mode ...`);
    const storm = await measureStorms(services, runs, {
      users: options.stormUsers ?? 20,
      perUser: options.stormCallsPerUser ?? 50,
      concurrency: options.stormConcurrency ?? 50,
    });
    return {
      date: new Date().toISOString(),
      wallSeconds: (performance.now() - started) / 1000,
      runs,
      startup,
      moduleGraph,
      ...calls,
      storm,
    };
  } finally {
    await stopServices(services);
  }
}

/** A migrated cluster, the PostgREST stand-in over HTTP and the Clerk API stand-in. */
export async function startServices(): Promise<Services> {
  const cluster = await startCluster();
  const postgrest = createPostgrestStandIn({
    databaseUrl: cluster.urlFor("authenticator"),
    jwtSecret: JWT_SECRET,
  });
  const postgrestServer = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      onListen() {},
      onError: () => new Response(null, { status: 500 }),
    },
    async (req) => {
      // Without the server's abort signal, as tests/support/local_stack.ts serves it.
      const body = req.body ? await req.arrayBuffer() : undefined;
      return postgrest.handler(
        new Request(req.url, { method: req.method, headers: req.headers, body }),
      );
    },
  );
  const supabaseUrl = `http://127.0.0.1:${postgrestServer.addr.port}`;
  const serviceKey = await roleJwt("service_role", JWT_SECRET, {}, 24 * 3600);
  const client = createClient(supabaseUrl, serviceKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
  const key = await generateSigningKey();
  const clerk = startClerkApiStandIn({ signingKeys: [key] });
  return { cluster, postgrest, postgrestServer, supabaseUrl, serviceKey, client, clerk, key };
}

/** Stops what {@linkcode startServices} started. */
export async function stopServices(s: Services): Promise<void> {
  await s.clerk.close();
  await s.postgrestServer.shutdown();
  await s.postgrest.close();
  await s.cluster.destroy();
}

/** The function's environment on `s`, in either key mode. */
export function functionEnv(
  s: Services,
  mode: "jwt-key" | "secret-key",
  intervalS = 3600,
): Record<string, string> {
  return {
    SUPABASE_URL: s.supabaseUrl,
    SUPABASE_SERVICE_ROLE_KEY: s.serviceKey,
    CLERK_SECRET_KEY: s.clerk.secretKey,
    CLERK_API_URL: s.clerk.url,
    PROFILE_SYNC_MIN_INTERVAL_S: String(intervalS),
    ...(mode === "jwt-key" ? { CLERK_JWT_KEY: s.key.pem } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// 1. Start-up

async function measureStartup(
  s: Services,
  runs: number,
): Promise<ProfileSyncBenchResult["startup"]> {
  const probes = await writeImportProbes();
  try {
    const userId = `user_benchstart${crypto.randomUUID().slice(0, 8)}`;
    s.clerk.put(fakeClerkUser(1, { fields: { id: userId } }));
    const token = await mintSessionToken(s.key, userId, { ttlSeconds: 3600 });
    const env = functionEnv(s, "jwt-key");
    const fn: number[] = [];
    const recent: number[] = [];
    const bare: number[] = [];
    const clerkOnly: number[] = [];
    const supabaseOnly: number[] = [];
    const both: number[] = [];
    // One untimed round first: compiled code and the npm cache are warm for every timed one.
    for (let i = -1; i < runs; i++) {
      const f = await startFunctionTimed(env, token);
      const b = await timeToFirst200(BARE_SERVER, {});
      const c = await timeToFirst200(probes.clerk, {}, probes.config);
      const p = await timeToFirst200(probes.supabase, {}, probes.config);
      const cp = await timeToFirst200(probes.both, {}, probes.config);
      if (i < 0) continue;
      fn.push(f.firstAnswerMs);
      recent.push(f.firstRecentMs);
      bare.push(b);
      clerkOnly.push(c);
      supabaseOnly.push(p);
      both.push(cp);
    }
    return {
      functionMs: spread(fn),
      bareMs: spread(bare),
      ratio: spread(fn.map((ms, i) => ms / bare[i])),
      firstRecentMs: spread(recent),
      importsOnly: {
        clerkBackendMs: spread(clerkOnly),
        supabaseJsMs: spread(supabaseOnly),
        bothMs: spread(both),
      },
    };
  } finally {
    await Deno.remove(probes.dir, { recursive: true });
  }
}

// Spawns the function; times its first answer (a preflight, 204) and its first `recent` 200.
async function startFunctionTimed(
  env: Record<string, string>,
  token: string,
): Promise<{ firstAnswerMs: number; firstRecentMs: number }> {
  const port = freePort();
  const url = `http://127.0.0.1:${port}${FUNCTION_PATH}`;
  const start = performance.now();
  const child = spawn(PROFILE_SYNC_ENTRYPOINT, { ...env, PORT: String(port) }, "null");
  try {
    await poll(() => fetch(url, { method: "OPTIONS" }), 204);
    const firstAnswerMs = performance.now() - start;
    const res = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    const body = await res.json();
    if (res.status !== 200) {
      throw new Error(`the function answered ${res.status} ${JSON.stringify(body)}`);
    }
    return { firstAnswerMs, firstRecentMs: performance.now() - start };
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

async function timeToFirst200(
  script: string,
  env: Record<string, string>,
  config?: string,
): Promise<number> {
  const port = freePort();
  const start = performance.now();
  const child = spawn(script, { ...env, PORT: String(port) }, "null", config);
  try {
    await poll(() => fetch(`http://127.0.0.1:${port}/`, { method: "POST" }), 200);
    return performance.now() - start;
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

// Bare servers that only import the SDKs the function loads, to see what its start-up is made of.
async function writeImportProbes() {
  const dir = await Deno.makeTempDir({ prefix: "profile-sync-probes-" });
  const serve = (value: string) =>
    `Deno.serve({ port: Number(Deno.env.get("PORT")), hostname: "127.0.0.1", onListen() {} }, ` +
    `() => new Response(String(${value})));\n`;
  const clerk = `import { createClerkClient, verifyToken } from "@clerk/backend";\n` +
    `const clerk = createClerkClient({ secretKey: "sk_test_probe", telemetry: { disabled: true } });\n`;
  const supabase = `import { createClient } from "@supabase/supabase-js";\n` +
    `const client = createClient("http://127.0.0.1:1", "key", { auth: { persistSession: false } });\n`;
  const files = {
    clerk: `${dir}/clerk_backend.ts`,
    supabase: `${dir}/supabase_js.ts`,
    both: `${dir}/both.ts`,
  };
  await Deno.writeTextFile(files.clerk, clerk + serve("typeof verifyToken + typeof clerk"));
  await Deno.writeTextFile(files.supabase, supabase + serve("typeof client"));
  await Deno.writeTextFile(
    files.both,
    clerk + supabase + serve("typeof verifyToken + typeof clerk + typeof client"),
  );
  return { dir, config: `${ROOT}deno.json`, ...files };
}

async function readModuleGraph(): Promise<ProfileSyncBenchResult["moduleGraph"]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--frozen", `./${PROFILE_SYNC_ENTRYPOINT}`],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) throw new Error(new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout));
  const packages = new Map<string, { name: string; dependencies: string[] }>(
    Object.entries(info.npmPackages),
  );
  const reachable = new Set<string>();
  const visit = (id: string) => {
    if (reachable.has(id)) return;
    reachable.add(id);
    packages.get(id)?.dependencies.forEach(visit);
  };
  for (const m of info.modules) if (m.kind === "npm") visit(m.npmPackage);
  const names = [...reachable].map((id) => packages.get(id)?.name ?? id).sort();
  return {
    localModules: info.modules.filter((m: { kind: string }) => m.kind === "esm").length,
    npmPackages: names,
    loadsSvix: names.some((name) => name === "svix" || name.startsWith("svix@")),
  };
}

// ---------------------------------------------------------------------------------------------
// 3. Per-call CPU and latency

async function measureCalls(s: Services, runs: number, recentCalls: number, appliedCalls: number) {
  const fn = await startFunction(functionEnv(s, "jwt-key"));
  const barePort = freePort();
  const bare = spawn(BARE_SERVER, { PORT: String(barePort) }, "null");
  try {
    await poll(() => fetch(`http://127.0.0.1:${barePort}/`, { method: "POST" }), 200);
    const prefix = `user_benchcall${crypto.randomUUID().slice(0, 6)}`;
    const recentUser = `${prefix}r`;
    s.clerk.put(fakeClerkUser(1, { fields: { id: recentUser } }));
    const recentToken = await mintSessionToken(s.key, recentUser, { ttlSeconds: 3600 });
    const first = await callFunction(fn.url, recentToken);
    if (first !== "applied") throw new Error(`the first call answered ${first}`);

    const perRun = {
      bareCpu: [] as number[],
      verify: [] as number[],
      recent: [] as Batch[],
      recentFloor: [] as number[][],
    };
    const applied: Batch[] = [];
    const appliedFloor: number[][] = [];
    let seq = 0;
    for (let run = 0; run < runs; run++) {
      // Users for this run's applied calls (the function's and the floor's), and their tokens.
      const fnUsers = Array.from({ length: appliedCalls }, () => `${prefix}a${++seq}`);
      const floorUsers = Array.from({ length: appliedCalls }, () => `${prefix}f${++seq}`);
      for (const id of [...fnUsers, ...floorUsers]) {
        s.clerk.put(fakeClerkUser(seq, { fields: { id } }));
      }
      const tokens = await Promise.all(
        fnUsers.map((id) => mintSessionToken(s.key, id, { ttlSeconds: 3600 })),
      );

      const bareBatch = await batch(
        bare.pid,
        recentCalls,
        () => postStatus(`http://127.0.0.1:${barePort}/`, recentToken),
      );
      perRun.bareCpu.push(bareBatch.cpuMicros);
      // What every call spends verifying its token (RSA-2048 in Deno's WebCrypto, and the SDK's
      // JWT decoding), measured alone: sequential and CPU-bound, so wall time is CPU time.
      const verifyTimes = await latencies(
        recentCalls,
        () => verifyToken(recentToken, { jwtKey: s.key.pem }),
      );
      perRun.verify.push((verifyTimes.reduce((a, b) => a + b, 0) * 1000) / recentCalls);
      perRun.recent.push(
        await batch(
          fn.pid,
          recentCalls,
          async () => expect(await callFunction(fn.url, recentToken), "recent"),
        ),
      );
      perRun.recentFloor.push(
        await latencies(recentCalls, async () => {
          const { data, error } = await s.client.rpc("read_clerk_profile", {
            p_user_id: recentUser,
            p_max_age_s: 3600,
          });
          if (error || data?.status !== "recent") throw new Error(`floor read: ${error?.message}`);
        }),
      );
      let i = 0;
      applied.push(
        await batch(
          fn.pid,
          appliedCalls,
          async () => expect(await callFunction(fn.url, tokens[i++]), "applied"),
        ),
      );
      let j = 0;
      appliedFloor.push(
        await latencies(appliedCalls, async () => {
          const res = await fetch(`${s.clerk.url}/v1/users/${floorUsers[j++]}`, {
            headers: { authorization: `Bearer ${s.clerk.secretKey}` },
          });
          const { data, error } = await s.client.rpc("sync_clerk_profile", {
            p_profile: toProfile(await res.json()),
          });
          if (error || data?.status !== "applied") throw new Error(`floor sync: ${error?.message}`);
        }),
      );
    }
    return {
      bareCpuMicros: spread(perRun.bareCpu),
      verifyTokenMicros: spread(perRun.verify),
      recent: callFigures(recentCalls, perRun.recent, perRun.recentFloor, perRun.bareCpu),
      applied: callFigures(appliedCalls, applied, appliedFloor, perRun.bareCpu),
    };
  } finally {
    bare.kill("SIGTERM");
    await bare.status;
    await fn.stop();
  }
}

interface Batch {
  latencies: number[];
  cpuMicros: number;
}

// `calls` sequential calls; the latency of each and the process's CPU per call.
async function batch(pid: number, calls: number, call: () => Promise<unknown>): Promise<Batch> {
  const before = processCpuMs(pid);
  const times = await latencies(calls, call);
  return { latencies: times, cpuMicros: ((processCpuMs(pid) - before) * 1000) / calls };
}

async function latencies(calls: number, call: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    await call();
    times.push(performance.now() - start);
  }
  return times;
}

function callFigures(
  calls: number,
  fn: Batch[],
  floor: number[][],
  bareCpu: number[],
): CallFigures {
  const fnMedians = fn.map((b) => median(b.latencies));
  const floorMedians = floor.map((times) => median(times));
  return {
    calls,
    latencyMs: spread(fnMedians),
    floorLatencyMs: spread(floorMedians),
    latencyRatio: spread(fnMedians.map((ms, i) => ms / floorMedians[i])),
    p90Ms: spread(fn.map((b) => quantile(b.latencies, 0.9))),
    cpuMicros: spread(fn.map((b) => b.cpuMicros)),
    cpuRatio: spread(fn.map((b, i) => b.cpuMicros / bareCpu[i])),
  };
}

// ---------------------------------------------------------------------------------------------
// 4. Reload storms

async function measureStorms(
  s: Services,
  runs: number,
  shape: { users: number; perUser: number; concurrency: number },
): Promise<ProfileSyncBenchResult["storm"]> {
  const calls = shape.users * shape.perUser;
  const per1000 = { "jwt-key": [] as number[], "secret-key": [] as number[] };
  let non200 = 0;
  for (let run = 0; run < runs; run++) {
    for (const mode of ["jwt-key", "secret-key"] as const) {
      // A fresh isolate and new users: nothing cached, no row confirmed yet.
      const fn = await startFunction(functionEnv(s, mode, 60));
      try {
        const prefix = `user_storm${crypto.randomUUID().slice(0, 6)}`;
        const users = Array.from({ length: shape.users }, (_, i) => `${prefix}_${i}`);
        users.forEach((id, i) => s.clerk.put(fakeClerkUser(i, { fields: { id } })));
        const tokens = await Promise.all(
          users.map((id) => mintSessionToken(s.key, id, { ttlSeconds: 3600 })),
        );
        // Every user reloads `perUser` times, the reloads of all users interleaved at random.
        const order = shuffle(tokens.flatMap((token) => Array(shape.perUser).fill(token)));
        const before = s.clerk.requests.length;
        const statuses = await pool(order, shape.concurrency, (token) => postStatus(fn.url, token));
        non200 += statuses.filter((status) => status !== 200).length;
        per1000[mode].push(((s.clerk.requests.length - before) * 1000) / calls);
      } finally {
        await fn.stop();
      }
    }
  }
  return {
    users: shape.users,
    calls,
    concurrency: shape.concurrency,
    minimumPer1000: ((shape.users + 1) * 1000) / calls,
    jwtKeyPer1000: spread(per1000["jwt-key"]),
    secretKeyPer1000: spread(per1000["secret-key"]),
    non200,
  };
}

// ---------------------------------------------------------------------------------------------
// Processes and HTTP

/** A function process started by {@linkcode startFunction}. */
export interface RunningFunction {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts the function of the checkout at `root` (default this one) and waits for its first answer. */
export async function startFunction(
  env: Record<string, string>,
  root = ROOT,
): Promise<RunningFunction> {
  const port = freePort();
  const child = spawn(
    PROFILE_SYNC_ENTRYPOINT,
    { ...env, PORT: String(port) },
    "piped",
    undefined,
    root,
  );
  // Drain the log lines (as the platform does), keeping the last few for an error message.
  const tail: string[] = [];
  const drains = [child.stdout, child.stderr].map(async (stream) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      tail.push(chunk);
      if (tail.length > 20) tail.shift();
    }
  });
  const url = `http://127.0.0.1:${port}${FUNCTION_PATH}`;
  try {
    await poll(() => fetch(url, { method: "OPTIONS" }), 204);
  } catch (error) {
    child.kill("SIGTERM");
    await child.status;
    throw new Error(`the function did not start: ${error}\n${tail.join("")}`);
  }
  return {
    url,
    pid: child.pid,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await Promise.all(drains);
    },
  };
}

function spawn(
  script: string,
  env: Record<string, string>,
  output: "null" | "piped",
  config?: string,
  root = ROOT,
): Deno.ChildProcess {
  const inherited = Object.fromEntries(INHERITED_ENV.flatMap((name) => {
    const value = Deno.env.get(name);
    return value === undefined ? [] : [[name, value]];
  }));
  return new Deno.Command(Deno.execPath(), {
    args: [...RUN_FLAGS, ...(config ? ["--config", config] : []), script],
    cwd: root,
    clearEnv: true,
    env: { ...inherited, DENO_NO_UPDATE_CHECK: "1", ...env },
    stdin: "null",
    stdout: output,
    stderr: output,
  }).spawn();
}

// Retries `request` every 2 ms until it answers `status`; any other answer is an error.
async function poll(request: () => Promise<Response>, status: number): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    const res = await request().catch(() => undefined);
    await res?.body?.cancel();
    if (res?.status === status) return;
    if (res) throw new Error(`answered ${res.status}, expected ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error("no answer within 30 s");
}

async function callFunction(url: string, token: string): Promise<string> {
  const res = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  const body = await res.json();
  if (res.status !== 200) {
    throw new Error(`the function answered ${res.status} ${JSON.stringify(body)}`);
  }
  return body.status;
}

/** POSTs to the function with `token`; its status. */
export async function postStatus(url: string, token: string): Promise<number> {
  const res = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  await res.body?.cancel();
  return res.status;
}

function expect(outcome: string, wanted: string): void {
  if (outcome !== wanted) throw new Error(`answered ${outcome}, expected ${wanted}`);
}

async function pool<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  }));
  return results;
}

// CPU milliseconds of a process: the time on CPU of each of its threads, in nanoseconds
// (/proc/<pid>/task/<tid>/schedstat, first field), finer than /proc/<pid>/stat's 10 ms ticks.
// Deno's threads live as long as the process, so none of a batch's time leaves with a thread.
function processCpuMs(pid: number): number {
  let nanoseconds = 0;
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      nanoseconds += Number(
        Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/schedstat`).split(" ")[0],
      );
    } catch {
      // The thread ended while we looked.
    }
  }
  return nanoseconds / 1e6;
}

// ---------------------------------------------------------------------------------------------
// Figures

/** The median and spread of per-run values. */
export function spread(values: readonly number[]): Spread {
  return {
    runs: [...values],
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
  };
}

function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (q === 0.5 && sorted.length % 2 === 0) {
    return (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  }
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** `1.23 (1.10-1.31)`: the median and the spread. */
export function formatSpread(s: Spread, digits = 2): string {
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}-${s.max.toFixed(digits)})`;
}

/** The figures as a plain-text table, medians with their spread (min-max over the runs). */
export function formatProfileSyncReport(r: ProfileSyncBenchResult): string {
  const f = formatSpread;
  const rows: [string, string][] = [
    ["start-up: first answer (preflight) ms", f(r.startup.functionMs, 1)],
    ["start-up: bare Deno.serve ms", f(r.startup.bareMs, 1)],
    ["start-up × bare (target ≤ 1.5)", f(r.startup.ratio)],
    ["start-up: first `recent` 200 ms", f(r.startup.firstRecentMs, 1)],
    ["bare + import @clerk/backend ms", f(r.startup.importsOnly.clerkBackendMs, 1)],
    ["bare + import supabase-js ms", f(r.startup.importsOnly.supabaseJsMs, 1)],
    ["bare + both imports ms", f(r.startup.importsOnly.bothMs, 1)],
    ["module graph: local modules", String(r.moduleGraph.localModules)],
    ["module graph: npm packages", String(r.moduleGraph.npmPackages.length)],
    ["module graph: loads svix", r.moduleGraph.loadsSvix ? "YES" : "no"],
    ["bare Deno.serve CPU µs / request", f(r.bareCpuMicros, 0)],
    ["verifyToken alone µs / token (CLERK_JWT_KEY)", f(r.verifyTokenMicros, 0)],
  ];
  for (const [name, c] of [["recent", r.recent], ["applied", r.applied]] as const) {
    rows.push(
      [`${name}: CPU µs / call (function process)`, f(c.cpuMicros, 0)],
      [`${name}: CPU × bare Deno.serve`, f(c.cpuRatio, 1)],
      [`${name}: latency p50 ms`, f(c.latencyMs)],
      [`${name}: latency p90 ms`, f(c.p90Ms)],
      [`${name}: floor latency p50 ms`, f(c.floorLatencyMs)],
      [`${name}: latency × floor`, f(c.latencyRatio)],
    );
  }
  rows.push(
    ["storm: Clerk requests / 1,000 calls, CLERK_JWT_KEY", f(r.storm.jwtKeyPer1000, 1)],
    ["storm: Clerk requests / 1,000 calls, secret key only", f(r.storm.secretKeyPer1000, 1)],
    ["storm: fewest possible / 1,000 calls", r.storm.minimumPer1000.toFixed(1)],
    ["storm: answers other than 200", String(r.storm.non200)],
  );
  const width = Math.max(...rows.map(([name]) => name.length));
  return [
    `clerk-profile-sync, ${r.runs} interleaved runs, ${r.date} (${r.wallSeconds.toFixed(0)} s); ` +
    "median (min-max)",
    `floors: recent = read_clerk_profile through the PostgREST stand-in; applied = GET ` +
    `/v1/users/{id} on the Clerk stand-in + sync_clerk_profile; CPU = bench/bare_server.ts`,
    `storm: ${r.storm.users} users × ${r.storm.calls / r.storm.users} reloads, ` +
    `${r.storm.concurrency} in flight, a fresh function process per storm`,
    `npm packages: ${r.moduleGraph.npmPackages.join(", ")}`,
    ...rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`),
  ].join("\n");
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--runs");
  const runs = at >= 0 ? Number(Deno.args[at + 1]) : undefined;
  if (runs !== undefined && !(Number.isInteger(runs) && runs >= 3)) {
    console.error("--runs takes a whole number, at least 3");
    Deno.exit(2);
  }
  const result = await runProfileSyncBench({ runs });
  console.log(formatProfileSyncReport(result));
}
