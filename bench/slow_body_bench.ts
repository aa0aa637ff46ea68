// Memory held by clients that declare a body, send all of it but one byte, and stall (issue 9):
// 200 connections against the handler served by Deno.serve in its own process, with a store and
// a logger that do nothing. Prints the server's resident memory (VmRSS, from /proc) idle, once
// every connection has sent what it will send, and after the body deadline (10 s), with how many
// requests were answered and with which statuses.
//
//   deno run -A --frozen bench/slow_body_bench.ts [--old <dir>] [--connections 200]
//
// --old <dir>: the same against another copy of the function directory (see edge_cost_bench.ts).
import { parseArgs } from "node:util";
import { MAX_BODY_BYTES } from "../supabase/functions/clerk-webhook/handler.ts";
import { BENCH_SECRET } from "./payloads.ts";

const SELF = new URL(import.meta.url).pathname;
const ROOT = new URL("../", import.meta.url).pathname;
const MIB = 1024 * 1024;
const SETTLE_MS = 1500;
const AFTER_DEADLINE_MS = 11_000;

if (Deno.args[0] === "--serve") {
  await serve(Deno.args[1]);
} else {
  await main();
}

// The server process: the handler of `dir` on a free port, which it prints.
async function serve(dir: string): Promise<void> {
  const { createHandler } = await import(`file://${dir}/handler.ts`);
  const handler = createHandler({
    secrets: [BENCH_SECRET],
    store: { apply: () => Promise.resolve("applied") },
    log: { info() {}, warn() {}, error() {} },
  });
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(port),
    onError: () => new Response(null, { status: 500 }),
  }, handler);
  await new Promise(() => {});
}

async function main(): Promise<void> {
  const args = parseArgs({
    args: Deno.args,
    options: { old: { type: "string" }, connections: { type: "string", default: "200" } },
  });
  const connections = Number(args.values.connections);
  const codes: [string, string][] = [
    ["after", `${ROOT}supabase/functions/clerk-webhook`],
  ];
  if (args.values.old) codes.push(["before", Deno.realPathSync(args.values.old)]);
  console.log(
    `${connections} connections each declare a body, send all of it but one byte and stall ` +
      "(server VmRSS in MiB; answers by status; 2nd wave: as many again 1.5 s after 11 s, " +
      "the first still connected)",
  );
  const header = [
    "code",
    "declared",
    "idle MiB",
    "sent MiB",
    "answers",
    "after 11 s MiB",
    "answers",
    "2nd wave MiB",
  ];
  const rows: string[][] = [];
  for (const [code, dir] of codes) {
    for (const declared of [MIB, MAX_BODY_BYTES]) {
      rows.push([code, `${declared / 1024} KiB`, ...await scenario(dir, declared, connections)]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => "  " + cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  console.log(line(header));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const row of rows) console.log(line(row));
}

async function scenario(dir: string, declared: number, count: number): Promise<string[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--frozen", SELF, "--serve", dir],
    cwd: ROOT,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const port = Number((await reader.read()).value?.trim());
  try {
    await delay(300);
    const idle = rss(child.pid);
    const first = openWave(port, declared, count);
    await delay(SETTLE_MS);
    const sent = rss(child.pid);
    const early = summary(first.answers);
    await delay(Math.max(0, AFTER_DEADLINE_MS - (performance.now() - first.started)));
    const late = rss(child.pid);
    const answered = summary(first.answers);
    // A second wave, the first still connected, shows whether what the first held was released.
    const second = openWave(port, declared, count);
    await delay(SETTLE_MS);
    const again = rss(child.pid);
    first.close();
    second.close();
    return [
      idle.toFixed(1),
      sent.toFixed(1),
      early,
      late.toFixed(1),
      answered,
      again.toFixed(1),
    ];
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await reader.cancel().catch(() => {});
  }
}

/** `count` connections that send headers and all but one byte of a `declared`-byte body. */
function openWave(port: number, declared: number, count: number) {
  const answers = new Map<number, number>();
  const started = performance.now();
  const opening = Array.from({ length: count }, async (_, i) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const at = Math.floor(Date.now() / 1000);
    const head = [
      "POST /functions/v1/clerk-webhook HTTP/1.1",
      "host: 127.0.0.1",
      "content-type: application/json",
      `svix-id: msg_2slowBody${String(i).padStart(17, "0")}`,
      `svix-timestamp: ${at}`,
      `svix-signature: v1,${btoa("not-the-signature-of-the-body!!!")}`,
      `content-length: ${declared}`,
      "",
      "",
    ].join("\r\n");
    // Not awaited: a server that stopped reading leaves these writes pending, as a client would.
    conn.write(new TextEncoder().encode(head))
      .then(() => writeAll(conn, new Uint8Array(declared - 1)))
      .catch(() => {});
    readStatus(conn).then((status) => {
      if (status) answers.set(status, (answers.get(status) ?? 0) + 1);
    });
    return conn;
  });
  return {
    answers,
    started,
    close() {
      for (const opened of opening) {
        opened.then((conn) => conn.close()).catch(() => {});
      }
    },
  };
}

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.byteLength;) {
    offset += await conn.write(bytes.subarray(offset, offset + 64 * 1024));
  }
}

// The status of the first response on `conn`, or 0 when none arrives.
async function readStatus(conn: Deno.TcpConn): Promise<number> {
  const buffer = new Uint8Array(1024);
  try {
    const n = await conn.read(buffer);
    if (n === null) return 0;
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(new TextDecoder().decode(buffer.subarray(0, n)))?.[1]);
  } catch {
    return 0;
  }
}

function summary(answers: Map<number, number>): string {
  if (answers.size === 0) return "none";
  return [...answers].sort().map(([status, n]) => `${n}×${status}`).join(" ");
}

function rss(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
