/** Reconcile: compares Clerk with public.profiles, and with `apply` repairs the drift. */
import type { ClerkUserJson } from "../../supabase/functions/clerk-webhook/clerk_user.ts";
import type { ClerkSource } from "./clerk_source.ts";
import { mapUsers, readPages, START, text, writeProfiles } from "./pages.ts";
import { type Progress, silentProgress } from "./progress.ts";
import { type Counts, emptyCounts, type Failure } from "./state.ts";
import type { BackfillStore } from "./store.ts";

/** Options of {@linkcode runReconcile}. */
export interface ReconcileOptions {
  /** Repair: write missing and outdated users, tombstone orphans. Otherwise only report. */
  apply: boolean;
  /** Refuse to tombstone more orphans than this (default 100): a wrong Clerk key looks like that. */
  maxOrphans?: number;
  progress?: Progress;
  log?: (line: string) => void;
  /** Aborting stops the comparison early; the report is then incomplete. */
  signal?: AbortSignal;
  /** Clock for the orphans' tombstones (default: now). */
  now?: () => Date;
}

/** What reconcile found (and, with `apply`, repaired). */
export interface ReconcileReport {
  apply: boolean;
  /** Users read from Clerk. */
  clerkUsers: number;
  /** Profiles in Supabase when the run started. */
  profiles: number;
  inSync: number;
  /** Rows newer than Clerk's listing: a webhook got there first (not drift). */
  newer: number;
  /** Users listed by Clerk but tombstoned here: deleted while the run read them (not drift). */
  deleted: number;
  /** Clerk users without a row. */
  missing: string[];
  /** Rows older than Clerk. */
  outdated: string[];
  /** Rows whose Clerk user no longer exists. */
  orphans: string[];
  /** With `apply`: outcomes of the writes, and the tombstones made. */
  repaired: (Counts & { tombstoned: number }) | null;
  /** Why orphans were not tombstoned, when refused. */
  refused: string | null;
  failures: Failure[];
  interrupted: boolean;
  seconds: number;
}

/** Users found drifting: missing, outdated and orphaned. */
export function driftCount(report: ReconcileReport): number {
  return report.missing.length + report.outdated.length + report.orphans.length;
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
    orphans: [],
    repaired: options.apply ? { ...emptyCounts(), tombstoned: 0 } : null,
    refused: null,
    failures: [],
    interrupted: false,
    seconds: 0,
  };

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

  async function compare(users: ClerkUserJson[]): Promise<void> {
    const mapped = mapUsers(users);
    report.failures.push(...mapped.failures);
    report.clerkUsers += users.length;
    for (const profile of mapped.profiles) unseen.delete(profile.user_id);
    const states = await store.diffUsers(mapped.profiles.map((p) => ({
      user_id: p.user_id,
      clerk_updated_at: p.clerk_updated_at,
    })));
    const repair = [];
    for (const profile of mapped.profiles) {
      const state = states.get(profile.user_id);
      if (state === "in_sync") report.inSync++;
      else if (state === "newer") report.newer++;
      else if (state === "deleted") report.deleted++;
      else if (state === "missing" || state === "outdated") {
        report[state].push(profile.user_id);
        repair.push(profile);
      } else report.failures.push({ userId: profile.user_id, reason: "no diff state" });
    }
    if (report.repaired && repair.length > 0) {
      const written = await writeProfiles(store, repair);
      for (const outcome of written.outcomes.values()) report.repaired[outcome]++;
      report.repaired.failed += written.failures.length;
      report.failures.push(...written.failures);
    }
  }

  let total = await source.count();
  progress.update(0, total);
  let complete = false;
  try {
    for await (const page of readPages(source, START, options.signal)) {
      if (options.signal?.aborted) break;
      total = page.totalCount;
      await compare(page.users);
      progress.update(report.clerkUsers, total);
      complete = page.last;
    }
  } catch (error) {
    if (!options.signal?.aborted) throw error;
    options.log?.(`Stopped while waiting: ${text(error)}`);
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

  if (report.repaired && report.orphans.length > 0) {
    const max = options.maxOrphans ?? 100;
    if (report.orphans.length > max) {
      report.refused = `${report.orphans.length} profiles have no Clerk user, more than ` +
        `--max-orphans=${max}: is CLERK_SECRET_KEY the key of this project's Clerk instance?`;
    } else {
      const deletedAt = (options.now?.() ?? new Date()).toISOString();
      for (let i = 0; i < report.orphans.length; i += BATCH) {
        const chunk = report.orphans.slice(i, i + BATCH);
        report.repaired.tombstoned += await store.tombstoneUsers(chunk, deletedAt);
      }
    }
  }
  return finish(report, started);
}

function finish(report: ReconcileReport, started: number): ReconcileReport {
  report.seconds = (performance.now() - started) / 1000;
  return report;
}
