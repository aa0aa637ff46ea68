/**
 * Clerk session tokens for tests and the local stack, made with WebCrypto the way a Clerk instance
 * makes them: an RSA 2048 key pair per instance (`kid` `ins_...`), RS256 JWTs with the v2
 * session claims (`sub`, `sid`, `iat`, `nbf`, `exp` 60 s later, `iss` the Frontend API URL,
 * `azp` the origin, `v: 2`, `fva`) plus `role: "authenticated"`, which the Supabase integration
 * adds. The public key is served as Clerk's `GET /v1/jwks` serves it (`{ keys: [JWK] }`) and
 * exported as the PEM that `CLERK_JWT_KEY` holds (Dashboard → API keys → JWT public key).
 * Sources: clerk/clerk-docs `guides/sessions/session-tokens` (claims, 60 s lifetime) and
 * `@clerk/backend` 3.25 `loadClerkJwkFromPem` (a 2048-bit RSA SPKI PEM is what it parses).
 */

/** An instance's signing key. */
export interface ClerkSigningKey {
  /** The key id Clerk puts in the token header and the JWKS (`ins_...`). */
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** The public key as one JWKS entry. */
  readonly jwk: JsonWebKey & { kid: string; use: string; alg: string };
  /** The public key as an SPKI PEM (`CLERK_JWT_KEY`). */
  readonly pem: string;
}

/** Claims of a session token; `sub` is the user id. */
export type SessionClaims = Record<string, unknown> & { sub?: string };

/** Options of {@linkcode mintSessionToken}. */
export interface MintOptions {
  /** Claims over the defaults (an `undefined` value removes a default claim). */
  claims?: Record<string, unknown>;
  /** Seconds since the epoch the token is issued at (default now). */
  issuedAt?: number;
  /** Lifetime in seconds (default 60, as Clerk's session tokens). */
  ttlSeconds?: number;
  /** Header overrides (for example another `kid`). */
  header?: Record<string, unknown>;
}

const encoder = new TextEncoder();

/** Generates an instance's RSA 2048 signing key. */
export async function generateSigningKey(kid = `ins_${randomId(27)}`): Promise<ClerkSigningKey> {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const exported = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  const body = btoa(String.fromCharCode(...spki)).replace(/(.{64})/g, "$1\n").trimEnd();
  return {
    kid,
    privateKey: pair.privateKey,
    jwk: { kty: "RSA", n: exported.n, e: exported.e, kid, use: "sig", alg: "RS256" },
    pem: `-----BEGIN PUBLIC KEY-----\n${body}\n-----END PUBLIC KEY-----`,
  };
}

/** A v2 session token for `userId`, signed RS256 with `key`. */
export async function mintSessionToken(
  key: ClerkSigningKey,
  userId: string,
  options: MintOptions = {},
): Promise<string> {
  const iat = options.issuedAt ?? Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    azp: "http://localhost:3000",
    exp: iat + (options.ttlSeconds ?? 60),
    fva: [0, -1],
    iat,
    iss: "https://clerk.local.test",
    nbf: iat - 5,
    role: "authenticated",
    sid: `sess_${randomId(27)}`,
    sub: userId,
    v: 2,
    ...options.claims,
  };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  const header = { alg: "RS256", kid: key.kid, typ: "JWT", ...options.header };
  const input = `${base64Url(JSON.stringify(header))}.${base64Url(JSON.stringify(claims))}`;
  const signature = await crypto.subtle.sign(
    "RSASSA-PKCS1-v1_5",
    key.privateKey,
    encoder.encode(input),
  );
  return `${input}.${base64UrlBytes(new Uint8Array(signature))}`;
}

/** An unsigned token (`alg: none`) or an HS256 one: what a forger sends. */
export async function forgedToken(
  alg: "none" | "HS256",
  userId: string,
  kid: string,
): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  const claims = { sub: userId, iat, nbf: iat - 5, exp: iat + 60, role: "authenticated" };
  const input = `${base64Url(JSON.stringify({ alg, kid, typ: "JWT" }))}.${
    base64Url(JSON.stringify(claims))
  }`;
  if (alg === "none") return `${input}.`;
  const hmac = await crypto.subtle.importKey(
    "raw",
    encoder.encode("a-guessable-secret"),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = await crypto.subtle.sign("HMAC", hmac, encoder.encode(input));
  return `${input}.${base64UrlBytes(new Uint8Array(signature))}`;
}

function base64Url(text: string): string {
  return base64UrlBytes(encoder.encode(text));
}

function base64UrlBytes(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function randomId(length: number): string {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  return Array.from(crypto.getRandomValues(new Uint8Array(length)), (b) => alphabet[b % 62])
    .join("");
}
