/**
 * Reconcile: compares Clerk with public.profiles, and with `apply` repairs the drift. The
 * comparison only reads; the writes come after it, and only if the guards let them.
 */
import type { ClerkUserJson, Profile } from "../supabase/functions/_shared/clerk_user.ts";
import { printable } from "../supabase/functions/_shared/log.ts";
import type { ClerkSource } from "./clerk_source.ts";
import { mapUsers, readPages, START, text, writeProfiles } from "./pages.ts";
import { type Progress, silentProgress } from "./progress.ts";
import { type Counts, emptyCounts, type Failure } from "./state.ts";
import type { BackfillStore } from "./store.ts";

/** Default of `--max-orphans`. */
export const DEFAULT_MAX_ORPHANS = 100;

/** Default of `--max-orphan-percent`. */
export const DEFAULT_MAX_ORPHAN_PERCENT = 10;

/** Options of {@linkcode runReconcile}. */
export interface ReconcileOptions {
  /** Repair: write missing, outdated and restorable users, tombstone orphans. Else only report. */
  apply: boolean;
  /** Refuse to repair when more profiles than this are orphans (default 100). */
  maxOrphans?: number;
  /** Refuse to repair when more than this percentage of the profiles are orphans (default 10). */
  maxOrphanPercent?: number;
  progress?: Progress;
  log?: (line: string) => void;
  /** Aborting stops the comparison early; the report is then incomplete and nothing is written. */
  signal?: AbortSignal;
  /** Clock for the orphans' tombstones (default: now). */
  now?: () => Date;
}

/** What reconcile found (and, with `apply`, repaired). */
export interface ReconcileReport {
  apply: boolean;
  /** Users read from Clerk (its listing, then the lookup by id of orphan candidates). */
  clerkUsers: number;
  /** Profiles in Supabase when the run started. */
  profiles: number;
  inSync: number;
  /** Rows newer than Clerk's listing: a webhook got there first (not drift). */
  newer: number;
  /** Users listed by Clerk with an announced tombstone: deleted meanwhile (not drift). */
  deleted: number;
  /** Clerk users without a row. */
  missing: string[];
  /** Rows older than Clerk. */
  outdated: string[];
  /** Users listed by Clerk whose tombstone was inferred: `apply` restores them. */
  restorable: string[];
  /** Rows whose Clerk user no longer exists. */
  orphans: string[];
  /** With `apply`: outcomes of the writes, and the tombstones made. */
  repaired: (Counts & { tombstoned: number }) | null;
  /** Why the drift may not be repaired (with `apply`: nothing was written). */
  refused: string | null;
  failures: Failure[];
  interrupted: boolean;
  seconds: number;
}

/** Users found drifting: missing, outdated, restorable and orphaned. */
export function driftCount(report: ReconcileReport): number {
  return report.missing.length + report.outdated.length + report.restorable.length +
    report.orphans.length;
}

/** Drift that is still there at the end: all of it in a dry run, what `apply` did not settle. */
export function remainingDrift(report: ReconcileReport): number {
  const r = report.repaired;
  if (!r) return driftCount(report);
  // A stale or unchanged write is settled too: a webhook wrote newer data or deleted the user.
  const settled = r.applied + r.restored + r.stale + r.unchanged + r.tombstoned;
  return Math.max(0, driftCount(report) - settled);
}

const ID_PAGE = 5000;
const BATCH = 1000;

/** Runs the comparison; see {@linkcode ReconcileReport}. */
export async function runReconcile(
  source: ClerkSource,
  store: BackfillStore,
  options: ReconcileOptions,
): Promise<ReconcileReport> {
  const started = performance.now();
  const progress = options.progress ?? silentProgress;
  const report: ReconcileReport = {
    apply: options.apply,
    clerkUsers: 0,
    profiles: 0,
    inSync: 0,
    newer: 0,
    deleted: 0,
    missing: [],
    outdated: [],
    restorable: [],
    orphans: [],
    repaired: null,
    refused: null,
    failures: [],
    interrupted: false,
    seconds: 0,
  };
  // The mapped profiles of the users to write, kept until the comparison is complete. Drift is
  // normally small; a whole missing table is the backfill's job.
  const repair: Profile[] = [];

  // Profiles that exist before Clerk is read. One that Clerk's listing does not show is an
  // orphan candidate; rows created later (by the webhook) are never candidates.
  const unseen = new Set<string>();
  for (let after: string | null = null;;) {
    const ids = await store.listProfileIds(after, ID_PAGE);
    for (const id of ids) unseen.add(id);
    if (ids.length < ID_PAGE) break;
    after = ids[ids.length - 1];
  }
  report.profiles = unseen.size;

  // Read-only: classifies users against the mirror and remembers what to write.
  async function compare(users: ClerkUserJson[]): Promise<void> {
    const mapped = mapUsers(users);
    report.clerkUsers += users.length;
    report.failures.push(...mapped.failures);
    for (const profile of mapped.profiles) unseen.delete(profile.user_id);
    const states = await store.diffUsers(mapped.profiles.map((p) => ({
      user_id: p.user_id,
      clerk_updated_at: p.clerk_updated_at,
    })));
    for (const profile of mapped.profiles) {
      const state = states.get(profile.user_id);
      if (state === "in_sync") report.inSync++;
      else if (state === "newer") report.newer++;
      else if (state === "deleted") report.deleted++;
      else if (state === "missing" || state === "outdated" || state === "restorable") {
        report[state].push(profile.user_id);
        repair.push(profile);
      } else report.failures.push({ userId: profile.user_id, reason: "no diff state" });
    }
  }

  let total = await source.count();
  progress.update(0, total);
  let complete = false;
  let listed = 0;
  try {
    for await (const page of readPages(source, START, options.signal)) {
      if (options.signal?.aborted) break;
      total = page.totalCount;
      listed += page.users.length;
      await compare(page.users);
      progress.update(report.clerkUsers, total);
      complete = page.last;
    }
  } catch (error) {
    if (!options.signal?.aborted) throw error;
    options.log?.(`Stopped while waiting: ${printable(text(error))}`);
  } finally {
    progress.finish();
  }
  report.interrupted = !complete;
  if (report.interrupted) return finish(report, started);

  // Ask Clerk about each candidate by id before calling it an orphan (a listing is not a
  // snapshot), and compare the ones that do exist.
  const candidates = [...unseen];
  const found = await source.lookup(candidates);
  for (let i = 0; i < found.length; i += BATCH) await compare(found.slice(i, i + BATCH));
  const existing = new Set(found.map((user) => user.id));
  report.orphans = candidates.filter((id) => !existing.has(id)).sort();

  report.refused = refusal(report, listed, options);
  if (!options.apply || report.refused) return finish(report, started);

  // Everything is compared and the guards agree: now write.
  const repaired = { ...emptyCounts(), tombstoned: 0 };
  report.repaired = repaired;
  for (let i = 0; i < repair.length; i += BATCH) {
    const written = await writeProfiles(store, repair.slice(i, i + BATCH));
    for (const outcome of written.outcomes.values()) repaired[outcome]++;
    repaired.failed += written.failures.length;
    report.failures.push(...written.failures);
  }
  const deletedAt = (options.now?.() ?? new Date()).toISOString();
  for (let i = 0; i < report.orphans.length; i += BATCH) {
    const chunk = report.orphans.slice(i, i + BATCH);
    repaired.tombstoned += await store.tombstoneUsers(chunk, deletedAt);
  }
  return finish(report, started);
}

/**
 * Why the drift looks like a wrong `CLERK_SECRET_KEY` (another instance's) rather than real
 * deletions, or null. A listing of no users while profiles exist is always refused; otherwise
 * the orphans may be neither more than `maxOrphans` nor more than `maxOrphanPercent` of the
 * profiles.
 */
function refusal(
  report: ReconcileReport,
  listed: number,
  options: ReconcileOptions,
): string | null {
  const question = "is CLERK_SECRET_KEY the key of this project's Clerk instance?";
  if (listed === 0 && report.profiles > 0) {
    return `Clerk listed no users while profiles holds ${report.profiles}: ${question}`;
  }
  const orphans = report.orphans.length;
  const max = options.maxOrphans ?? DEFAULT_MAX_ORPHANS;
  const percent = options.maxOrphanPercent ?? DEFAULT_MAX_ORPHAN_PERCENT;
  const share = report.profiles > 0 ? (orphans / report.profiles) * 100 : 0;
  const over = [
    ...(orphans > max ? [`more than --max-orphans=${max}`] : []),
    ...(orphans * 100 > percent * report.profiles
      ? [`more than --max-orphan-percent=${percent} (${share.toFixed(1)}%)`]
      : []),
  ];
  if (over.length === 0) return null;
  return `${orphans} of ${report.profiles} profiles have no Clerk user, ${
    over.join(" and ")
  }: ${question}`;
}

function finish(report: ReconcileReport, started: number): ReconcileReport {
  report.seconds = (performance.now() - started) / 1000;
  return report;
}
