// CPU cost of unauthenticated requests at the HTTP edge (issue 9), each as a ratio to an ordinary
// bad request measured in the same run: the worst request the function still verifies (a body of
// the largest accepted size, 5 signatures, a fresh timestamp), and the svix-signature attack (12,000
// entries, 60 KB: what Deno.serve lets through). In-process: createHandler(...)(request) with 1 and
// 5 configured secrets, a store and a logger that do nothing; CPU time from getrusage.
//
//   deno run -A --frozen bench/edge_cost_bench.ts [--old <dir>] [--rounds 9]
//
// --old <dir> measures the same requests against another copy of the function directory as well
// (for example `git archive <commit> supabase/functions/clerk-webhook | tar -x -C /tmp/old`, then
// --old /tmp/old/supabase/functions/clerk-webhook), so before and after come from one run.
import process from "node:process";
import { parseArgs } from "node:util";
import { Webhook } from "svix";
import * as current from "../supabase/functions/clerk-webhook/handler.ts";
import type { Logger } from "../supabase/functions/_shared/log.ts";
import type { WebhookStore } from "../supabase/functions/clerk-webhook/store.ts";
import { BENCH_SECRET, userEventBody } from "./payloads.ts";

type Handle = (req: Request) => Promise<Response>;
type CreateHandler = (deps: { secrets: string[]; store: WebhookStore; log: Logger }) => Handle;

/** One kind of request: its headers and body, rebuilt fresh (timestamp) for every round. */
interface Case {
  name: string;
  build(): { headers: Headers; body: Uint8Array<ArrayBuffer> };
}

/** Median CPU and wall microseconds per request of one code, secret count and case. */
interface Row {
  code: string;
  secrets: number;
  kase: string;
  status: number;
  cpuMicros: number;
  wallMicros: number;
}

const URL_ = "http://bench.local/functions/v1/clerk-webhook";
const BATCH_MS = 40;
const IDLE_MS = 100;
const ORDINARY = "ordinary bad request: 2.1 KB event, 1 wrong signature";
const noopStore: WebhookStore = { apply: () => Promise.resolve("applied") };
const noopLog: Logger = { info() {}, warn() {}, error() {} };
const encoder = new TextEncoder();

async function main(): Promise<void> {
  const args = parseArgs({
    args: Deno.args,
    options: { old: { type: "string" }, rounds: { type: "string", default: "9" } },
  });
  const rounds = Number(args.values.rounds);
  const codes: [string, CreateHandler][] = [["after", current.createHandler as CreateHandler]];
  if (args.values.old) {
    const old = await import(`file://${Deno.realPathSync(args.values.old)}/handler.ts`);
    codes.push(["before", old.createHandler as CreateHandler]);
  }
  const secrets = [BENCH_SECRET, ...Array.from({ length: 4 }, randomSecret)];
  const attacker = randomSecret(); // signs with a secret the function does not hold
  const cases = buildCases(attacker);

  const handlers = codes.flatMap(([code, create]) =>
    [1, 5].map((n) => ({
      code,
      secrets: n,
      handle: create({ secrets: secrets.slice(0, n), store: noopStore, log: noopLog }),
    }))
  );
  const samples = new Map<string, { cpu: number[]; wall: number[]; status: number }>();
  const sizes = new Map<string, number>();
  for (let round = -3; round < rounds; round++) { // three rounds of warm-up, then measured ones
    for (const h of handlers) {
      for (const kase of cases) {
        const key = `${h.code}|${h.secrets}|${kase.name}`;
        const size = sizes.get(key) ?? await calibrate(h.handle, kase);
        sizes.set(key, size);
        const result = await measure(h.handle, kase, size);
        const entry = samples.get(key) ?? { cpu: [], wall: [], status: result.status };
        if (round >= 0) {
          entry.cpu.push(result.cpuMicros);
          entry.wall.push(result.wallMicros);
        }
        samples.set(key, entry);
      }
    }
  }
  const rows: Row[] = [...samples].map(([key, s]) => {
    const [code, secretCount, kase] = key.split("|");
    return {
      code,
      secrets: Number(secretCount),
      kase,
      status: s.status,
      cpuMicros: median(s.cpu),
      wallMicros: median(s.wall),
    };
  });
  print(rows, rounds);
}

function buildCases(attacker: string): Case[] {
  const small = userEventBody("user.updated", "user_2benchEdgeCostOrdinary00", Date.now());
  // The largest body accepted, valid JSON padded with trailing spaces to the exact limit.
  const large = userEventBody(
    "user.updated",
    "user_2benchEdgeCostLargest000",
    Date.now(),
    current.MAX_BODY_BYTES - 256,
  );
  if (encoder.encode(large).byteLength > current.MAX_BODY_BYTES) throw new Error("body too big");
  const largest = large + " ".repeat(current.MAX_BODY_BYTES - encoder.encode(large).byteLength);
  const wrong = (body: string, id: string, at: Date) => new Webhook(attacker).sign(id, at, body);
  const headers = (id: string, at: Date, signature: string) =>
    new Headers({
      "content-type": "application/json",
      "svix-id": id,
      "svix-timestamp": String(Math.floor(at.getTime() / 1000)),
      "svix-signature": signature,
    });
  return [
    {
      name: ORDINARY,
      build() {
        const id = "msg_2benchOrdinaryBadRequest0";
        const at = new Date();
        return { headers: headers(id, at, wrong(small, id, at)), body: encoder.encode(small) };
      },
    },
    {
      name: `worst verified: ${current.MAX_BODY_BYTES / 1024} KiB body, 5 wrong signatures`,
      build() {
        const id = "msg_2benchWorstVerifiedReq000";
        const at = new Date();
        const one = wrong(largest, id, at);
        const five = [one, ...Array.from({ length: 4 }, (_, i) => `v1,${btoa(`other-${i}`)}`)];
        return { headers: headers(id, at, five.join(" ")), body: encoder.encode(largest) };
      },
    },
    {
      name: "attack: 2.1 KB event, svix-signature of 12,000 entries (60 KB)",
      build() {
        const id = "msg_2benchSignatureAttack0000";
        const at = new Date();
        const entries = [wrong(small, id, at), ...Array(11_999).fill("v1,x")].join(" ");
        return { headers: headers(id, at, entries), body: encoder.encode(small) };
      },
    },
  ];
}

// How many requests make a batch of about BATCH_MS.
async function calibrate(handle: Handle, kase: Case): Promise<number> {
  const once = await measure(handle, kase, 3);
  return Math.max(3, Math.min(500, Math.ceil((BATCH_MS * 1000) / once.wallMicros)));
}

async function measure(handle: Handle, kase: Case, size: number) {
  const { headers, body } = kase.build();
  // Built before the clock starts: Deno.serve builds the Request, not the handler.
  const requests = Array.from(
    { length: size },
    () => new Request(URL_, { method: "POST", headers, body }),
  );
  const responses: Response[] = [];
  // Idle first, so V8's background threads finish with the batch before (its 256 KiB bodies).
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (const request of requests) responses.push(await handle(request));
  const wallMicros = ((performance.now() - started) * 1000) / size;
  const used = process.cpuUsage(cpu);
  const statuses = new Set(responses.map((r) => r.status));
  if (statuses.size !== 1) throw new Error(`${kase.name}: statuses ${[...statuses]}`);
  return { status: responses[0].status, cpuMicros: (used.user + used.system) / size, wallMicros };
}

function print(rows: Row[], rounds: number): void {
  console.log(
    `Edge cost of unauthenticated requests (in-process; µs per request, median of ${rounds} ` +
      "rounds; CPU: getrusage of the whole process, wall: the handler's calls; × ordinary: over " +
      "the ordinary bad request of the same code and secret count, in this run)",
  );
  const header = [
    "code",
    "secrets",
    "request",
    "status",
    "CPU µs",
    "wall µs",
    "× ordinary (CPU)",
    "(wall)",
  ];
  const table = rows.map((row) => {
    const base = rows.find((r) =>
      r.code === row.code && r.secrets === row.secrets && r.kase === ORDINARY
    );
    return [
      row.code,
      String(row.secrets),
      row.kase,
      String(row.status),
      row.cpuMicros.toFixed(1),
      row.wallMicros.toFixed(1),
      base ? (row.cpuMicros / base.cpuMicros).toFixed(2) : "",
      base ? (row.wallMicros / base.wallMicros).toFixed(2) : "",
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    "  " + cells.map((c, i) => i >= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i])).join("  ");
  console.log(line(header));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const row of table) console.log(line(row));
}

function randomSecret(): string {
  return `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24))))}`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

await main();
