/**
 * JSON Web Tokens with WebCrypto, for tests and the local stack: mint the anon, authenticated and
 * service_role tokens a Supabase project hands out (HS256 with its JWT secret), and verify tokens
 * the way PostgREST does against its key set (`jwt-secret` as a JWKS).
 *
 * The key set is the one Supabase gives PostgREST: the public keys of the third-party auth
 * issuer (for Clerk, the JWKS its domain serves) followed by the project's JWT secret as an `oct`
 * JWK without `kid` or `alg` (supabase/cli pkg/config/config.go `ResolveJWKS`).
 *
 * Verification follows PostgREST's src/PostgREST/Auth/Jwt.hs, which hands the token to
 * jose-jwt's `Jose.Jwt.decode` (tekul/jose-jwt Jose/Jwt.hs, Jose/Jwk.hs `canDecodeJws`):
 * - a token that does not parse (base64url, a JSON object header, a known `alg`, string
 *   `typ`/`cty`/`kid`) is 401 PGRST301 "JWT cryptographic operation failed"; `alg: none` is
 *   "Wrong or unsupported encoding algorithm";
 * - the candidate keys are those whose `use` is not `enc`, whose `kid` equals the token's when
 *   the token names one (a token without `kid` tries every key: PostgREST#3598), whose `alg`, if
 *   any, is the token's, and whose type fits the algorithm (HS* an `oct` key, RS* an RSA key).
 *   None: "No suitable key or wrong key type" (details "No suitable key was found to decode the
 *   JWT"); none verifies: the same message, details "None of the keys was able to decode the
 *   JWT". Supabase's docs ask third-party tokens for a `kid` (auth/third-party/overview);
 *   PostgREST itself does not require one.
 * - then the claims (a JSON object, else PGRST303 "Parsing claims failed") and, in this order,
 *   `exp`, `nbf`, `iat` (numbers, 30 s of clock skew; a non-integer counts as 0) and `aud` (a
 *   string or an array of strings; the project sets no `jwt-aud`, so any audience passes).
 * Not modelled: EC and OKP keys (ES*, EdDSA), JWE tokens (refused as undecodable).
 */

/** The claims of a token (a JSON object). */
export type JwtClaims = Record<string, unknown>;

/** Why a token was refused, with PostgREST's code, message and details for it. */
export interface JwtRejection {
  ok: false;
  /** PGRST301: the token does not decode or verify; PGRST303: its claims fail a check. */
  code: "PGRST301" | "PGRST303";
  message: string;
  details: string | null;
}

/** The outcome of {@linkcode verifyJwt}. */
export type JwtVerification = { ok: true; claims: JwtClaims } | JwtRejection;

/** The algorithms tokens are signed with here: HMAC with a secret, RSASSA-PKCS1-v1_5 with a key. */
export type JwsAlgorithm = "HS256" | "HS384" | "HS512" | "RS256" | "RS384" | "RS512";

/** PostgREST allows this much clock skew on `exp`, `nbf` and `iat`. */
export const CLOCK_SKEW_SECONDS = 30;

// jose-jwt's JwsAlg: any other `alg` fails to parse.
const KNOWN_ALGORITHMS = [
  "none",
  "HS256",
  "HS384",
  "HS512",
  "RS256",
  "RS384",
  "RS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
];
const HASHES: Record<string, string> = {
  HS256: "SHA-256",
  HS384: "SHA-384",
  HS512: "SHA-512",
  RS256: "SHA-256",
  RS384: "SHA-384",
  RS512: "SHA-512",
};
// Sizes beyond Int64 or fractions become 0, as PostgREST's `fromMaybe 0 . toBoundedInteger`.
const INT64_MAX = 2 ** 63;

const encoder = new TextEncoder();
const importedKeys = new WeakMap<JsonWebKey, Map<string, Promise<CryptoKey | null>>>();

/** Signs `claims` as a compact HS256 JWT with `secret`. */
export function signJwt(claims: JwtClaims, secret: string): Promise<string> {
  return signJws({ alg: "HS256", typ: "JWT" }, claims, secret);
}

/**
 * Signs `claims` with `header` (whose `alg` says how): HS* with a secret, RS* with an RSA
 * private key whose hash is the algorithm's. Tests use it for tokens Clerk does not mint.
 */
export async function signJws(
  header: Record<string, unknown> & { alg: JwsAlgorithm },
  claims: JwtClaims,
  key: string | CryptoKey,
): Promise<string> {
  const input = `${base64UrlEncode(encoder.encode(JSON.stringify(header)))}.${
    base64UrlEncode(encoder.encode(JSON.stringify(claims)))
  }`;
  const data = encoder.encode(input);
  const signature = typeof key === "string"
    ? await crypto.subtle.sign("HMAC", await hmacKey(encoder.encode(key), header.alg), data)
    : await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, data);
  return `${input}.${base64UrlEncode(new Uint8Array(signature))}`;
}

/** Mints a token for a database role (`anon`, `authenticated`, `service_role`), valid `ttlSeconds`. */
export function roleJwt(
  role: string,
  secret: string,
  claims: JwtClaims = {},
  ttlSeconds = 3600,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return signJwt({ iat: now, exp: now + ttlSeconds, ...claims, role }, secret);
}

/**
 * The project's JWT secret as Supabase puts it in PostgREST's key set: `{ kty: "oct", k }`
 * with the secret's bytes base64url-encoded, no `kid`, no `alg`.
 */
export function secretJwk(secret: string): JsonWebKey {
  return { kty: "oct", k: base64UrlEncode(encoder.encode(secret)) };
}

/**
 * Verifies a token as PostgREST does against `keys`: a JWT secret (as {@linkcode secretJwk})
 * or a key set. `nowSeconds` defaults to the clock.
 */
export async function verifyJwt(
  token: string,
  keys: string | readonly JsonWebKey[],
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<JwtVerification> {
  if (token === "") return decodeError("Empty JWT is sent in Authorization header");
  const parts = token.split(".");
  if (parts.length !== 3) return decodeError(`Expected 3 parts in JWT; got ${parts.length}`);
  const [headerPart, payloadPart, signaturePart] = parts;
  const header = parseJsonObject(headerPart);
  const payload = base64UrlDecode(payloadPart);
  if (!header || !payload) return decodeError("JWT cryptographic operation failed");
  if (header.alg === "none") {
    return decodeError(
      "Wrong or unsupported encoding algorithm",
      "JWT is unsecured but expected 'alg' was not 'none'",
    );
  }
  const signature = base64UrlDecode(signaturePart);
  if (!signature || !isJwsHeader(header)) return decodeError("JWT cryptographic operation failed");

  const keySet = typeof keys === "string" ? [secretJwk(keys)] : keys;
  const candidates = keySet.filter((key) => canDecode(header, key));
  if (candidates.length === 0) {
    return decodeError(
      "No suitable key or wrong key type",
      "No suitable key was found to decode the JWT",
    );
  }
  const signed = encoder.encode(`${headerPart}.${payloadPart}`);
  let verified = false;
  for (const candidate of candidates) {
    if (await verifies(candidate, header.alg, signature, signed)) {
      verified = true;
      break;
    }
  }
  if (!verified) {
    return decodeError(
      "No suitable key or wrong key type",
      "None of the keys was able to decode the JWT",
    );
  }
  const claims = parseJson(payload);
  if (!isJsonObject(claims)) return claimsError("Parsing claims failed");
  return checkClaims(claims, nowSeconds);
}

interface JwsHeader {
  alg: string;
  kid?: string | null;
}

// jose-jwt's JwsHeader: a known `alg`, and `typ`, `cty`, `kid` strings when present. A header
// with `enc` is a JWE's, which three parts cannot be.
function isJwsHeader(header: JwtClaims): header is JwtClaims & JwsHeader {
  if (typeof header.alg !== "string" || !KNOWN_ALGORITHMS.includes(header.alg)) return false;
  if ("enc" in header) return false;
  return ["typ", "cty", "kid"].every((name) =>
    header[name] === undefined || header[name] === null || typeof header[name] === "string"
  );
}

// jose-jwt's canDecodeJws for the key types modelled here.
function canDecode(header: JwsHeader, key: JsonWebKey & { kid?: unknown }): boolean {
  if (key.use === "enc") return false;
  if (typeof header.kid === "string" && key.kid !== header.kid) return false;
  if (key.alg !== undefined && key.alg !== header.alg) return false;
  if (header.alg.startsWith("HS")) return key.kty === "oct";
  if (header.alg.startsWith("RS")) return key.kty === "RSA";
  return false;
}

async function verifies(
  key: JsonWebKey,
  alg: string,
  signature: Uint8Array<ArrayBuffer>,
  signed: Uint8Array<ArrayBuffer>,
): Promise<boolean> {
  const cryptoKey = await importKey(key, alg);
  if (!cryptoKey) return false;
  const algorithm = alg.startsWith("HS") ? "HMAC" : "RSASSA-PKCS1-v1_5";
  return await crypto.subtle.verify(algorithm, cryptoKey, signature, signed);
}

// Each key is imported once per hash; a key WebCrypto cannot import verifies nothing, as a key
// jose-jwt cannot use fails to decode the token.
function importKey(key: JsonWebKey, alg: string): Promise<CryptoKey | null> {
  let byAlg = importedKeys.get(key);
  if (!byAlg) importedKeys.set(key, byAlg = new Map());
  let imported = byAlg.get(alg);
  if (!imported) {
    imported = (async () => {
      if (key.kty === "oct") {
        const secret = base64UrlDecode(key.k ?? "");
        return secret ? await hmacKey(secret, alg) : null;
      }
      return await crypto.subtle.importKey(
        "jwk",
        { kty: "RSA", n: key.n, e: key.e },
        { name: "RSASSA-PKCS1-v1_5", hash: HASHES[alg] },
        false,
        ["verify"],
      );
    })().catch(() => null);
    byAlg.set(alg, imported);
  }
  return imported;
}

// Auth/Jwt.hs checkForErrors: the first failing claim, in the order exp, nbf, iat, aud.
function checkClaims(claims: JwtClaims, now: number): JwtVerification {
  const timeChecks: [string, string, (value: number) => boolean][] = [
    ["exp", "JWT expired", (exp) => now - CLOCK_SKEW_SECONDS > exp],
    ["nbf", "JWT not yet valid", (nbf) => now + CLOCK_SKEW_SECONDS < nbf],
    ["iat", "JWT issued at future", (iat) => now + CLOCK_SKEW_SECONDS < iat],
  ];
  for (const [name, failure, fails] of timeChecks) {
    const value = claims[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== "number") return claimsError(`The JWT '${name}' claim must be a number`);
    const seconds = Number.isInteger(value) && Math.abs(value) < INT64_MAX ? value : 0;
    if (fails(seconds)) return claimsError(failure);
  }
  const aud = claims.aud;
  const audOk = aud === undefined || aud === null || typeof aud === "string" ||
    (Array.isArray(aud) && aud.every((a) => typeof a === "string"));
  if (!audOk) return claimsError("The JWT 'aud' claim must be a string or an array of strings");
  return { ok: true, claims };
}

function decodeError(message: string, details: string | null = null): JwtRejection {
  return { ok: false, code: "PGRST301", message, details };
}

function claimsError(message: string): JwtRejection {
  return { ok: false, code: "PGRST303", message, details: null };
}

function hmacKey(secret: Uint8Array<ArrayBuffer>, alg: string): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    secret,
    { name: "HMAC", hash: HASHES[alg] },
    false,
    ["sign", "verify"],
  );
}

function parseJsonObject(part: string): JwtClaims | null {
  const bytes = base64UrlDecode(part);
  const value = bytes ? parseJson(bytes) : null;
  return isJsonObject(value) ? value : null;
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
}

function isJsonObject(value: unknown): value is JwtClaims {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function base64UrlEncode(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

// Unpadded base64url only, as jose-jwt's parser reads each part.
function base64UrlDecode(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const padded = text.replaceAll("-", "+").replaceAll("_", "/") +
    "=".repeat((4 - text.length % 4) % 4);
  try {
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}
