// Ratios measured on one machine in one run: each from pairs run one after the other (the floor
// or peer, then ours, interleaved), reported as the median of the pairs with the spread, because
// this machine's speed moves from minute to minute as well as from day to day.

/** A ratio from several interleaved pairs: each pair's value, their median, min and max. */
export interface RatioSummary {
  runs: number[];
  median: number;
  min: number;
  max: number;
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Summarises per-pair ratios; throws on an empty list. */
export function summarizeRatios(runs: readonly number[]): RatioSummary {
  if (runs.length === 0) throw new Error("a ratio needs at least one pair");
  return { runs: [...runs], median: median(runs), min: Math.min(...runs), max: Math.max(...runs) };
}

/** `0.84 (0.80-0.91)`: the median and the spread, with `digits` decimals. */
export function formatRatio(r: RatioSummary, digits = 2): string {
  return `${r.median.toFixed(digits)} (${r.min.toFixed(digits)}-${r.max.toFixed(digits)})`;
}
