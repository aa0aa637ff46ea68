/**
 * The backfill's run loop: every Clerk user, then every organization, then every membership, page
 * by page through the source (clerk_source.ts, read one page ahead), the mapper (rows.ts) and the
 * writer (writer.ts). It alone owns the resume state (state.ts): resumable in any phase.
 */
import { printable } from "../supabase/functions/_shared/log.ts";
import {
  type ClerkInstance,
  type ClerkListing,
  type ClerkObject,
  type ClerkSources,
  isOrganizationsOff,
  type Page,
} from "./clerk_source.ts";
import { checkClerkInstance } from "./instance.ts";
import { type Kind, KINDS, NOUN, type PerKind, perKind } from "./kinds.ts";
import { type Counts, countsTotal, emptyKindCounts, errorText, type Failure } from "./outcomes.ts";
import { type Progress, silentProgress } from "./progress.ts";
import { handled, readPages } from "./read_ahead.ts";
import { mapItems, ROWS } from "./rows.ts";
import {
  type BackfillState,
  checkResume,
  clearState,
  loadState,
  MAX_FAILURES_KEPT,
  saveState,
  StateError,
} from "./state.ts";
import type { BackfillStore } from "./store.ts";
import { writeRows, type Written } from "./writer.ts";

/** Pages written at the same time by default (disjoint objects: their locks never collide). */
export const DEFAULT_CONCURRENCY = 4;

/** Options of {@linkcode runBackfill}. */
export interface BackfillOptions {
  /** The resume file, written after every committed page and removed at the end. */
  statePath: string;
  /** Continue from the resume file when there is one. */
  resume: boolean;
  /** Identifies the Clerk instance and project (a resume must match it). */
  target: string;
  /** Makes the progress display of a phase once its starting point is known. */
  progress?: (kind: Kind, startDone: number) => Progress;
  /** Notes for the operator (instance, resume, retries). */
  log?: (line: string) => void;
  /** Aborting stops the run after the pages being written; `--resume` continues it. */
  signal?: AbortSignal;
  /** Pages written at the same time (default {@linkcode DEFAULT_CONCURRENCY}). */
  concurrency?: number;
}

/** The outcome of a backfill run. */
export interface BackfillResult {
  /** The Clerk instance of the secret key (the one the database follows). */
  instance: ClerkInstance;
  /** False when the Organizations feature is off in the instance: only users were copied. */
  organizationsEnabled: boolean;
  /** The kinds the run covers: all three, or users alone when organizations were off at the start. */
  kinds: Kind[];
  /** Counts over the whole backfill, a resumed run's earlier part included. */
  counts: PerKind<Counts>;
  /** The part of `counts` carried over from the resume file (null unless resumed). */
  carried: PerKind<Counts> | null;
  failures: Failure[];
  /** Clerk's count of each kind when its phase ended in this run (null: not read in this run). */
  totals: PerKind<number | null>;
  /** The phase the run ended in: the last one when it completed. */
  phase: Kind;
  /** Objects written in this run, all kinds. */
  processed: number;
  /** True when the signal stopped the run before the last page of the last phase. */
  interrupted: boolean;
  seconds: number;
}

/**
 * Checks the key's Clerk instance against the database's (refusing another one before anything
 * is read or written), finds out whether Organizations is on, then pages through Clerk's users,
 * organizations and memberships (each oldest first) and writes each page in one database call.
 * The phases run in that order, each to its end: a membership needs its organization's row.
 */
export async function runBackfill(
  sources: ClerkSources,
  store: BackfillStore,
  options: BackfillOptions,
): Promise<BackfillResult> {
  const log = options.log ?? (() => {});
  const started = performance.now();
  const { instance } = await checkClerkInstance(sources, store, {
    source: "backfill",
    record: true,
    log,
  });
  const enabledAtStart = await sources.organizationsEnabled();
  let organizationsEnabled = enabledAtStart;
  const now = new Date().toISOString();
  let state: BackfillState = {
    version: 4,
    target: options.target,
    phase: KINDS[0],
    cursor: sources[KINDS[0]].start,
    done: 0,
    total: 0,
    counts: emptyKindCounts(),
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
  let carried: PerKind<Counts> | null = null;
  let resuming: BackfillState | null = null;
  if (saved && options.resume) {
    if (saved.target !== options.target) {
      throw new Error(
        `${options.statePath} belongs to another run (${saved.target}); remove it to start over`,
      );
    }
    state = saved;
    resuming = saved;
    carried = structuredClone(saved.counts);
  } else if (saved) {
    log(
      `Found an unfinished run (${saved.phase}: ${saved.done} done); starting over ` +
        "(--resume continues it).",
    );
  } else if (options.resume) {
    log(`No ${options.statePath} to resume from; starting from the first user.`);
  }

  const totals: PerKind<number | null> = perKind(() => null);
  let complete = true;
  for (const kind of KINDS.slice(KINDS.indexOf(state.phase))) {
    if (kind !== "users" && !organizationsEnabled) continue;
    if (kind !== state.phase) {
      // The previous phase is complete: the state file now says so.
      state = {
        ...state,
        phase: kind,
        cursor: sources[kind].start,
        done: 0,
        total: 0,
        updatedAt: iso(),
      };
      await saveState(options.statePath, state);
    }
    if (options.signal?.aborted) {
      complete = false;
      break;
    }
    let phase: { state: BackfillState; complete: boolean };
    try {
      const total = await sources[kind].count();
      if (resuming?.phase === kind) {
        checkResume(options.statePath, resuming, { total, now: Date.now() });
        log(
          `Resuming ${NOUN[kind].many} after ${state.done} of ${total} ` +
            `(from ${options.statePath}).`,
        );
      }
      state = { ...state, total };
      phase = await runPhase(kind, sources[kind], store, state, options);
    } catch (error) {
      // Turned off in Clerk during the run: as if it had been off from the start.
      if (kind === "users" || !isOrganizationsOff(error)) throw error;
      organizationsEnabled = false;
      log(`Clerk answered that organizations are off in this instance; skipping ${kind}.`);
      continue;
    }
    state = phase.state;
    totals[kind] = state.total;
    if (!phase.complete) {
      complete = false;
      break;
    }
  }
  if (complete) await clearState(options.statePath);
  const carriedTotal = carried ? KINDS.reduce((n, k) => n + countsTotal(carried[k]), 0) : 0;
  return {
    instance,
    organizationsEnabled,
    kinds: enabledAtStart ? [...KINDS] : ["users"],
    counts: state.counts,
    carried,
    failures: state.failures,
    totals,
    phase: enabledAtStart ? state.phase : "users",
    processed: KINDS.reduce((n, k) => n + countsTotal(state.counts[k]), 0) - carriedTotal,
    interrupted: !complete,
    seconds: (performance.now() - started) / 1000,
  };
}

function iso(): string {
  return new Date().toISOString();
}

/** Reads one listing from the state's cursor to its end (or an interrupt), committing pages. */
async function runPhase(
  kind: Kind,
  listing: ClerkListing<ClerkObject>,
  store: BackfillStore,
  initial: BackfillState,
  options: BackfillOptions,
): Promise<{ state: BackfillState; complete: boolean }> {
  const log = options.log ?? (() => {});
  let state = initial;
  const progress = options.progress?.(kind, state.done) ?? silentProgress;
  progress.update(state.done, state.total);
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const queue: { page: Page<ClerkObject>; written: Promise<Written> }[] = [];
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
    const counts = { ...state.counts[kind] };
    for (const outcome of written.outcomes.values()) counts[outcome]++;
    counts.failed += written.failures.length;
    // Each object written counts once, so that the counts always add up to done.
    const done = state.done + written.outcomes.size + written.failures.length;
    state = {
      ...state,
      cursor: page.cursor,
      done,
      total: Math.max(page.totalCount ?? state.total, done),
      counts: { ...state.counts, [kind]: counts },
      failures: [...state.failures, ...written.failures].slice(0, MAX_FAILURES_KEPT),
      updatedAt: iso(),
    };
    await saveState(options.statePath, state);
    progress.update(state.done, state.total);
    complete = page.last;
  }

  try {
    for await (const page of readPages(listing, state.cursor, options.signal)) {
      // Interrupted: start nothing new. A page read but not written is read again on resume.
      if (options.signal?.aborted || writeError !== undefined) break;
      queue.push({ page, written: handled(writePage(store, kind, page.items)) });
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
    log(`Stopped while waiting: ${printable(errorText(failure))}`);
  }
  return { state, complete };
}

// The mapper, then the writer.
async function writePage(store: BackfillStore, kind: Kind, items: ClerkObject[]) {
  const mapped = mapItems(ROWS[kind], items);
  const written = await writeRows(store, ROWS[kind], mapped.rows);
  return { outcomes: written.outcomes, failures: [...mapped.failures, ...written.failures] };
}
