import { Webhook, WebhookVerificationError } from "svix";
import { MissingHeaderError, SignatureError } from "./errors.ts";

/** The Svix headers of a verified delivery. */
export interface SvixHeaders {
  id: string;
  timestamp: string;
}

const HEADER_NAMES = ["svix-id", "svix-timestamp", "svix-signature"] as const;

/** Builds one svix verifier per configured secret (several while a secret is being rotated). */
export function createVerifiers(secrets: readonly string[]): Webhook[] {
  return secrets.map((secret) => new Webhook(secret));
}

/**
 * Verifies a Clerk delivery on its raw body, accepting it if any verifier's secret signed it.
 * svix checks the timestamp against a 5-minute tolerance and compares in constant time.
 */
export function verifyClerkWebhook(
  body: string,
  headers: Headers,
  verifiers: readonly Webhook[],
): SvixHeaders {
  const values = HEADER_NAMES.map((name) => headers.get(name)?.trim() ?? "");
  const missing = HEADER_NAMES.filter((_, i) => values[i] === "");
  if (missing.length > 0) {
    throw new MissingHeaderError(`missing ${missing.join(", ")} header`);
  }
  const [id, timestamp, signature] = values;
  let reason = "no matching signature";
  for (const verifier of verifiers) {
    try {
      verifier.verify(body, {
        "svix-id": id,
        "svix-timestamp": timestamp,
        "svix-signature": signature,
      });
      return { id, timestamp };
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      // The timestamp check comes first and does not depend on the secret: say so plainly.
      if (error.message.startsWith("Message timestamp")) {
        throw new SignatureError(`timestamp outside the 5-minute tolerance (${error.message})`);
      }
      if (error.message === "Invalid Signature Headers") reason = "svix-timestamp is not a number";
    }
  }
  throw new SignatureError(`signature verification failed: ${reason}`);
}
