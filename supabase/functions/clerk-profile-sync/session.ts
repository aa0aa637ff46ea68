import { verifyJwt } from "@clerk/backend/jwt";
import { fetchJwks } from "./clerk_api.ts";
import { AuthError } from "./errors.ts";
import { createKeySet, type KeySet } from "./jwks.ts";

/** A verified Clerk session token: only its `sub` is used. */
export interface Session {
  userId: string;
}

/** Verifies session tokens. */
export interface SessionVerifier {
  /** Throws {@linkcode AuthError} (401), or the key set's errors (503 or 500) without CLERK_JWT_KEY. */
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
  /** The JWKS without CLERK_JWT_KEY; default a key set over `GET /v1/jwks` of `apiUrl`. */
  keySet?: KeySet;
}

/** The algorithms accepted, in both key modes; Clerk signs session tokens with RS256. */
export const SESSION_ALGORITHMS: readonly string[] = ["RS256", "RS384", "RS512"];
// The JWT category of Clerk's machine-to-machine tokens, which verifyToken refuses as session
// tokens (@clerk/backend 3.25 tokens/jwtCategories.ts JWT_CATEGORY_M2M_TOKEN).
const M2M_CATEGORY = "cl_B7d4PD333AAA";

/**
 * Verifies a session token as `@clerk/backend`'s `verifyToken` does (its `verifyJwt`: signature,
 * `exp`, `nbf`, `iat`, `azp`, `sub`), with the key chosen here: CLERK_JWT_KEY's PEM, or the
 * token's `kid` in Clerk's JWKS through {@linkcode KeySet} (one shared, bounded fetch, never one
 * per token). Not `verifyToken` itself: with `jwtKey` it builds a JWK fixed to RS256, which
 * WebCrypto then refuses to use for an RS384 or RS512 token; and with `secretKey` it fetches the
 * JWKS for every unknown key id.
 */
export function createSessionVerifier(options: SessionOptions): SessionVerifier {
  const keySet = options.jwtKeyPem !== null ? null : options.keySet ??
    createKeySet({
      fetchKeys: (signal) => fetchJwks(options.apiUrl, options.secretKey, signal),
    });
  const jwtKeyPem = options.jwtKeyPem;
  const claims = options.authorizedParties.length > 0
    ? { authorizedParties: [...options.authorizedParties] }
    : {};
  return {
    async verify(token) {
      const { alg, kid, cat } = readHeader(token);
      checkAlgorithm(alg);
      if (cat === M2M_CATEGORY) {
        throw new AuthError("token-invalid", "a machine-to-machine token is not a session token");
      }
      let key: string | JsonWebKey;
      if (keySet) {
        if (!kid) throw new AuthError("token-invalid", "the token header has no kid");
        key = await keySet.key(kid);
      } else {
        key = jwtKeyPem as string;
      }
      return await checked(() => verifyJwt(token, { ...claims, key }));
    },
  };
}

interface TokenHeader {
  alg?: string;
  kid?: string;
  cat?: string;
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

// A TokenVerificationError (it has a `reason`) is the SDK's verdict on the token: 401.
function verificationFailure(error: unknown): Error {
  const reason = (error as { reason?: unknown } | null)?.reason;
  if (typeof reason !== "string") return error instanceof Error ? error : new Error(String(error));
  return new AuthError(reason, error instanceof Error ? error.message : String(error));
}

// The token's header, read without trusting it: to refuse early and to choose the key.
function readHeader(token: string): TokenHeader {
  const part = token.split(".")[0] ?? "";
  try {
    const json = JSON.parse(atob(part.replaceAll("-", "+").replaceAll("_", "/")));
    if (typeof json !== "object" || json === null) throw new Error();
    return {
      alg: typeof json.alg === "string" ? json.alg : undefined,
      kid: typeof json.kid === "string" && json.kid !== "" ? json.kid : undefined,
      cat: typeof json.cat === "string" ? json.cat : undefined,
    };
  } catch {
    throw new AuthError("token-invalid", "the session token is not a JWT");
  }
}

// The SDK refuses these too, but only after the key was chosen (a JWKS fetch without CLERK_JWT_KEY).
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
