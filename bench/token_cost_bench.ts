// CPU cost of the session tokens clerk-profile-sync refuses (issue 17, point 3), each as a ratio to
// an ordinary bad token measured in the same run: a token as large as the cap lets through with a
// payload nested as deep as it fits, the review's 53 KiB token nested 20,000 deep, a token whose
// `typ` is 40,000 characters, a 1 MiB header. In-process: createHandler(...)(request) with
// CLERK_JWT_KEY (no network), a store, instance check and logger that do nothing (the log line is
// still built); CPU from getrusage. Target: the costliest refused request <= 3 x the ordinary one.
//
//   deno run -A --frozen bench/token_cost_bench.ts [--old <function dir>] [--rounds 9]
//
// --old <dir>: the same requests against another copy of supabase/functions/clerk-profile-sync
// (for example from `git archive <commit> | tar -x -C /tmp/old`), so before and after come from
// one run.
import process from "node:process";
import { parseArgs } from "node:util";
import type { Logger } from "../supabase/functions/_shared/log.ts";
import * as current from "../supabase/functions/clerk-profile-sync/handler.ts";
import * as currentSession from "../supabase/functions/clerk-profile-sync/session.ts";
import { generateSigningKey, mintSessionToken } from "../tests/support/clerk_session.ts";

type Handle = (req: Request) => Promise<Response>;

/** One kind of request. */
interface Case {
  name: string;
  /** The Authorization header, or null for none. */
  authorization: string | null;
}

/** Median CPU and wall microseconds per request of one code and case. */
export interface TokenCostRow {
  code: string;
  kase: string;
  headerChars: number;
  status: number;
  cpuMicros: number;
  wallMicros: number;
  /** cpuMicros over the ordinary bad token's, same code. */
  ratio: number;
}

/** What one run measured. */
export interface TokenCostResult {
  rounds: number;
  rows: TokenCostRow[];
  /** The largest ratio among refused requests other than the ordinary one, per code. */
  worst: Record<string, { kase: string; ratio: number }>;
}

const URL_ = "http://bench.local/functions/v1/clerk-profile-sync";
const BATCH_MS = 40;
const IDLE_MS = 50;
/** The denominator. */
export const ORDINARY = "ordinary bad token: a session token with a wrong signature";
const USER = "user_29w83sxmDNGwOuEthce5gg56FcC";
const noopLog: Logger = { info() {}, warn() {}, error() {} };

interface Modules {
  createHandler: typeof current.createHandler;
  createSessionVerifier: typeof currentSession.createSessionVerifier;
}

/** Measures every case against this checkout's function and, with `oldDir`, another copy. */
export async function runTokenCostBench(rounds = 9, oldDir?: string): Promise<TokenCostResult> {
  const key = await generateSigningKey();
  const codes: [string, Modules][] = [["after", {
    createHandler: current.createHandler,
    createSessionVerifier: currentSession.createSessionVerifier,
  }]];
  if (oldDir) {
    const dir = `file://${Deno.realPathSync(oldDir)}`;
    codes.push(["before", {
      createHandler: (await import(`${dir}/handler.ts`)).createHandler,
      createSessionVerifier: (await import(`${dir}/session.ts`)).createSessionVerifier,
    }]);
  }
  const cases = await buildCases(key);
  const handlers = codes.map(([code, m]) => ({ code, handle: buildHandler(m, key.pem) }));
  const samples = new Map<string, { cpu: number[]; wall: number[]; status: number }>();
  const sizes = new Map<string, number>();
  for (let round = -2; round < rounds; round++) { // two rounds of warm-up
    for (const h of handlers) {
      for (const kase of cases) {
        const id = `${h.code}|${kase.name}`;
        const size = sizes.get(id) ?? await calibrate(h.handle, kase);
        sizes.set(id, size);
        const result = await measure(h.handle, kase, size);
        const entry = samples.get(id) ?? { cpu: [], wall: [], status: result.status };
        if (round >= 0) {
          entry.cpu.push(result.cpuMicros);
          entry.wall.push(result.wallMicros);
        }
        samples.set(id, entry);
      }
    }
  }
  const rows: TokenCostRow[] = [];
  for (const [code] of codes) {
    const base = median(samples.get(`${code}|${ORDINARY}`)!.cpu);
    for (const kase of cases) {
      const s = samples.get(`${code}|${kase.name}`)!;
      const cpu = median(s.cpu);
      rows.push({
        code,
        kase: kase.name,
        headerChars: kase.authorization?.length ?? 0,
        status: s.status,
        cpuMicros: cpu,
        wallMicros: median(s.wall),
        ratio: cpu / base,
      });
    }
  }
  const worst: TokenCostResult["worst"] = {};
  for (const row of rows) {
    if (row.kase === ORDINARY || row.status !== 401) continue;
    if (!worst[row.code] || row.ratio > worst[row.code].ratio) {
      worst[row.code] = { kase: row.kase, ratio: row.ratio };
    }
  }
  return { rounds, rows, worst };
}

function buildHandler(m: Modules, pem: string): Handle {
  return m.createHandler({
    sessions: m.createSessionVerifier({
      jwtKeyPem: pem,
      secretKey: "sk_test_bench",
      apiUrl: "http://127.0.0.1:1",
      authorizedParties: [],
    }),
    instance: { ensure: () => Promise.resolve() },
    clerk: { getUser: () => Promise.reject(new Error("not called")) },
    store: {
      read: () => Promise.resolve({ status: "check" }),
      sync: () => Promise.reject(new Error("not called")),
    },
    log: noopLog,
    minIntervalS: 60,
    allowedOrigins: "*",
  });
}

async function buildCases(key: Awaited<ReturnType<typeof generateSigningKey>>): Promise<Case[]> {
  const genuine = await mintSessionToken(key, USER, { ttlSeconds: 3600 });
  const [header, payload, signature] = genuine.split(".");
  const wrongSignature = signature.slice(0, 40) + (signature[40] === "A" ? "B" : "A") +
    signature.slice(41);
  // As deep a payload as fits in the cap (4,096 characters of token), under a genuine header.
  const room = 4096 - header.length - signature.length - 2;
  const prefix = `{"sub":"${USER}","x":`;
  const depth = Math.floor((Math.floor(room * 3 / 4) - prefix.length - 1) / 2);
  const nested = b64(`${prefix}${"[".repeat(depth)}${"]".repeat(depth)}}`);
  const largest = `${header}.${nested}.${wrongSignature}`;
  if (largest.length > 4096) throw new Error(`the largest token is ${largest.length} characters`);
  const review = `${header}.${
    b64(`${prefix}${"[".repeat(20_000)}${"]".repeat(20_000)}}`)
  }.${wrongSignature}`;
  const typ = `${
    b64(JSON.stringify({ alg: "RS256", kid: key.kid, typ: "T".repeat(40_000) }))
  }.${payload}.${signature}`;
  return [
    { name: ORDINARY, authorization: `Bearer ${header}.${payload}.${wrongSignature}` },
    { name: "no Authorization header", authorization: null },
    {
      name: `largest accepted: ${largest.length} characters, payload nested ${depth} deep`,
      authorization: `Bearer ${largest}`,
    },
    {
      name: "the review's token: 53 KiB, payload nested 20,000 deep",
      authorization: `Bearer ${review}`,
    },
    { name: "a typ of 40,000 characters", authorization: `Bearer ${typ}` },
    { name: "a 1 MiB header", authorization: `Bearer ${"A".repeat(1024 * 1024)}` },
  ];
}

function b64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

// How many requests make a batch of about BATCH_MS.
async function calibrate(handle: Handle, kase: Case): Promise<number> {
  const once = await measure(handle, kase, 3);
  return Math.max(3, Math.min(500, Math.ceil((BATCH_MS * 1000) / once.wallMicros)));
}

async function measure(handle: Handle, kase: Case, size: number) {
  const headers: Record<string, string> = kase.authorization === null
    ? {}
    : { authorization: kase.authorization };
  // Built before the clock starts: Deno.serve builds the Request, not the handler.
  const requests = Array.from(
    { length: size },
    () => new Request(URL_, { method: "POST", headers }),
  );
  const statuses = new Set<number>();
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (const request of requests) {
    const res = await handle(request);
    statuses.add(res.status);
    await res.body?.cancel();
  }
  const wallMicros = ((performance.now() - started) * 1000) / size;
  const used = process.cpuUsage(cpu);
  if (statuses.size !== 1) throw new Error(`${kase.name}: statuses ${[...statuses]}`);
  return { status: [...statuses][0], cpuMicros: (used.user + used.system) / size, wallMicros };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The figures as a table. */
export function formatTokenCostReport(r: TokenCostResult): string {
  const header = ["code", "request", "header chars", "status", "CPU µs", "wall µs", "× ordinary"];
  const table = r.rows.map((row) => [
    row.code,
    row.kase,
    row.headerChars.toLocaleString("en-US"),
    String(row.status),
    row.cpuMicros.toFixed(1),
    row.wallMicros.toFixed(1),
    row.ratio.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    "  " + cells.map((c, i) => i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i])).join("  ");
  const worst = Object.entries(r.worst).map(([code, w]) =>
    `  ${code}: costliest refused request ${w.ratio.toFixed(2)} × the ordinary bad token ` +
    `(${w.kase}; target <= 3)`
  );
  return [
    `clerk-profile-sync, refused tokens (in-process, CLERK_JWT_KEY; µs per request, median of ` +
    `${r.rounds} rounds; CPU: getrusage of the whole process)`,
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...table.map(line),
    ...worst,
  ].join("\n");
}

if (import.meta.main) {
  const args = parseArgs({
    args: Deno.args,
    options: { old: { type: "string" }, rounds: { type: "string", default: "9" } },
  });
  console.log(
    formatTokenCostReport(await runTokenCostBench(Number(args.values.rounds), args.values.old)),
  );
}
