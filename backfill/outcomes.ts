/** What a run did with each object: counts per outcome, and the objects it could not write. */
import type { Kind, PerKind } from "./kinds.ts";
import { perKind } from "./kinds.ts";

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

/** The outcomes, in the order the summary shows them. */
export const COUNT_KEYS = ["applied", "restored", "stale", "unchanged", "failed"] as const;

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

/** An error's message. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
