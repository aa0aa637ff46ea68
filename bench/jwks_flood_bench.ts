// clerk-profile-sync without CLERK_JWT_KEY under a flood of session tokens whose key ids Clerk
// does not list (issue 17, point 1), a benchmark, not a test. The real entrypoint as its own
// `deno run` process, the Clerk API stand-in answering every request after 100 ms (as the review
// measured), PostgreSQL behind the PostgREST stand-in. Per run, two fresh function processes:
//   idle:  a real user's first call, alone (the JWKS fetched, getUser, the guarded write);
//   flood: 1,000 tokens with random key ids sent at once, a real user's first call sent among
//          them (after the 500th); its latency, the GET /v1/jwks requests the flood cost, the
//          answers, the process's peak memory.
// Targets: the flood costs at most 2 JWKS requests (it lasts less than one 30 s cooldown), and the
// real user's call in the flood takes at most 2 x its time on the idle function.
//
//   deno run -A --frozen bench/jwks_flood_bench.ts [--runs 3] [--flood 1000] [--old <root>]
//
// --old <root>: the same against another checkout (for example `git archive <commit> | tar -x -C
// /tmp/old`, then `ln -s $PWD/node_modules /tmp/old/`, `--old /tmp/old`), so before and after are
// measured on one machine in one sitting. Code without the JWKS cooldown serialises one fetch per
// unknown key id: a run of it takes about `flood` x 100 ms.
import { parseArgs } from "node:util";
import { fakeClerkUser } from "../tests/support/clerk_api_stand_in.ts";
import { generateSigningKey, mintSessionToken } from "../tests/support/clerk_session.ts";
import { memoryMiB } from "./procfs.ts";
import {
  formatSpread,
  functionEnv,
  postStatus,
  type Services,
  type Spread,
  spread,
  startFunction,
  startServices,
  stopServices,
} from "./profile_sync_bench.ts";

/** Milliseconds the Clerk stand-in waits before every answer. */
export const CLERK_DELAY_MS = 100;
const ROOT = new URL("../", import.meta.url).pathname;

/** One run: an idle function and a flooded one. */
export interface FloodRun {
  idleMs: number;
  floodUserMs: number;
  ratio: number;
  /** GET /v1/jwks requests from the start of the flood to its last answer. */
  jwksRequests: number;
  /** The flood's answers by status. */
  statuses: Record<string, number>;
  /** From the first flood request to its last answer (ms). */
  floodWallMs: number;
  /** Peak resident memory of the flooded process (MiB). */
  peakMiB: number;
}

/** What {@linkcode runJwksFloodBench} measured, for one checkout. */
export interface JwksFloodResult {
  code: string;
  flood: number;
  clerkDelayMs: number;
  runs: FloodRun[];
  idleMs: Spread;
  floodUserMs: Spread;
  /** floodUserMs / idleMs per run; target <= 2. */
  ratio: Spread;
  jwksRequests: Spread;
  peakMiB: Spread;
}

/** Options of {@linkcode runJwksFloodBench}. */
export interface JwksFloodOptions {
  runs?: number;
  flood?: number;
  /** The checkout whose function runs (default this one). */
  root?: string;
  /** Its name in the report (default `after`). */
  code?: string;
  /** Services to reuse (default: started and stopped here). */
  services?: Services;
}

/** Runs the flood `runs` times (default 3) with `flood` tokens (default 1,000). */
export async function runJwksFloodBench(options: JwksFloodOptions = {}): Promise<JwksFloodResult> {
  const runs = options.runs ?? 3;
  const flood = options.flood ?? 1000;
  const s = options.services ?? await startServices();
  const attacker = await generateSigningKey();
  const results: FloodRun[] = [];
  try {
    s.clerk.delayMs = CLERK_DELAY_MS;
    // Tokens signed by some key, each naming a random key id (minted once: signing is not measured).
    const tokens = await Promise.all(
      Array.from({ length: flood }, (_, i) =>
        mintSessionToken(attacker, `user_flood${i}`, {
          header: { kid: `ins_${crypto.randomUUID().replaceAll("-", "")}` },
          ttlSeconds: 3600,
        })),
    );
    for (let run = 0; run < runs; run++) {
      results.push(await floodRun(s, tokens, options.root ?? ROOT));
    }
  } finally {
    s.clerk.delayMs = 0;
    if (!options.services) await stopServices(s);
  }
  return {
    code: options.code ?? "after",
    flood,
    clerkDelayMs: CLERK_DELAY_MS,
    runs: results,
    idleMs: spread(results.map((r) => r.idleMs)),
    floodUserMs: spread(results.map((r) => r.floodUserMs)),
    ratio: spread(results.map((r) => r.ratio)),
    jwksRequests: spread(results.map((r) => r.jwksRequests)),
    peakMiB: spread(results.map((r) => r.peakMiB)),
  };
}

async function floodRun(s: Services, tokens: string[], root: string): Promise<FloodRun> {
  const env = functionEnv(s, "secret-key", 60);
  const newUser = async () => {
    const id = `user_floodreal${crypto.randomUUID().slice(0, 8)}`;
    s.clerk.put(fakeClerkUser(1, { fields: { id } }));
    return await mintSessionToken(s.key, id, { ttlSeconds: 3600 });
  };

  const idle = await startFunction(env, root);
  let idleMs: number;
  try {
    const token = await newUser();
    const started = performance.now();
    expect200(await postStatus(idle.url, token));
    idleMs = performance.now() - started;
  } finally {
    await idle.stop();
  }

  const fn = await startFunction(env, root);
  try {
    const real = await newUser();
    const jwksBefore = jwksCount(s);
    const started = performance.now();
    let user: Promise<number> | undefined;
    const answers = tokens.map((token, i) => {
      if (i === Math.floor(tokens.length / 2)) {
        const userStarted = performance.now();
        user = postStatus(fn.url, real).then((status) => {
          expect200(status);
          return performance.now() - userStarted;
        });
      }
      return postStatus(fn.url, token);
    });
    const floodUserMs = await user!;
    const statuses: Record<string, number> = {};
    for (const status of await Promise.all(answers)) {
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
    const floodWallMs = performance.now() - started;
    return {
      idleMs,
      floodUserMs,
      ratio: floodUserMs / idleMs,
      jwksRequests: jwksCount(s) - jwksBefore,
      statuses,
      floodWallMs,
      peakMiB: memoryMiB(fn.pid).peak,
    };
  } finally {
    await fn.stop();
  }
}

function jwksCount(s: Services): number {
  return s.clerk.requests.filter((r) => r.path === "/v1/jwks").length;
}

function expect200(status: number): void {
  if (status !== 200) throw new Error(`the real user's call answered ${status}`);
}

/** The figures as `npm run bench` prints them. */
export function formatJwksFloodReport(results: JwksFloodResult[]): string {
  const lines = [
    `clerk-profile-sync without CLERK_JWT_KEY: ${results[0].flood.toLocaleString("en-US")} ` +
    `tokens with random key ids at once on a fresh process, Clerk answering after ` +
    `${results[0].clerkDelayMs} ms; median (min-max)`,
  ];
  for (const r of results) {
    const statuses = r.runs.map((run) =>
      Object.entries(run.statuses).map(([status, n]) => `${n}×${status}`).join(" ")
    );
    lines.push(
      `  ${r.code} (${r.runs.length} runs)`,
      `    real user's first call, idle function ms     ${formatSpread(r.idleMs, 0)}`,
      `    real user's first call, during the flood ms  ${formatSpread(r.floodUserMs, 0)}`,
      `    flood ÷ idle (target <= 2)                   ${formatSpread(r.ratio)}`,
      `    GET /v1/jwks requests for the flood (<= 2)   ${formatSpread(r.jwksRequests, 0)}`,
      `    flood wall time ms                           ${
        formatSpread(spread(r.runs.map((x) => x.floodWallMs)), 0)
      }`,
      `    peak memory of the process MiB               ${formatSpread(r.peakMiB, 1)}`,
      `    flood answers                                ${statuses.join("; ")}`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const args = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "3" },
      flood: { type: "string", default: "1000" },
      old: { type: "string" },
    },
  });
  const runs = Number(args.values.runs);
  const flood = Number(args.values.flood);
  const services = await startServices();
  try {
    const results = [await runJwksFloodBench({ runs, flood, services })];
    if (args.values.old) {
      const root = `${Deno.realPathSync(args.values.old)}/`;
      results.push(await runJwksFloodBench({ runs, flood, services, root, code: "before" }));
    }
    console.log(formatJwksFloodReport(results));
  } finally {
    await stopServices(services);
  }
}
