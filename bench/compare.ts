// The function against the peer (the guides' handler, bench/peer_function.ts) and the relay floor
// (bench/relay_server.ts), on the same stack in the same run, at one concurrency. Each round runs
// the three paths one after the other (relay, function, peer; the next round in reverse), so every
// ratio is a median of interleaved pairs rather than of runs minutes apart.
import { type LevelResult, measured, postFromWorker, type Rig, syncArgs } from "./e2e.ts";
import type { Delivery } from "./http_load_worker.ts";
import {
  type ClerkState,
  deliveryStream,
  type FaultCounts,
  type StreamDelivery,
  type WrongRows,
  wrongRows,
} from "./fault_stream.ts";
import type { LoadResult } from "./load.ts";
import { userEvents } from "./payloads.ts";
import { type CpuTimes, cpuTimes, perEventMicros } from "./procfs.ts";
import { type RatioSummary, summarizeRatios } from "./ratio.ts";
import { startServerProcess } from "./server_process.ts";

/** One phase (unique events, or the fault mix) of one path in one round. */
export interface PhaseResult extends LoadResult {
  /** CPU time per delivery of each part of the stack; `function` is the path's own process. */
  cpuMicros: CpuTimes;
  /** The phase's rows against Clerk's state, counted from the table. */
  wrong: WrongRows;
}

/** One path (the function or the peer) fed the whole stream in one round. */
export interface StreamRun {
  unique: PhaseResult;
  faults: PhaseResult;
  /** Deliveries of both phases over their summed time. */
  eventsPerSecond: number;
}

/** One round: the three paths, in the order they ran. */
export interface CompareRound {
  order: string[];
  relay: LevelResult;
  function: StreamRun;
  peer: StreamRun;
}

/** Everything the comparison measured. */
export interface Comparison {
  concurrency: number;
  uniqueEvents: number;
  faultCounts: FaultCounts;
  rounds: CompareRound[];
  /** The function process's CPU per event (unique phase) over the relay's, per round. */
  cpuRatio: RatioSummary;
  /** The function's events/s over the peer's on the whole stream, per round. */
  throughputRatio: RatioSummary;
  uniqueThroughputRatio: RatioSummary;
  faultThroughputRatio: RatioSummary;
}

/** Sizes of the comparison. */
export interface CompareOptions {
  rounds: number;
  concurrency: number;
  /** Users of the unique phase (a create and an update each); the relay gets as many. */
  uniqueUsers: number;
  /** Users of the fault mix. */
  faultUsers: number;
}

const WARM_UP_USERS = 250;

/** Starts the peer and the relay beside the stack's function and runs the rounds. */
export async function compareWithPeerAndRelay(
  rig: Rig,
  options: CompareOptions,
): Promise<Comparison> {
  const { stack } = rig;
  const env = {
    SUPABASE_URL: stack.supabaseUrl,
    SUPABASE_SERVICE_ROLE_KEY: stack.serviceRoleKey,
    CLERK_WEBHOOK_SECRET: stack.webhookSecret,
  };
  const peer = await startServerProcess("bench/peer_function.ts", env);
  try {
    const relay = await startServerProcess("bench/relay_server.ts", env);
    try {
      const paths = {
        function: { url: stack.functionUrl, pid: rig.functionPid },
        peer: { url: peer.url, pid: peer.pid },
        relay: { url: relay.url, pid: relay.pid },
      };
      const t0 = Date.now();
      const { concurrency } = options;
      // JIT, connection pools and supabase-js warmed up outside the timing, alike for all three.
      for (const name of ["function", "peer"] as const) {
        const warm = deliveryStream(`user_w0_${name}_`, WARM_UP_USERS, 0, t0);
        await streamPhase(
          rig,
          paths[name],
          warm.unique,
          concurrency,
          `user_w0_${name}_u`,
          warm.uniqueState,
        );
      }
      await relayLevel(rig, paths.relay, "user_w0_rela_", WARM_UP_USERS, t0, concurrency);

      const rounds: CompareRound[] = [];
      let faultCounts: FaultCounts | undefined;
      for (let r = 1; r <= options.rounds; r++) {
        const order = r % 2 === 1 ? ["relay", "function", "peer"] : ["peer", "function", "relay"];
        const round: Partial<CompareRound> = { order };
        for (const name of order) {
          // Ids of the same length on every path, so bodies are the same size.
          const prefix = `user_r${r}_${name.slice(0, 4)}_`;
          if (name === "relay") {
            round.relay = await relayLevel(
              rig,
              paths.relay,
              prefix,
              options.uniqueUsers,
              t0,
              concurrency,
            );
            continue;
          }
          const stream = deliveryStream(prefix, options.uniqueUsers, options.faultUsers, t0);
          faultCounts = stream.faultCounts;
          const path = paths[name as "function" | "peer"];
          const unique = await streamPhase(
            rig,
            path,
            stream.unique,
            concurrency,
            `${prefix}u`,
            stream.uniqueState,
          );
          const faults = await streamPhase(
            rig,
            path,
            stream.faults,
            concurrency,
            `${prefix}f`,
            stream.faultState,
          );
          round[name as "function" | "peer"] = {
            unique,
            faults,
            eventsPerSecond: (unique.events + faults.events) / (unique.seconds + faults.seconds),
          };
        }
        rounds.push(round as CompareRound);
      }
      const ratio = (f: (r: CompareRound) => number) => summarizeRatios(rounds.map(f));
      return {
        concurrency,
        uniqueEvents: options.uniqueUsers * 2,
        faultCounts: faultCounts as FaultCounts,
        rounds,
        cpuRatio: ratio((r) => r.function.unique.cpuMicros.function / r.relay.cpuMicros.function),
        throughputRatio: ratio((r) => r.function.eventsPerSecond / r.peer.eventsPerSecond),
        uniqueThroughputRatio: ratio((r) =>
          r.function.unique.eventsPerSecond / r.peer.unique.eventsPerSecond
        ),
        faultThroughputRatio: ratio((r) =>
          r.function.faults.eventsPerSecond / r.peer.faults.eventsPerSecond
        ),
      };
    } finally {
      await relay.stop();
    }
  } finally {
    await peer.stop();
  }
}

interface Path {
  url: string;
  pid: number;
}

// Signed deliveries to a path; then the rows under `prefix` against Clerk's state.
async function streamPhase(
  rig: Rig,
  path: Path,
  deliveries: StreamDelivery[],
  concurrency: number,
  prefix: string,
  state: ClerkState,
): Promise<PhaseResult> {
  const job: Delivery[] = deliveries.map(({ body, svixId }) => ({ body, svixId }));
  const before = cpuTimes(path.pid, rig.postmasterPid);
  const { clientCpuMs, ...load } = await postFromWorker({
    url: path.url,
    concurrency,
    deliveries: job,
    secret: rig.stack.webhookSecret,
  });
  const after = cpuTimes(path.pid, rig.postmasterPid, clientCpuMs);
  return {
    ...load,
    cpuMicros: perEventMicros(before, after, deliveries.length),
    wrong: await wrongRows(rig.sql, prefix, state),
  };
}

// The relay: the same unique events, mapped beforehand, posted as the RPC's arguments.
function relayLevel(
  rig: Rig,
  path: Path,
  prefix: string,
  users: number,
  t0: number,
  concurrency: number,
): Promise<LevelResult> {
  const events = userEvents(`${prefix}u`, users, t0);
  const headers = { "content-type": "application/json" };
  const deliveries = events.map((e) => ({ headers, body: JSON.stringify(syncArgs(e)) }));
  return measured(
    rig,
    `${prefix}u`,
    events,
    () => postFromWorker({ url: path.url, concurrency, deliveries }),
    path.pid,
  );
}
