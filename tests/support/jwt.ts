/**
 * HS256 JSON Web Tokens with WebCrypto, for tests and the local stack: mint the anon,
 * authenticated and service_role tokens a Supabase project hands out, and verify them the way
 * PostgREST does (signature, then `exp`/`nbf`/`iat` with its 30 s clock skew).
 */

/** The claims of a token (a JSON object). */
export type JwtClaims = Record<string, unknown>;

/** Why a token was refused, with PostgREST's code and message for it. */
export interface JwtRejection {
  ok: false;
  /** PGRST301: the token does not decode or verify; PGRST303: a time-based claim fails. */
  code: "PGRST301" | "PGRST303";
  message: string;
}

/** The outcome of {@linkcode verifyJwt}. */
export type JwtVerification = { ok: true; claims: JwtClaims } | JwtRejection;

/** PostgREST allows this much clock skew on `exp`, `nbf` and `iat`. */
export const CLOCK_SKEW_SECONDS = 30;

const encoder = new TextEncoder();

/** Signs `claims` as a compact HS256 JWT with `secret`. */
export async function signJwt(claims: JwtClaims, secret: string): Promise<string> {
  const header = base64UrlEncode(encoder.encode(JSON.stringify({ alg: "HS256", typ: "JWT" })));
  const payload = base64UrlEncode(encoder.encode(JSON.stringify(claims)));
  const signature = await crypto.subtle.sign(
    "HMAC",
    await hmacKey(secret),
    encoder.encode(`${header}.${payload}`),
  );
  return `${header}.${payload}.${base64UrlEncode(new Uint8Array(signature))}`;
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

/** Verifies an HS256 token as PostgREST does; `nowSeconds` defaults to the clock. */
export async function verifyJwt(
  token: string,
  secret: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<JwtVerification> {
  if (token === "") return decodeError("Empty JWT is sent in Authorization header");
  const parts = token.split(".");
  if (parts.length !== 3) return decodeError(`Expected 3 parts in JWT; got ${parts.length}`);
  const [headerPart, payloadPart, signaturePart] = parts;
  const header = parseJsonObject(headerPart);
  if (!header) return decodeError("JWT couldn't be decoded");
  if (header.alg !== "HS256") return decodeError("Wrong or unsupported encoding algorithm");
  const signature = base64UrlDecode(signaturePart);
  const valid = signature !== null && await crypto.subtle.verify(
    "HMAC",
    await hmacKey(secret),
    signature,
    encoder.encode(`${headerPart}.${payloadPart}`),
  );
  if (!valid) return decodeError("JWT cryptographic operation failed");
  const claims = parseJsonObject(payloadPart);
  if (!claims) return claimsError("Parsing claims failed");
  return checkTimeClaims(claims, nowSeconds);
}

function checkTimeClaims(claims: JwtClaims, now: number): JwtVerification {
  for (const name of ["exp", "nbf", "iat"]) {
    const value = claims[name];
    if (value !== undefined && value !== null && typeof value !== "number") {
      return claimsError(`The JWT '${name}' claim must be a number`);
    }
  }
  const { exp, nbf, iat } = claims;
  if (typeof exp === "number" && now - CLOCK_SKEW_SECONDS > exp) return claimsError("JWT expired");
  if (typeof nbf === "number" && now + CLOCK_SKEW_SECONDS < nbf) {
    return claimsError("JWT not yet valid");
  }
  if (typeof iat === "number" && now + CLOCK_SKEW_SECONDS < iat) {
    return claimsError("JWT issued at future");
  }
  return { ok: true, claims };
}

function decodeError(message: string): JwtRejection {
  return { ok: false, code: "PGRST301", message };
}

function claimsError(message: string): JwtRejection {
  return { ok: false, code: "PGRST303", message };
}

function hmacKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

function parseJsonObject(part: string): JwtClaims | null {
  const bytes = base64UrlDecode(part);
  if (!bytes) return null;
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return isJsonObject(value) ? value : null;
  } catch {
    return null;
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
