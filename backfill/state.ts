/**
 * The resume file of a backfill: the phase (users, organizations, memberships), where the last
 * committed page of that phase's listing ended, and the counts so far.
 */
import { isKind, type Kind, KINDS, NOUN, type PerKind, perKind } from "./kinds.ts";
import { readTextFileIfExists } from "./optional_file.ts";
import type { Cursor } from "./pages.ts";

/** Per-outcome counts of a run. */
export interface Counts {
  applied: number;
  /** Inferred tombstones lifted because Clerk lists the object: the row was written again. */
  restored: number;
  stale: number;
  unchanged: number;
  failed: number;
}

/** An object the run could not write, and why. */
export interface Failure {
  kind: Kind;
  /** The Clerk id (`user_...`, `org_...`, `orgmem_...`). */
  id: string;
  reason: string;
}

/** What `--resume` continues from. */
export interface BackfillState {
  /** 3 since the state has phases; older files are refused (start over). */
  version: 3;
  /** Clerk API URL and Supabase URL of the run: a resume must target the same pair. */
  target: string;
  /** The listing being read; the phases before it are complete. */
  phase: Kind;
  /** Where the phase's listing stands after its last committed page. */
  cursor: Cursor;
  /** Objects of the phase written so far: the sum of `counts[phase]`. */
  done: number;
  /** Clerk's count of the phase's objects when that page was read. */
  total: number;
  /** Per kind; the kinds after `phase` are all zero. */
  counts: PerKind<Counts>;
  /** The first failures (at most {@linkcode MAX_FAILURES_KEPT}). */
  failures: Failure[];
  startedAt: string;
  updatedAt: string;
}

/** How many failures the state keeps for the summary. */
export const MAX_FAILURES_KEPT = 100;

/** How far Clerk's clock may run ahead of this machine's before a cursor counts as future. */
export const CLOCK_SKEW_MS = 5 * 60_000;

const COUNT_KEYS = ["applied", "restored", "stale", "unchanged", "failed"] as const;

/** Zero counts. */
export function emptyCounts(): Counts {
  return { applied: 0, restored: 0, stale: 0, unchanged: 0, failed: 0 };
}

/** Zero counts for every kind. */
export function emptyKindCounts(): PerKind<Counts> {
  return perKind(emptyCounts);
}

/** `a - b` per outcome. */
export function subtractCounts(a: Counts, b: Counts): Counts {
  const result = emptyCounts();
  for (const key of COUNT_KEYS) result[key] = a[key] - b[key];
  return result;
}

/** The sum of the outcomes: the objects counted. */
export function countsTotal(counts: Counts): number {
  return COUNT_KEYS.reduce((n, key) => n + counts[key], 0);
}

/** The state file cannot be used: unreadable, malformed, or not matching what Clerk reports. */
export class StateError extends Error {
  override name = "StateError";
}

/**
 * Reads the state file; null when there is none. Throws {@linkcode StateError} when it is not a
 * consistent state (its phase's counts must add up to `done`, later phases must be untouched,
 * none negative, and so on).
 */
export async function loadState(path: string): Promise<BackfillState | null> {
  const text = await readTextFileIfExists(path);
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw unusable(path, "it is not JSON");
  }
  const problem = stateProblem(value);
  if (problem) throw unusable(path, problem);
  return value as BackfillState;
}

/**
 * Checks a loaded state against what Clerk reports now for the state's phase: its cursor may not
 * lie in the future (more than {@linkcode CLOCK_SKEW_MS} ahead of `now`) nor past Clerk's current
 * count of that listing. Throws {@linkcode StateError}.
 */
export function checkResume(
  path: string,
  state: BackfillState,
  clerk: { total: number; now: number },
): void {
  const { offset, lastCreatedAt } = state.cursor;
  const noun = NOUN[state.phase];
  if (lastCreatedAt !== null && lastCreatedAt > clerk.now + CLOCK_SKEW_MS) {
    throw unusable(
      path,
      `its cursor is in the future (a ${noun.one} created at ${
        new Date(lastCreatedAt).toISOString()
      })`,
    );
  }
  if (offset > clerk.total) {
    throw unusable(
      path,
      `its cursor (offset ${offset}) is past the ${clerk.total} ${noun.many} Clerk has now ` +
        `(${noun.many} deleted since, or another instance)`,
    );
  }
}

/** Writes the state file atomically (temp file, then rename), so a crash leaves a whole file. */
export async function saveState(path: string, state: BackfillState): Promise<void> {
  const temp = `${path}.tmp`;
  await Deno.writeTextFile(temp, JSON.stringify(state, null, 2) + "\n");
  await Deno.rename(temp, path);
}

/** Removes the state file after a finished run. */
export async function clearState(path: string): Promise<void> {
  await Deno.remove(path).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

function unusable(path: string, problem: string): StateError {
  return new StateError(
    `${path} cannot be resumed: ${problem}. Start over without --resume ` +
      "(safe: every write is guarded, only slower)",
  );
}

// What is wrong with a parsed state file, or null when it is consistent.
function stateProblem(value: unknown): string | null {
  if (!isObject(value)) return "it is not a backfill state file";
  if (value.version === 1 || value.version === 2) return "it was written by an older version";
  if (value.version !== 3 || typeof value.target !== "string") {
    return "it is not a backfill state file";
  }
  const { phase, cursor, counts, failures } = value;
  if (!isKind(phase)) return "its phase is not users, organizations or memberships";
  if (
    !isObject(cursor) || !isCount(cursor.offset) || !Array.isArray(cursor.lastIds) ||
    !cursor.lastIds.every((id) => typeof id === "string") ||
    !(cursor.lastCreatedAt === null ||
      (Number.isSafeInteger(cursor.lastCreatedAt) && (cursor.lastCreatedAt as number) > 0))
  ) return "its cursor is malformed";
  if (!isCount(value.done) || !isCount(value.total)) return "done or total is not a count";
  if (
    !isObject(counts) ||
    !KINDS.every((kind) =>
      isObject(counts[kind]) && COUNT_KEYS.every((key) => isCount(kindCounts(counts, kind)[key]))
    )
  ) {
    return "its counts are not all counts (integers >= 0)";
  }
  const sum = countsTotal(kindCounts(counts, phase));
  if (sum !== value.done) {
    return `its counts of ${phase} add up to ${sum}, not to done (${value.done})`;
  }
  const later = KINDS.slice(KINDS.indexOf(phase) + 1).find((kind) =>
    countsTotal(kindCounts(counts, kind)) > 0
  );
  if (later) return `it counts ${later} before their phase`;
  const failed = KINDS.reduce((n, kind) => n + kindCounts(counts, kind).failed, 0);
  if (
    !Array.isArray(failures) || failures.length > MAX_FAILURES_KEPT ||
    failures.length > failed ||
    !failures.every((f) =>
      isObject(f) && isKind(f.kind) && typeof f.id === "string" && typeof f.reason === "string"
    )
  ) return "its failures do not match its counts";
  if (!isTime(value.startedAt) || !isTime(value.updatedAt)) return "its times are malformed";
  return null;
}

function kindCounts(counts: Record<string, unknown>, kind: Kind): Counts {
  return counts[kind] as Counts;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isTime(value: unknown): boolean {
  return typeof value === "string" && !Number.isNaN(Date.parse(value));
}
