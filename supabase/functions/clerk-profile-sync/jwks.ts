// Clerk's JWKS for clerk-profile-sync without CLERK_JWT_KEY, fetched here rather than by
// @clerk/backend's verifyToken: the SDK fetches `GET /v1/jwks` for every token whose key id it has
// not cached (so each unknown kid costs a fetch), retries a failed fetch for 2 to 4 s, shares
// nothing between concurrent verifications and sets no deadline (tokens/keys.ts
// `loadClerkJWKFromRemote` in @clerk/backend 3.25). Here, per isolate:
// - one fetch at a time, shared by every request that needs it, with a deadline (aborted);
// - at most one fetch per cooldown (30 s after a success, 5 s or Clerk's Retry-After after a
//   failure); in between, a key id the last fetch did not list is refused at once (401);
// - at most `maxWaiting` requests wait for a fetch; more are answered 503 with Retry-After;
// - keys fetched more than 5 minutes ago (the SDK's cache age) are refreshed in the background on
//   their next use, and keep verifying until a refresh replaces them.
import { ConfigError } from "../_shared/errors.ts";
import {
  AuthError,
  ClerkRateLimitError,
  ClerkResponseError,
  ClerkUnavailableError,
  KeysBusyError,
} from "./errors.ts";

/** The public keys of the instance, by key id. */
export interface KeySet {
  /**
   * The key for `kid` as a JWK `{kty, n, e}`. Throws {@linkcode AuthError} `jwk-kid-mismatch`
   * (401) when Clerk does not list it, {@linkcode KeysBusyError} (503) when too many requests
   * wait for a fetch, ClerkUnavailableError (503) or ConfigError (500) when the fetch failed.
   */
  key(kid: string): Promise<JsonWebKey>;
}

/** Options of {@linkcode createKeySet}; the defaults are the constants below. */
export interface KeySetOptions {
  /** `GET /v1/jwks`: the `keys` array; aborts when `signal` does. */
  fetchKeys(signal: AbortSignal): Promise<unknown[]>;
  cooldownMs?: number;
  failureCooldownMs?: number;
  timeoutMs?: number;
  refreshAfterMs?: number;
  maxWaiting?: number;
  /** Default `Date.now`. */
  now?: () => number;
}

/** After a successful fetch, the next one is at least this much later. */
export const JWKS_COOLDOWN_MS = 30_000;
/** After a failed fetch, the next one is at least this much later (or Clerk's Retry-After). */
export const JWKS_FAILURE_COOLDOWN_MS = 5_000;
/** A fetch not answered within this long is aborted: 503. */
export const JWKS_TIMEOUT_MS = 3_000;
/** Keys are refreshed (in the background) on their first use after this long. */
export const JWKS_REFRESH_AFTER_MS = 5 * 60_000;
/** The most requests that wait for one fetch. */
export const JWKS_MAX_WAITING = 1_000;

const WHAT = "GET /v1/jwks";

/** A key set over `fetchKeys` with the rules above. */
export function createKeySet(options: KeySetOptions): KeySet {
  const cooldownMs = options.cooldownMs ?? JWKS_COOLDOWN_MS;
  const failureCooldownMs = options.failureCooldownMs ?? JWKS_FAILURE_COOLDOWN_MS;
  const timeoutMs = options.timeoutMs ?? JWKS_TIMEOUT_MS;
  const refreshAfterMs = options.refreshAfterMs ?? JWKS_REFRESH_AFTER_MS;
  const maxWaiting = options.maxWaiting ?? JWKS_MAX_WAITING;
  const now = options.now ?? Date.now;

  let keys = new Map<string, JsonWebKey>();
  let fetchedAt = -Infinity;
  let attemptedAt = -Infinity;
  let nextAttemptAt = -Infinity;
  let failure: Error | null = null;
  let flight: Promise<void> | null = null;
  let waiting = 0;

  function refresh(): void {
    attemptedAt = now();
    flight = fetchWithDeadline().then(
      (list) => {
        const parsed = parseKeys(list);
        if (parsed.size === 0) {
          throw new ClerkResponseError(`Clerk's Backend API answered a JWKS without RSA keys`);
        }
        keys = parsed;
        fetchedAt = now();
        nextAttemptAt = attemptedAt + cooldownMs;
        failure = null;
      },
    ).catch((error) => {
      failure = error instanceof Error ? error : new Error(String(error));
      const retryAfterMs = error instanceof ClerkRateLimitError
        ? (error.retryAfterSeconds ?? 0) * 1000
        : 0;
      nextAttemptAt = attemptedAt + Math.max(failureCooldownMs, retryAfterMs);
    }).finally(() => {
      flight = null;
    });
  }

  async function fetchWithDeadline(): Promise<unknown[]> {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(
          new ClerkUnavailableError(
            `Clerk's Backend API did not answer within ${timeoutMs} ms (${WHAT})`,
          ),
        );
      }, timeoutMs);
    });
    try {
      return await Promise.race([options.fetchKeys(controller.signal), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  function secondsUntil(at: number): number {
    return Math.max(1, Math.ceil((at - now()) / 1000));
  }

  // Refused without a fetch: the last fetch failed (503 or its ConfigError), or it did not list
  // the key id (401).
  function refusal(kid: string): Error {
    if (failure instanceof ConfigError) return failure;
    if (failure) {
      const seconds = secondsUntil(nextAttemptAt);
      return new ClerkUnavailableError(
        `${failure.message}; Clerk's JWKS is asked again in ${seconds} s`,
        seconds,
      );
    }
    return new AuthError(
      "jwk-kid-mismatch",
      `the token's key id ${kid} is not in Clerk's JWKS (fetched ${
        Math.round((now() - fetchedAt) / 1000)
      } s ago; asked again in ${secondsUntil(nextAttemptAt)} s at the earliest)`,
    );
  }

  return {
    async key(kid) {
      const known = keys.get(kid);
      if (known) {
        if (flight === null && now() - fetchedAt >= refreshAfterMs && now() >= nextAttemptAt) {
          refresh();
        }
        return known;
      }
      if (flight === null && now() >= nextAttemptAt) refresh();
      if (flight === null) throw refusal(kid);
      if (waiting >= maxWaiting) {
        throw new KeysBusyError(
          secondsUntil(attemptedAt + timeoutMs),
          `${maxWaiting} requests already wait for Clerk's JWKS`,
        );
      }
      waiting++;
      try {
        await flight;
      } finally {
        waiting--;
      }
      const found = keys.get(kid);
      if (found) return found;
      throw refusal(kid);
    },
  };
}

// The usable entries of a JWKS: RSA signing keys with a key id. `alg` is left out on purpose:
// WebCrypto refuses to import a JWK whose `alg` (Clerk lists RS256) differs from the hash the
// token's `alg` asks for, and RS384 and RS512 tokens of the same key are accepted.
function parseKeys(list: unknown[]): Map<string, JsonWebKey> {
  const keys = new Map<string, JsonWebKey>();
  for (const entry of list) {
    if (typeof entry !== "object" || entry === null) continue;
    const { kty, kid, n, e, use } = entry as Record<string, unknown>;
    if (kty !== "RSA" || typeof kid !== "string" || kid === "") continue;
    if (typeof n !== "string" || typeof e !== "string") continue;
    if (use !== undefined && use !== "sig") continue;
    keys.set(kid, { kty, n, e });
  }
  return keys;
}
