import { Webhook, WebhookVerificationError } from "svix";
import { EncodingError, HeaderError, MissingHeaderError, SignatureError } from "./errors.ts";

/** The Svix headers of a delivery, checked for shape and freshness but not yet verified. */
export interface SvixHeaders {
  id: string;
  timestamp: string;
  signature: string;
}

/** A delivery whose signature verified: its Svix id and timestamp, and the body as text. */
export interface VerifiedDelivery {
  id: string;
  timestamp: string;
  body: string;
}

/** How far `svix-timestamp` may be from now, either way (svix's own tolerance). */
export const TIMESTAMP_TOLERANCE_SECONDS = 5 * 60;
/** The longest `svix-id` accepted; Clerk's are `msg_` and 27 base62 characters. */
export const MAX_SVIX_ID_LENGTH = 255;
/** The longest `svix-signature` accepted; five `v1a` (ed25519) signatures take 464 bytes. */
export const MAX_SIGNATURE_BYTES = 1024;
/** The most signatures accepted in `svix-signature` (Svix sends one per active secret). */
export const MAX_SIGNATURES = 5;

const HEADER_NAMES = ["svix-id", "svix-timestamp", "svix-signature"] as const;
// Headers joins a repeated header's values with ", ", so each format excludes commas and spaces:
// that is how a repeated header is told apart. The id also excludes "." (Standard Webhooks: the
// id must not contain one, as "." separates the signed content `id.timestamp.body`).
const SVIX_ID = /^[\x21-\x2b\x2d\x2f-\x7e]+$/;
// svix reads the timestamp with parseInt, which accepts "<ts>junk" and "+<ts>.9": digits only.
const SVIX_TIMESTAMP = /^\d{1,10}$/;
// `v1,<base64 HMAC>`; other versions (`v1a,<base64 ed25519>`) are skipped by svix.
const SIGNATURE_ENTRY = /^v\d+[a-z]?,[A-Za-z0-9+/]+={0,2}$/;
const BOM = [0xef, 0xbb, 0xbf];
// fatal: invalid bytes throw instead of becoming U+FFFD; ignoreBOM: a BOM would stay in the text.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Builds one svix verifier per configured secret (several while a secret is being rotated). */
export function createVerifiers(secrets: readonly string[]): Webhook[] {
  return secrets.map((secret) => new Webhook(secret));
}

/**
 * Reads the three Svix headers and refuses, before any body is read, what no verification could
 * accept: a missing, malformed, oversized or repeated header ({@linkcode HeaderError}), or a
 * timestamp outside the 5-minute tolerance ({@linkcode SignatureError}).
 */
export function readSvixHeaders(headers: Headers, nowMs = Date.now()): SvixHeaders {
  const values = HEADER_NAMES.map((name) => headers.get(name)?.trim() ?? "");
  const missing = HEADER_NAMES.filter((_, i) => values[i] === "");
  if (missing.length > 0) {
    throw new MissingHeaderError(`missing ${missing.join(", ")} header`);
  }
  const [id, timestamp, signature] = values;
  if (id.length > MAX_SVIX_ID_LENGTH) {
    throw new HeaderError(`svix-id header is longer than ${MAX_SVIX_ID_LENGTH} characters`);
  }
  if (!SVIX_ID.test(id)) {
    throw new HeaderError(
      "svix-id header is malformed or repeated (expected one id of printable ASCII without spaces, commas or dots)",
    );
  }
  if (!SVIX_TIMESTAMP.test(timestamp)) {
    throw new HeaderError(
      "svix-timestamp header is malformed or repeated (expected one Unix time in seconds, 1 to 10 digits)",
    );
  }
  checkSignatureHeader(signature);
  const age = Math.floor(nowMs / 1000) - Number(timestamp);
  if (Math.abs(age) > TIMESTAMP_TOLERANCE_SECONDS) {
    const off = age > 0 ? `${age} s old` : `${-age} s in the future`;
    throw new SignatureError(`timestamp outside the 5-minute tolerance (${off})`);
  }
  return { id, timestamp, signature };
}

/**
 * Verifies a Clerk delivery on the exact bytes of its body, accepting it if any verifier's secret
 * signed it; `headers` are checked first as {@linkcode readSvixHeaders} does, unless already read.
 * svix compares in constant time. Throws {@linkcode EncodingError} for a body that is not exactly
 * UTF-8 text (invalid bytes, a byte order mark), {@linkcode SignatureError} when nothing matches.
 */
export function verifyClerkWebhook(
  body: Uint8Array,
  headers: Headers | SvixHeaders,
  verifiers: readonly Webhook[],
): VerifiedDelivery {
  const svix = headers instanceof Headers ? readSvixHeaders(headers) : headers;
  const text = decodeBody(body);
  for (const verifier of verifiers) {
    try {
      verifier.verify(text, {
        "svix-id": svix.id,
        "svix-timestamp": svix.timestamp,
        "svix-signature": svix.signature,
      });
      return { id: svix.id, timestamp: svix.timestamp, body: text };
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      // Only when the tolerance ran out between readSvixHeaders and here: say so plainly.
      if (error.message.startsWith("Message timestamp")) {
        throw new SignatureError(`timestamp outside the 5-minute tolerance (${error.message})`);
      }
    }
  }
  throw new SignatureError("signature verification failed: no matching signature");
}

function checkSignatureHeader(signature: string): void {
  if (signature.length > MAX_SIGNATURE_BYTES) {
    throw new HeaderError(`svix-signature header is longer than ${MAX_SIGNATURE_BYTES} bytes`);
  }
  const entries = signature.split(" ");
  if (entries.length > MAX_SIGNATURES) {
    throw new HeaderError(`svix-signature header has more than ${MAX_SIGNATURES} signatures`);
  }
  if (!entries.every((entry) => SIGNATURE_ENTRY.test(entry))) {
    throw new HeaderError(
      "svix-signature header is malformed or repeated (expected space-separated v1,<base64> signatures)",
    );
  }
}

// svix signs `${id}.${timestamp}.${body}` encoded as UTF-8. Text that decodes strictly, BOM
// included, encodes back to the very bytes received, so the signature is checked on those bytes.
function decodeBody(body: Uint8Array): string {
  if (BOM.every((byte, i) => body[i] === byte)) {
    throw new EncodingError("body starts with a byte order mark");
  }
  try {
    return utf8.decode(body);
  } catch {
    throw new EncodingError("body is not valid UTF-8");
  }
}
