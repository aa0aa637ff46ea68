// Deep paging (a benchmark, not a test): a backfill of N users (default 200,000) from the Clerk
// API stand-in with the cost model of Clerk's spec for GetUserList ("a large `offset` has to walk
// and discard every row before it, so it gets progressively slower"; "a cursor page costs the
// same no matter how far into the list it sits"): each page costs PAGE_MS, and each row an offset
// skips OFFSET_ROW_MICROS more (no time-out here, so that the offset run can finish). Two
// backfills, interleaved, each into an empty table: before (users read by `offset`, as the
// backfill read them until issue 16) and after (by `starting_after`). For each, the time per page
// at the end ÷ at the start: the median interval between committed pages over the last WINDOW
// pages (without the pipeline's drain) ÷ over the first WINDOW (after the first page). Target for
// the backfill (after): <= 1.5, the median of the rounds. `npm run bench` runs it.
//
// Usage: deno run -A --frozen bench/deep_paging_bench.ts [users] [rounds]
import type postgres from "postgres";
import type { ClerkApi } from "../backfill/clerk_api.ts";
import { createClerkSources, usersByOffset } from "../backfill/clerk_source.ts";
import { runBackfill } from "../backfill/run_backfill.ts";
import { type BackfillStore, createSupabaseBackfillStore } from "../backfill/store.ts";
import type { PagingCost } from "../tests/support/clerk_api_stand_in.ts";
import { withBackfillRig } from "./backfill_bench.ts";
import { formatRatio, median, type RatioSummary, summarizeRatios } from "./ratio.ts";

/** The stand-in's cost model in this benchmark. */
export const COST: PagingCost = { pageMs: 5, offsetRowMicros: 0.5, offsetTimeoutAt: null };
/** Pages per window at the start and at the end. */
const WINDOW = 40;
/** Commits at the very end left out: the writes in flight finish together once reading stops. */
const DRAIN = 5;

/** One backfill of the benchmark. */
export interface PagingRun {
  paging: "offset" | "starting_after";
  seconds: number;
  pages: number;
  /** Median milliseconds between committed pages over the first and the last window. */
  startPageMs: number;
  endPageMs: number;
  /** endPageMs / startPageMs. */
  ratio: number;
}

/** What one benchmark run measured. */
export interface DeepPagingResult {
  users: number;
  cost: PagingCost;
  rounds: { offset: PagingRun; cursor: PagingRun }[];
  /** Before: users by offset. */
  offsetRatio: RatioSummary;
  /** After: users by starting_after; the target is a median <= 1.5. */
  cursorRatio: RatioSummary;
}

/** Runs `rounds` interleaved (offset, cursor) backfills of `count` users on a fresh cluster. */
export function runDeepPagingBench(count = 200_000, rounds = 3): Promise<DeepPagingResult> {
  const options = { users: count, dirPrefix: "deep-paging-bench-", paging: COST };
  return withBackfillRig(options, async ({ sql, supabase, clerk, dir }) => {
    const store = createSupabaseBackfillStore(supabase);
    const rig: Rig = { sql, api: clerk, store, dir, count };

    const results: DeepPagingResult["rounds"] = [];
    for (let round = 0; round < rounds; round++) {
      const offset = await backfill(rig, "offset");
      const cursor = await backfill(rig, "starting_after");
      results.push({ offset, cursor });
    }
    return {
      users: count,
      cost: COST,
      rounds: results,
      offsetRatio: summarizeRatios(results.map((r) => r.offset.ratio)),
      cursorRatio: summarizeRatios(results.map((r) => r.cursor.ratio)),
    };
  });
}

interface Rig {
  sql: postgres.Sql;
  api: ClerkApi;
  store: BackfillStore;
  dir: string;
  count: number;
}

// One backfill into an empty table, users read by `paging`, timed per committed page.
async function backfill(rig: Rig, paging: PagingRun["paging"]): Promise<PagingRun> {
  const { sql, api, store, dir, count } = rig;
  await sql`truncate public.profiles cascade`;
  const sources = createClerkSources(api);
  if (paging === "offset") sources.users = usersByOffset(api);
  const commits: number[] = [];
  const started = performance.now();
  const result = await runBackfill(sources, store, {
    statePath: `${dir}/state.json`,
    resume: false,
    target: "bench",
    progress: (kind) => ({
      update: () => void (kind === "users" && commits.push(performance.now())),
      finish() {},
    }),
  });
  const seconds = (performance.now() - started) / 1000;
  if (result.counts.users.applied !== count) {
    throw new Error(`${paging}: applied ${result.counts.users.applied} of ${count} users`);
  }
  // commits[0] is the phase's start; commits[i] the end of page i.
  const intervals = commits.slice(1).map((t, i) => t - commits[i]);
  const usable = intervals.slice(1, intervals.length - DRAIN);
  if (usable.length < 2 * WINDOW) throw new Error(`${paging}: too few pages (${count} users)`);
  const startPageMs = median(usable.slice(0, WINDOW));
  const endPageMs = median(usable.slice(-WINDOW));
  return {
    paging,
    seconds,
    pages: intervals.length,
    startPageMs,
    endPageMs,
    ratio: endPageMs / startPageMs,
  };
}

/** The lines `npm run bench` and this script print. */
export function formatDeepPagingReport(r: DeepPagingResult): string {
  const run = (p: PagingRun) =>
    `${p.paging.padEnd(14)} ${p.seconds.toFixed(1).padStart(6)} s  ${p.pages} pages  ` +
    `${p.startPageMs.toFixed(1).padStart(6)} ms/page at the start, ` +
    `${p.endPageMs.toFixed(1).padStart(6)} ms/page at the end: ${p.ratio.toFixed(2)}`;
  return [
    `Deep paging: a backfill of ${r.users.toLocaleString("en-US")} users; the Clerk stand-in ` +
    `charges ${r.cost.pageMs} ms per page and ${r.cost.offsetRowMicros} µs per row an offset ` +
    `skips; ${r.rounds.length} interleaved rounds (before: offset, after: starting_after)`,
    ...r.rounds.flatMap((round, i) => [
      `round ${i + 1}: ${run(round.offset)}`,
      `         ${run(round.cursor)}`,
    ]),
    `time per page at the end ÷ at the start, median (min-max): before (offset) ` +
    `${formatRatio(r.offsetRatio)}, after (starting_after) ${formatRatio(r.cursorRatio)} ` +
    `(target <= 1.50): ${r.cursorRatio.median <= 1.5 ? "met" : "NOT met"}`,
  ].join("\n");
}

if (import.meta.main) {
  const r = await runDeepPagingBench(
    Number(Deno.args[0] ?? "200000"),
    Number(Deno.args[1] ?? "3"),
  );
  console.log(formatDeepPagingReport(r));
}
