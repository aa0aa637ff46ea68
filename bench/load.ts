// A closed-loop load generator: `concurrency` workers take the next item until none are left,
// timing each call. A call that throws counts as an error.

/** What one run of {@linkcode runLoad} recorded. */
export interface LoadSample {
  seconds: number;
  /** Milliseconds per call. */
  latencies: number[];
  errors: number;
  /** How many calls answered each outcome (`applied`, `stale`, `duplicate`, ...). */
  outcomes: Record<string, number>;
  firstError?: string;
}

/** What one load level measured. */
export interface LoadResult {
  events: number;
  concurrency: number;
  seconds: number;
  eventsPerSecond: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  errors: number;
  outcomes: Record<string, number>;
  /** The first error message, when there were errors. */
  firstError?: string;
}

/** Calls `send` once per item with `concurrency` calls in flight; `send` returns the outcome. */
export async function runLoad<T>(
  items: readonly T[],
  concurrency: number,
  send: (item: T) => Promise<string>,
): Promise<LoadSample> {
  const latencies: number[] = [];
  const outcomes: Record<string, number> = {};
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;

  async function worker(): Promise<void> {
    while (next < items.length) {
      const item = items[next++];
      const start = performance.now();
      try {
        const outcome = await send(item);
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      } catch (error) {
        errors++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
      latencies.push(performance.now() - start);
    }
  }

  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - start) / 1000;
  return { seconds, latencies, errors, outcomes, ...(firstError ? { firstError } : {}) };
}

/** Merges the samples of one level (run in chunks) into its figures. */
export function summarize(samples: readonly LoadSample[], concurrency: number): LoadResult {
  const latencies = samples.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const seconds = samples.reduce((sum, s) => sum + s.seconds, 0);
  const outcomes: Record<string, number> = {};
  for (const sample of samples) {
    for (const [outcome, n] of Object.entries(sample.outcomes)) {
      outcomes[outcome] = (outcomes[outcome] ?? 0) + n;
    }
  }
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  const firstError = samples.find((s) => s.firstError)?.firstError;
  return {
    events: latencies.length,
    concurrency,
    seconds,
    eventsPerSecond: latencies.length / seconds,
    p50Ms: at(0.5),
    p95Ms: at(0.95),
    p99Ms: at(0.99),
    errors: samples.reduce((sum, s) => sum + s.errors, 0),
    outcomes,
    ...(firstError ? { firstError } : {}),
  };
}
