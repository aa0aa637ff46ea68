/**
 * The resume file of a backfill: the phase (users, organizations, memberships), where the last
 * committed page of that phase's listing ended (its cursor), and the counts so far. Only the run
 * loop (run_backfill.ts) reads and writes it.
 */
import type { Cursor } from "./clerk_source.ts";
import { isKind, type Kind, KINDS, NOUN, type PerKind } from "./kinds.ts";
import { readTextFileIfExists } from "./optional_file.ts";
import { COUNT_KEYS, type Counts, countsTotal, type Failure } from "./outcomes.ts";

/** What `--resume` continues from. */
export interface BackfillState {
  /**
   * 4 since users are read by `starting_after`. Version 3 files (offset cursors in every phase)
   * are read as version 4; older ones are refused (start over).
   */
  version: 4;
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

/** How each phase's listing is paged (clerk_source.ts). */
const PAGED_BY: PerKind<Cursor["by"]> = {
  users: "starting_after",
  organizations: "offset",
  memberships: "offset",
};

/** The state file cannot be used: unreadable, malformed, or not matching what Clerk reports. */
export class StateError extends Error {
  override name = "StateError";
}

/**
 * Reads the state file; null when there is none. A version 3 file is read as version 4 (see
 * {@linkcode fromVersion3}). Throws {@linkcode StateError} when it is not a consistent state (its
 * phase's counts must add up to `done`, later phases must be untouched, none negative, ...).
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
  if (isObject(value) && value.version === 3) value = fromVersion3(value);
  const problem = stateProblem(value);
  if (problem) throw unusable(path, problem);
  return value as BackfillState;
}

/**
 * A version 3 state as version 4. Version 3 read every listing by offset, remembering the newest
 * creation time read and the ids read at that instant in order: in the users phase, the last of
 * those ids is the last user of the last committed page, which is exactly the `starting_after`
 * to continue from (and if that user was deleted since, the read falls back to `created_at_after`
 * from that creation time). The other phases keep their offset.
 */
export function fromVersion3(value: Record<string, unknown>): Record<string, unknown> {
  const cursor = value.cursor;
  if (!isObject(cursor) || !Array.isArray(cursor.lastIds)) return { ...value, version: 4 };
  const seen = { lastCreatedAt: cursor.lastCreatedAt, lastIds: cursor.lastIds };
  const after = cursor.lastIds.at(-1);
  return {
    ...value,
    version: 4,
    cursor: value.phase === "users"
      ? { by: "starting_after", after: typeof after === "string" ? after : null, ...seen }
      : { by: "offset", offset: cursor.offset, ...seen },
  };
}

/**
 * Checks a loaded state against what Clerk reports now for the state's phase: its cursor may not
 * lie in the future (more than {@linkcode CLOCK_SKEW_MS} ahead of `now`), nor, for an offset
 * listing, past Clerk's current count of that listing. Throws {@linkcode StateError}.
 */
export function checkResume(
  path: string,
  state: BackfillState,
  clerk: { total: number; now: number },
): void {
  const { cursor } = state;
  const noun = NOUN[state.phase];
  if (cursor.lastCreatedAt !== null && cursor.lastCreatedAt > clerk.now + CLOCK_SKEW_MS) {
    throw unusable(
      path,
      `its cursor is in the future (a ${noun.one} created at ${
        new Date(cursor.lastCreatedAt).toISOString()
      })`,
    );
  }
  if (cursor.by === "offset" && cursor.offset > clerk.total) {
    throw unusable(
      path,
      `its cursor (offset ${cursor.offset}) is past the ${clerk.total} ${noun.many} Clerk has ` +
        `now (${noun.many} deleted since, or another instance)`,
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
  if (value.version !== 4 || typeof value.target !== "string") {
    return "it is not a backfill state file";
  }
  const { phase, cursor, counts, failures } = value;
  if (!isKind(phase)) return "its phase is not users, organizations or memberships";
  if (!isCursor(cursor) || cursor.by !== PAGED_BY[phase]) return "its cursor is malformed";
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

function isCursor(value: unknown): value is Cursor {
  if (!isObject(value)) return false;
  const seen = Array.isArray(value.lastIds) &&
    value.lastIds.every((id) => typeof id === "string") &&
    (value.lastCreatedAt === null ||
      (Number.isSafeInteger(value.lastCreatedAt) && (value.lastCreatedAt as number) > 0));
  if (!seen) return false;
  if (value.by === "offset") return isCount(value.offset);
  return value.by === "starting_after" &&
    (value.after === null || (typeof value.after === "string" && value.after !== ""));
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
