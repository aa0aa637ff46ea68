// End-to-end levels on the local stack: deliveries to the real entrypoint, the same kind of events
// applied straight through postgres.js (the floor), the stand-in alone, and the duplicate storm.
import postgres from "postgres";
import { parseClerkEvent } from "../supabase/functions/clerk-webhook/clerk_event.ts";
import type { LocalStack } from "../tests/support/local_stack.ts";
import type { HttpLoadJob, HttpLoadResult } from "./http_load_worker.ts";
import { type LoadResult, runLoad, summarize } from "./load.ts";
import { type BenchEvent, userEvents } from "./payloads.ts";
import { type CpuTimes, cpuTimes, perEventMicros } from "./procfs.ts";

/** The local stack and what the levels measure it with. */
export interface Rig {
  stack: LocalStack;
  /** Connection as `postgres` (the migrations' owner) for the table checks. */
  sql: postgres.Sql;
  functionPid: number;
  postmasterPid: number;
}

/** A load level plus the check that the table holds exactly the expected rows. */
export interface LevelResult extends LoadResult {
  /** Users in the table under the level's prefix / users expected. */
  rows: number;
  expectedRows: number;
  /** Row count and every row's `clerk_updated_at` are exactly the newest event of its user. */
  tableExact: boolean;
  /** CPU time per event of each part of the stack, in microseconds. */
  cpuMicros: CpuTimes;
}

/** What the duplicate storm measured. */
export interface StormResult extends LoadResult {
  /** Every answer was `duplicate`. */
  allDuplicate: boolean;
  /** The rows (every column, `updated_at` included) and the delivery log are unchanged. */
  unchanged: boolean;
}

/** `events` deliveries (half user.created, half user.updated) to the function at `concurrency`. */
export function functionLevel(rig: Rig, concurrency: number, events: number): Promise<LevelResult> {
  const prefix = `user_fn${concurrency}x`;
  const list = userEvents(prefix, events / 2);
  const deliveries = list.map((e) => ({ body: e.body, svixId: e.svixId }));
  const secret = rig.stack.webhookSecret;
  return measured(
    rig,
    prefix,
    list,
    () => postFromWorker({ url: rig.stack.functionUrl, concurrency, deliveries, secret }),
  );
}

/** The stand-in alone: the function's RPC posted straight to it, as supabase-js sends it. */
export function standInLevel(rig: Rig, concurrency: number, events: number): Promise<LevelResult> {
  const prefix = `user_rpc${concurrency}x`;
  const list = userEvents(prefix, events / 2);
  const key = rig.stack.serviceRoleKey;
  const headers = {
    "content-type": "application/json",
    apikey: key,
    authorization: `Bearer ${key}`,
  };
  const deliveries = list.map((e) => ({ headers, body: JSON.stringify(syncArgs(e)) }));
  const url = `${rig.stack.supabaseUrl}/rest/v1/rpc/sync_clerk_user`;
  return measured(rig, prefix, list, () => postFromWorker({ url, concurrency, deliveries }));
}

/**
 * The floor: the same kind of events, mapped beforehand, applied by calling the SQL function from
 * postgres.js on this process's main thread, one connection per concurrent call, connected as
 * PostgREST connects (role authenticator, then service_role).
 */
export async function floorLevel(
  rig: Rig,
  concurrency: number,
  events: number,
): Promise<LevelResult> {
  const prefix = `user_pg${concurrency}x`;
  const list = userEvents(prefix, events / 2);
  const args = list.map(floorArgs);
  const db = postgres(rig.stack.cluster.urlFor("authenticator"), {
    max: concurrency,
    onnotice: () => {},
    connection: { role: "service_role" },
  });
  try {
    await Promise.all(Array.from({ length: concurrency }, () => db`select 1`));
    const result = await measured(rig, prefix, list, async () => {
      const sample = await runLoad(args, concurrency, async (a) => {
        const [row] = await db`select public.sync_clerk_user(${a.svixId}, ${a.type},
          ${a.userId}, ${a.occurredAt}, ${a.profile}::text::jsonb) as outcome`;
        return String(row.outcome);
      });
      return summarize([sample], concurrency);
    });
    // Here the main thread is the client, and there is no stand-in.
    const { standIn, ...cpu } = result.cpuMicros;
    return { ...result, cpuMicros: { ...cpu, standIn: 0, client: standIn } };
  } finally {
    await db.end();
  }
}

/**
 * 1,000 deliveries applied once, then each sent three more times at once (interleaved, so the
 * copies of one delivery race each other), as Svix retries look after an outage.
 */
export async function duplicateStorm(rig: Rig, concurrency: number): Promise<StormResult> {
  const { stack, sql } = rig;
  const prefix = "user_dupx";
  const deliveries = userEvents(prefix, 500).map((e) => ({ body: e.body, svixId: e.svixId }));
  const job = { url: stack.functionUrl, concurrency, secret: stack.webhookSecret };
  const first = await postFromWorker({ ...job, deliveries });
  if (first.errors > 0) {
    throw new Error(`duplicate storm: first delivery failed: ${first.firstError}`);
  }
  const before = await snapshot(sql, prefix);
  const storm = deliveries.flatMap((d) => [d, d, d]);
  const { clientCpuMs: _, ...load } = await postFromWorker({ ...job, deliveries: storm });
  const after = await snapshot(sql, prefix);
  return {
    ...load,
    allDuplicate: load.errors === 0 && load.outcomes.duplicate === storm.length,
    unchanged: before === after,
  };
}

/** Runs an HTTP load in a Worker (see http_load_worker.ts). */
export function postFromWorker(job: HttpLoadJob): Promise<HttpLoadResult> {
  const worker = new Worker(new URL("./http_load_worker.ts", import.meta.url), { type: "module" });
  return new Promise<HttpLoadResult>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<HttpLoadResult>) => resolve(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`load worker failed: ${event.message}`));
    };
    worker.postMessage(job);
  }).finally(() => worker.terminate());
}

/**
 * Runs `load`, then checks the rows under `prefix` against `events`; CPU per event of each part
 * of the stack, with `pid` (default: the function's) as the process under test.
 */
export async function measured(
  rig: Rig,
  prefix: string,
  events: readonly BenchEvent[],
  load: () => Promise<LoadResult & { clientCpuMs?: number }>,
  pid = rig.functionPid,
): Promise<LevelResult> {
  const before = cpuTimes(pid, rig.postmasterPid);
  const { clientCpuMs, ...result } = await load();
  const after = cpuTimes(pid, rig.postmasterPid, clientCpuMs);
  return {
    ...result,
    ...await checkTable(rig.sql, prefix, events),
    cpuMicros: perEventMicros(before, after, events.length),
  };
}

/** The arguments of public.sync_clerk_user for an event, mapped by the function's own parser. */
export function syncArgs(e: BenchEvent) {
  const event = parseClerkEvent(e.body, e.svixId, String(Math.floor(e.updatedAt / 1000)));
  if (event.kind !== "user") throw new Error(`not a user event: ${e.svixId}`);
  return {
    p_svix_id: event.svixId,
    p_event_type: event.type,
    p_user_id: event.userId,
    p_occurred_at: event.occurredAt,
    p_profile: event.profile,
  };
}

function floorArgs(e: BenchEvent) {
  const a = syncArgs(e);
  return {
    svixId: a.p_svix_id,
    type: a.p_event_type,
    userId: a.p_user_id,
    occurredAt: a.p_occurred_at,
    profile: a.p_profile && JSON.stringify(a.p_profile),
  };
}

async function checkTable(sql: postgres.Sql, prefix: string, events: readonly BenchEvent[]) {
  const newest = new Map<string, number>();
  for (const e of events) newest.set(e.userId, Math.max(newest.get(e.userId) ?? 0, e.updatedAt));
  const rows = await sql`select user_id, clerk_updated_at from public.profiles
    where starts_with(user_id, ${prefix})`;
  const exact = rows.length === newest.size &&
    rows.every((r) => newest.get(r.user_id) === r.clerk_updated_at.getTime());
  return { rows: rows.length, expectedRows: newest.size, tableExact: exact };
}

async function snapshot(sql: postgres.Sql, prefix: string): Promise<string> {
  const rows = await sql`select to_jsonb(p)::text as row from public.profiles p
    where starts_with(user_id, ${prefix}) order by user_id`;
  const [log] = await sql`select count(*)::int as n, max(received_at)::text as last
    from clerk_sync.webhook_events where starts_with(user_id, ${prefix})`;
  return JSON.stringify([rows.map((r) => r.row), log]);
}
