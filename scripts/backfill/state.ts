/** The resume file of a backfill: where the last committed page ended, and the counts so far. */
import { readTextFileIfExists } from "../optional_file.ts";
import type { Cursor } from "./pages.ts";

/** Per-outcome counts of a run. */
export interface Counts {
  applied: number;
  stale: number;
  unchanged: number;
  failed: number;
}

/** A user the run could not write, and why. */
export interface Failure {
  userId: string;
  reason: string;
}

/** What `--resume` continues from. */
export interface BackfillState {
  version: 1;
  /** Clerk API URL and Supabase URL of the run: a resume must target the same pair. */
  target: string;
  /** Where the listing stands after the last committed page. */
  cursor: Cursor;
  /** Users read and written so far. */
  done: number;
  /** Clerk's user count when that page was read. */
  total: number;
  counts: Counts;
  /** The first failures (at most {@linkcode MAX_FAILURES_KEPT}). */
  failures: Failure[];
  startedAt: string;
  updatedAt: string;
}

/** How many failures the state keeps for the summary. */
export const MAX_FAILURES_KEPT = 100;

/** Zero counts. */
export function emptyCounts(): Counts {
  return { applied: 0, stale: 0, unchanged: 0, failed: 0 };
}

/** Reads the state file; null when there is none. Throws when it is unreadable. */
export async function loadState(path: string): Promise<BackfillState | null> {
  const text = await readTextFileIfExists(path);
  if (text === null) return null;
  const state: unknown = JSON.parse(text);
  if (!isState(state)) throw new Error(`${path} is not a backfill state file`);
  return state;
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

function isState(value: unknown): value is BackfillState {
  if (typeof value !== "object" || value === null) return false;
  const s = value as Record<string, unknown>;
  const counts = s.counts as Record<string, unknown> | undefined;
  const cursor = s.cursor as Record<string, unknown> | undefined;
  return s.version === 1 && typeof s.target === "string" && typeof cursor === "object" &&
    cursor !== null && Number.isInteger(cursor.offset) &&
    (cursor.lastCreatedAt === null || typeof cursor.lastCreatedAt === "number") &&
    Array.isArray(cursor.lastIds) && Number.isInteger(s.done) &&
    Number.isInteger(s.total) && typeof counts === "object" && counts !== null &&
    ["applied", "stale", "unchanged", "failed"].every((k) => Number.isInteger(counts[k])) &&
    Array.isArray(s.failures) && typeof s.startedAt === "string";
}
