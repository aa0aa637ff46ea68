/** Retries with backoff: `Retry-After` for rate limits, exponential backoff for transient faults. */

/** How to treat a failed attempt. */
export type Verdict =
  /** 429: wait as long as the server asked (or back off when it did not say). */
  | { kind: "rate_limited"; delayMs: number | null; reason: string }
  /** 5xx, network, timeouts: back off exponentially. */
  | { kind: "transient"; reason: string }
  /** Anything else: give up at once. */
  | { kind: "fatal" };

/** Reported before each wait. */
export interface RetryNotice {
  attempt: number;
  delayMs: number;
  reason: string;
}

/** Options of {@linkcode withRetry}. */
export interface RetryPolicy {
  /** Attempts in a row that may fail transiently (default 6). */
  maxAttempts?: number;
  /** Rate-limit answers in a row to wait out (default 30). */
  maxRateLimitWaits?: number;
  /** First backoff delay (default 500 ms); doubles per attempt. */
  baseDelayMs?: number;
  /** Longest backoff delay (default 30 s). */
  maxDelayMs?: number;
  /** Called before each wait. */
  onRetry?: (notice: RetryNotice) => void;
  /** Stops waiting (and retrying) when aborted. */
  signal?: AbortSignal;
}

/** Runs `attempt` until it succeeds, `classify` calls a failure fatal, or the budget is spent. */
export async function withRetry<T>(
  attempt: () => Promise<T>,
  classify: (error: unknown) => Verdict,
  policy: RetryPolicy = {},
): Promise<T> {
  const maxAttempts = policy.maxAttempts ?? 6;
  const maxRateLimitWaits = policy.maxRateLimitWaits ?? 30;
  const baseDelayMs = policy.baseDelayMs ?? 500;
  const maxDelayMs = policy.maxDelayMs ?? 30_000;
  let failures = 0;
  let rateLimited = 0;
  for (let n = 1;; n++) {
    policy.signal?.throwIfAborted();
    try {
      return await attempt();
    } catch (error) {
      const verdict = classify(error);
      if (verdict.kind === "fatal" || policy.signal?.aborted) throw error;
      let delayMs: number;
      if (verdict.kind === "rate_limited") {
        if (++rateLimited > maxRateLimitWaits) throw error;
        delayMs = verdict.delayMs ?? backoff(rateLimited, baseDelayMs, maxDelayMs);
      } else {
        if (++failures >= maxAttempts) throw error;
        delayMs = backoff(failures, baseDelayMs, maxDelayMs);
      }
      policy.onRetry?.({ attempt: n, delayMs, reason: verdict.reason });
      await sleep(delayMs, policy.signal);
    }
  }
}

// Exponential with jitter in [50%, 100%], so parallel clients do not retry in lockstep.
function backoff(failures: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** (failures - 1));
  return Math.round(ceiling * (0.5 + Math.random() / 2));
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
