/** The backfill: every Clerk user, page by page, through the guarded batch write. Resumable. */
import { printable } from "../supabase/functions/_shared/log.ts";
import type { ClerkSource } from "./clerk_source.ts";
import {
  type FreshPage,
  handled,
  mapUsers,
  readPages,
  START,
  text,
  writeProfiles,
} from "./pages.ts";
import { type Progress, silentProgress } from "./progress.ts";
import {
  type BackfillState,
  checkResume,
  clearState,
  type Counts,
  emptyCounts,
  type Failure,
  loadState,
  MAX_FAILURES_KEPT,
  saveState,
  StateError,
} from "./state.ts";
import type { BackfillStore, SyncOutcome } from "./store.ts";

/** Pages written at the same time by default (disjoint users: their locks never collide). */
export const DEFAULT_CONCURRENCY = 4;

/** Options of {@linkcode runBackfill}. */
export interface BackfillOptions {
  /** The resume file, written after every committed page and removed at the end. */
  statePath: string;
  /** Continue from the resume file when there is one. */
  resume: boolean;
  /** Identifies the Clerk instance and project (a resume must match it). */
  target: string;
  /** Makes the progress display once the starting point is known. */
  progress?: (startDone: number) => Progress;
  /** Notes for the operator (resume, retries). */
  log?: (line: string) => void;
  /** Aborting stops the run after the pages being written; `--resume` continues it. */
  signal?: AbortSignal;
  /** Pages written at the same time (default {@linkcode DEFAULT_CONCURRENCY}). */
  concurrency?: number;
}

/** The outcome of a backfill run. */
export interface BackfillResult {
  /** Counts over the whole backfill, a resumed run's earlier part included. */
  counts: Counts;
  /** The part of `counts` carried over from the resume file (null unless resumed). */
  carried: Counts | null;
  failures: Failure[];
  /** Users Clerk reported at the end. */
  total: number;
  /** Users read in this run. */
  processed: number;
  /** Users done before this run (0 unless resumed). */
  startDone: number;
  /** True when the signal stopped the run before the last page. */
  interrupted: boolean;
  seconds: number;
}

/** Pages through all Clerk users (oldest first) and writes each page in one database call. */
export async function runBackfill(
  source: ClerkSource,
  store: BackfillStore,
  options: BackfillOptions,
): Promise<BackfillResult> {
  const log = options.log ?? (() => {});
  const started = performance.now();
  const now = new Date().toISOString();
  const total = await source.count();
  let state: BackfillState = {
    version: 2,
    target: options.target,
    cursor: START,
    done: 0,
    total,
    counts: emptyCounts(),
    failures: [],
    startedAt: now,
    updatedAt: now,
  };
  let saved: BackfillState | null = null;
  try {
    saved = await loadState(options.statePath);
  } catch (error) {
    if (options.resume || !(error instanceof StateError)) throw error;
    log(`Found ${options.statePath}, which cannot be resumed; starting over.`);
  }
  let carried: Counts | null = null;
  if (saved && options.resume) {
    if (saved.target !== options.target) {
      throw new Error(
        `${options.statePath} belongs to another run (${saved.target}); remove it to start over`,
      );
    }
    checkResume(options.statePath, saved, { total, now: Date.now() });
    state = { ...saved, total };
    carried = { ...saved.counts };
    log(`Resuming after user ${saved.done} of ${total} (from ${options.statePath}).`);
  } else if (saved) {
    log(`Found an unfinished run after user ${saved.done}; starting over (--resume continues it).`);
  } else if (options.resume) {
    log(`No ${options.statePath} to resume from; starting from the first user.`);
  }

  const startDone = state.done;
  const progress = options.progress?.(startDone) ?? silentProgress;
  progress.update(startDone, total);
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const queue: { page: FreshPage; written: Promise<Written> }[] = [];
  let complete = false;
  let readError: unknown = undefined;
  let writeError: unknown = undefined;

  // Pages are committed (counted, saved to the state file) strictly in order, so that the state
  // always describes a prefix of the listing; after a failed write nothing later is committed.
  async function commitOldest(): Promise<void> {
    const job = queue.shift();
    if (!job) return;
    let written: Written;
    try {
      written = await job.written;
    } catch (error) {
      writeError ??= error;
      return;
    }
    if (writeError !== undefined) return;
    const { page } = job;
    const counts = { ...state.counts };
    for (const outcome of written.outcomes.values()) counts[outcome]++;
    counts.failed += written.failures.length;
    state = {
      ...state,
      cursor: page.cursor,
      // Each user written counts once, so that the counts always add up to done.
      done: state.done + written.outcomes.size + written.failures.length,
      total: page.totalCount,
      counts,
      failures: [...state.failures, ...written.failures].slice(0, MAX_FAILURES_KEPT),
      updatedAt: new Date().toISOString(),
    };
    await saveState(options.statePath, state);
    progress.update(state.done, state.total);
    complete = page.last;
  }

  try {
    for await (const page of readPages(source, state.cursor, options.signal)) {
      // Interrupted: start nothing new. A page read but not written is read again on resume.
      if (options.signal?.aborted || writeError !== undefined) break;
      queue.push({ page, written: handled(writePage(store, page)) });
      while (queue.length >= concurrency) await commitOldest();
    }
  } catch (error) {
    readError = error;
  }
  while (queue.length > 0) await commitOldest();
  progress.finish();
  const failure = writeError ?? readError;
  if (failure !== undefined) {
    if (!options.signal?.aborted) throw failure;
    log(`Stopped while waiting: ${printable(text(failure))}`);
  }
  const interrupted = !complete;
  if (!interrupted) await clearState(options.statePath);
  return {
    counts: state.counts,
    carried,
    failures: state.failures,
    total: state.total,
    processed: state.done - startDone,
    startDone,
    interrupted,
    seconds: (performance.now() - started) / 1000,
  };
}

interface Written {
  outcomes: Map<string, SyncOutcome>;
  failures: Failure[];
}

async function writePage(store: BackfillStore, page: FreshPage): Promise<Written> {
  const mapped = mapUsers(page.users);
  const written = await writeProfiles(store, mapped.profiles);
  return { outcomes: written.outcomes, failures: [...mapped.failures, ...written.failures] };
}
