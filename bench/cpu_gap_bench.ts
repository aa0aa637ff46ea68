// Where the function process's CPU per event goes, beyond the relay floor (a benchmark, not a
// test; run alone, not by `npm run bench`): on one local stack at c = 16, the relay, then one
// step at a time towards the function (bench/cpu_gap_server.ts), then the function itself, each
// fed the same kind of unique events, in interleaved rounds. Prints each step's process CPU per
// event and its ratio to the relay's in the same round, as medians (min-max) over the rounds.
//
// Usage: deno run -A --frozen bench/cpu_gap_bench.ts [users per step] [rounds]
import postgres from "postgres";
import { startLocalStack } from "../tests/support/local_stack.ts";
import { type LevelResult, measured, postFromWorker, type Rig, syncArgs } from "./e2e.ts";
import { userEvents } from "./payloads.ts";
import { childPid, postmasterPid } from "./procfs.ts";
import { formatRatio, median, summarizeRatios } from "./ratio.ts";
import { type ServerProcess, startServerProcess } from "./server_process.ts";
import { ENTRYPOINT } from "./startup.ts";

const STEPS = ["fetch", "fetch+logs", "supabase-js", "supabase-js+logs", "verify+map"];
/** Steps that receive the signed delivery rather than the mapped arguments. */
const SIGNED = ["verify+map"];
const CONCURRENCY = 16;

const users = Number(Deno.args[0] ?? "2000");
const rounds = Number(Deno.args[1] ?? "3");
const stack = await startLocalStack();
const sql = postgres(stack.databaseUrl, { max: 2, onnotice: () => {} });
const servers: ServerProcess[] = [];
try {
  const rig: Rig = {
    stack,
    sql,
    functionPid: childPid(ENTRYPOINT),
    postmasterPid: postmasterPid(stack.cluster.dataDir),
  };
  const env = {
    SUPABASE_URL: stack.supabaseUrl,
    SUPABASE_SERVICE_ROLE_KEY: stack.serviceRoleKey,
    CLERK_WEBHOOK_SECRET: stack.webhookSecret,
  };
  for (const variant of STEPS) {
    servers.push(await startServerProcess("bench/cpu_gap_server.ts", { ...env, VARIANT: variant }));
  }
  let run = 0;
  const level = (step: number, count: number): Promise<LevelResult> => {
    const prefix = `user_g${run++}_`;
    const events = userEvents(prefix, count);
    const signed = step === STEPS.length || SIGNED.includes(STEPS[step]);
    const headers = { "content-type": "application/json" };
    const deliveries = events.map((e) =>
      signed ? { body: e.body, svixId: e.svixId } : { headers, body: JSON.stringify(syncArgs(e)) }
    );
    const server = servers[step];
    const job = {
      url: server?.url ?? stack.functionUrl,
      concurrency: CONCURRENCY,
      deliveries,
      ...(signed ? { secret: stack.webhookSecret } : {}),
    };
    return measured(rig, prefix, events, () => postFromWorker(job), server?.pid ?? rig.functionPid);
  };
  const names = [...STEPS.map((s) => s === "fetch" ? "relay (fetch)" : s), "function"];
  for (let step = 0; step <= STEPS.length; step++) await level(step, 250);
  const cpu: number[][] = names.map(() => []);
  for (let r = 0; r < rounds; r++) {
    const order = names.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const step of order) {
      const result = await level(step, users);
      if (!result.tableExact || result.errors > 0) throw new Error(`${names[step]}: wrong table`);
      cpu[step][r] = result.cpuMicros.function;
    }
  }
  console.log(
    `process CPU µs per event at c = ${CONCURRENCY}, ${users * 2} events per step, ` +
      `${rounds} rounds; load average ${Deno.loadavg().map((l) => l.toFixed(1)).join(" ")}`,
  );
  names.forEach((name, step) => {
    const ratio = summarizeRatios(cpu[step].map((c, r) => c / cpu[0][r]));
    console.log(
      `${name.padEnd(18)} ${median(cpu[step]).toFixed(0).padStart(5)} µs  ` +
        `(${cpu[step].map((c) => c.toFixed(0)).join(", ")})  × relay ${formatRatio(ratio)}`,
    );
  });
} finally {
  for (const server of servers) await server.stop();
  await sql.end();
  await stack.close();
}
