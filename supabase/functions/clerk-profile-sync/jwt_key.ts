// CLERK_JWT_KEY: the instance's public key as Clerk's dashboard shows it (API keys → JWT public
// key → PEM). @clerk/backend 3.25 (`loadClerkJwkFromPem`) reads the RSA modulus out of the PEM by
// stripping the fixed SPKI prefix and suffix of a 2048-bit key with exponent 65537, which is what
// Clerk issues; any other PEM would fail every token, so it is refused at start-up instead.

/** A usable CLERK_JWT_KEY. */
export interface JwtPublicKey {
  /** The PEM, line breaks normalised, as `verifyToken({ jwtKey })` takes it. */
  pem: string;
  /** The RSA modulus (256 bytes), to find the key in a JWKS. */
  modulus: Uint8Array;
}

const HEADER = "-----BEGIN PUBLIC KEY-----";
const FOOTER = "-----END PUBLIC KEY-----";
// SubjectPublicKeyInfo of an RSA 2048 key up to its modulus, and the exponent 65537 after it.
const SPKI_PREFIX = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA";
const SPKI_SUFFIX = "IDAQAB";
const SPKI_LENGTH = 392; // base64 characters of the 294-byte structure
const MODULUS_OFFSET = 33;
const MODULUS_BYTES = 256;

/** Parses CLERK_JWT_KEY (literal `\n` escapes accepted); null unless an RSA 2048 public key PEM. */
export function parseJwtKey(value: string): JwtPublicKey | null {
  const text = value.trim().replaceAll("\\n", "\n");
  if (!text.startsWith(HEADER) || !text.endsWith(FOOTER)) return null;
  const body = text.slice(HEADER.length, -FOOTER.length).replace(/\s+/g, "");
  if (
    body.length !== SPKI_LENGTH || !body.startsWith(SPKI_PREFIX) || !body.endsWith(SPKI_SUFFIX) ||
    !/^[A-Za-z0-9+/]+$/.test(body)
  ) {
    return null;
  }
  const der = decodeBase64(body);
  const modulus = der.slice(MODULUS_OFFSET, MODULUS_OFFSET + MODULUS_BYTES);
  if ((modulus[0] & 0x80) === 0) return null; // shorter than 2048 bits
  const lines = body.match(/.{1,64}/g) ?? [];
  return { pem: [HEADER, ...lines, FOOTER].join("\n"), modulus };
}

/** The RSA modulus of a JWKS entry (`n`, base64url), or null when it has none. */
export function jwkModulus(jwk: unknown): Uint8Array | null {
  if (typeof jwk !== "object" || jwk === null) return null;
  const { kty, n } = jwk as { kty?: unknown; n?: unknown };
  if (kty !== "RSA" || typeof n !== "string" || !/^[A-Za-z0-9_-]+$/.test(n)) return null;
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(n.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    return null;
  }
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return bytes.slice(start);
}

/** Whether two byte strings are equal (public keys: no constant time needed). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function decodeBase64(text: string): Uint8Array {
  const padded = text + "=".repeat((4 - text.length % 4) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}
