import { verifyToken } from "@clerk/backend";
import { ConfigError } from "../_shared/errors.ts";
import { AuthError, ClerkUnavailableError } from "./errors.ts";

/** A verified Clerk session token: only its `sub` is used. */
export interface Session {
  userId: string;
}

/** Verifies session tokens. */
export interface SessionVerifier {
  /** Throws {@linkcode AuthError} (401), ClerkUnavailableError (JWKS) or ConfigError. */
  verify(token: string): Promise<Session>;
}

/** Options of {@linkcode createSessionVerifier}. */
export interface SessionOptions {
  /** CLERK_JWT_KEY's PEM: tokens are verified locally. Null: with the JWKS of `secretKey`. */
  jwtKeyPem: string | null;
  secretKey: string;
  apiUrl: string;
  /** Accepted `azp` values; empty accepts any (and a token without `azp`). */
  authorizedParties: readonly string[];
  /** Default `@clerk/backend`'s `verifyToken` (a test passes a counting wrapper). */
  verify?: typeof verifyToken;
  /** Default `Date.now`. */
  now?: () => number;
}

/** The algorithms Clerk signs session tokens with; `@clerk/backend` accepts only these. */
export const SESSION_ALGORITHMS: readonly string[] = ["RS256", "RS384", "RS512"];
/** How long `@clerk/backend` keeps a fetched JWKS (its MAX_CACHE_LAST_UPDATED_AT_SECONDS). */
export const SDK_JWKS_CACHE_MS = 5 * 60_000;
// Trust a key id as cached for a little less than the SDK keeps it.
const WARM_MS = SDK_JWKS_CACHE_MS - 30_000;

// Reasons of @clerk/backend's TokenVerificationError raised while loading the key, before the
// token itself is looked at.
const KEY_LOADING_REASONS = new Set([
  "jwk-remote-failed-to-load",
  "jwk-remote-missing",
  "jwk-remote-invalid",
  "jwk-kid-mismatch",
  "jwk-failed-to-resolve",
  "jwk-local-missing",
  "secret-key-invalid",
]);

/**
 * `@clerk/backend`'s `verifyToken` with CLERK_JWT_KEY (no network) or with CLERK_SECRET_KEY (the
 * instance's JWKS, fetched and cached by the SDK for 5 minutes). The SDK's cache is not
 * single-flight: concurrent verifications with a key id it has not cached each fetch the JWKS.
 * So with the secret key, the first verification of a key id not known to be cached fetches it
 * (forced, so the cache's age is known) while the others with that key id wait for it, and
 * fetches for different key ids run one at a time.
 */
export function createSessionVerifier(options: SessionOptions): SessionVerifier {
  const verify = options.verify ?? verifyToken;
  const now = options.now ?? Date.now;
  const base = {
    ...(options.authorizedParties.length > 0
      ? { authorizedParties: [...options.authorizedParties] }
      : {}),
  };
  if (options.jwtKeyPem !== null) {
    const jwtOptions = { ...base, jwtKey: options.jwtKeyPem };
    return {
      async verify(token) {
        checkAlgorithm(readHeader(token).alg);
        return await checked(() => verify(token, jwtOptions));
      },
    };
  }

  const remoteOptions = { ...base, secretKey: options.secretKey, apiUrl: options.apiUrl };
  const warmUntil = new Map<string, number>();
  const priming = new Map<string, Promise<Session>>();
  let fetching: Promise<unknown> = Promise.resolve();

  // Verifies with a forced JWKS fetch, after any other forced fetch in flight.
  async function prime(token: string, kid: string): Promise<Session> {
    const previous = fetching;
    let done!: () => void;
    fetching = new Promise<void>((resolve) => done = resolve);
    try {
      await previous.catch(() => {});
      const started = now();
      try {
        const session = await verifyRemote(token, true);
        warmUntil.set(kid, started + WARM_MS);
        return session;
      } catch (error) {
        // The key was found and the token refused: the JWKS holds this key id.
        if (error instanceof AuthError && !KEY_LOADING_REASONS.has(error.reason)) {
          warmUntil.set(kid, started + WARM_MS);
        }
        throw error;
      }
    } finally {
      done();
    }
  }

  function verifyRemote(token: string, skipJwksCache: boolean): Promise<Session> {
    return checked(() =>
      verify(token, skipJwksCache ? { ...remoteOptions, skipJwksCache } : remoteOptions)
    );
  }

  return {
    async verify(token) {
      const { alg, kid } = readHeader(token);
      checkAlgorithm(alg);
      // Without a key id the SDK would fetch the JWKS only to find no key for it.
      if (!kid) throw new AuthError("token-invalid", "the token header has no kid");
      if ((warmUntil.get(kid) ?? 0) > now()) return await verifyRemote(token, false);
      const inFlight = priming.get(kid);
      if (inFlight) {
        try {
          await inFlight;
        } catch (error) {
          // Clerk unreachable, a bad secret key or a key id Clerk does not list: the same for
          // every token of this key id. Anything else was the first token's own fault.
          if (!(error instanceof AuthError) || KEY_LOADING_REASONS.has(error.reason)) throw error;
        }
        return await verifyRemote(token, false);
      }
      const first = prime(token, kid).finally(() => priming.delete(kid));
      priming.set(kid, first);
      return await first;
    },
  };
}

interface TokenHeader {
  alg?: string;
  kid?: string;
}

// Runs the SDK's verification and turns its failures into this function's errors.
async function checked(run: () => Promise<unknown>): Promise<Session> {
  let payload: unknown;
  try {
    payload = await run();
  } catch (error) {
    throw verificationFailure(error);
  }
  const sub = (payload as { sub?: unknown } | null)?.sub;
  if (typeof sub !== "string" || sub === "") {
    throw new AuthError("token-verification-failed", "the session token has no sub claim");
  }
  return { userId: sub };
}

/** The typed error for a failure of `verifyToken` (a `TokenVerificationError` has a `reason`). */
export function verificationFailure(error: unknown): Error {
  const reason = (error as { reason?: unknown } | null)?.reason;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof reason !== "string") {
    // Not the SDK's verdict on the token: loading the JWKS failed on the way (a network error).
    return new ClerkUnavailableError(`could not load Clerk's JWKS (${message})`);
  }
  switch (reason) {
    case "jwk-remote-failed-to-load":
    case "jwk-remote-missing":
    case "jwk-remote-invalid":
      return new ClerkUnavailableError(`could not load Clerk's JWKS (${reason}: ${message})`);
    case "secret-key-invalid":
      return new ConfigError(
        "CLERK_SECRET_KEY",
        `CLERK_SECRET_KEY was refused by Clerk's Backend API (GET /v1/jwks: ${message})`,
      );
    case "jwk-failed-to-resolve":
    case "jwk-local-missing":
      return new ConfigError(
        "CLERK_JWT_KEY",
        `no key to verify session tokens with (${reason}): set CLERK_JWT_KEY or CLERK_SECRET_KEY`,
      );
    default:
      return new AuthError(reason, message);
  }
}

// The token's header, read without trusting it: only to refuse early and to group JWKS fetches.
function readHeader(token: string): TokenHeader {
  const part = token.split(".")[0] ?? "";
  try {
    const json = JSON.parse(atob(part.replaceAll("-", "+").replaceAll("_", "/")));
    if (typeof json !== "object" || json === null) throw new Error();
    return {
      alg: typeof json.alg === "string" ? json.alg : undefined,
      kid: typeof json.kid === "string" && json.kid !== "" ? json.kid : undefined,
    };
  } catch {
    throw new AuthError("token-invalid", "the session token is not a JWT");
  }
}

// The SDK refuses these too, but only after loading the key (a JWKS fetch without CLERK_JWT_KEY).
function checkAlgorithm(alg: string | undefined): void {
  if (SESSION_ALGORITHMS.includes(alg ?? "")) return;
  // supabase-js sends the project's anon key (HS256) when `accessToken` gives it no Clerk token.
  const hint = alg === "HS256" ? " (a Supabase key? is the user signed in to Clerk?)" : "";
  throw new AuthError(
    "token-invalid-algorithm",
    `the token is signed with ${
      alg?.slice(0, 32) ?? "no algorithm"
    }${hint}; Clerk signs with RS256`,
  );
}
