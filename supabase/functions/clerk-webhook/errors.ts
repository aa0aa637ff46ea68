import { PayloadError } from "../_shared/errors.ts";

/** A `svix-*` header is malformed, oversized or sent more than once (400). */
export class HeaderError extends Error {
  override name = "HeaderError";
}

/** A request lacks one of the `svix-id`, `svix-timestamp`, `svix-signature` headers (400). */
export class MissingHeaderError extends HeaderError {
  override name = "MissingHeaderError";
}

/** The signature does not verify, or the timestamp is outside the tolerance (401). */
export class SignatureError extends Error {
  override name = "SignatureError";
}

/** The body did not arrive within the deadline (408). */
export class BodyTimeoutError extends Error {
  override name = "BodyTimeoutError";
}

/** The body is larger than the function accepts (413). */
export class PayloadTooLargeError extends Error {
  override name = "PayloadTooLargeError";
}

/** The body is not exactly UTF-8 text as Svix signs it: invalid bytes or a byte order mark (400). */
export class EncodingError extends Error {
  override name = "EncodingError";
}

/**
 * An authentic organization or membership event that is not usable (422), naming the event, the
 * organization and the member when they could be read.
 */
export class OrganizationPayloadError extends PayloadError {
  override name = "OrganizationPayloadError";

  constructor(
    message: string,
    readonly eventType: string,
    readonly orgId?: string,
    readonly userId?: string,
  ) {
    super(message, { eventType, userId });
  }
}

/**
 * A verified event of another Clerk instance than the one this database follows (409): nothing
 * is written. Svix retries it, so the operator sees it in the dashboard until the endpoint or the
 * database is set right.
 */
export class InstanceMismatchError extends Error {
  override name = "InstanceMismatchError";

  constructor(readonly recordedInstanceId: string, readonly eventInstanceId: string) {
    super(`this database follows Clerk instance ${recordedInstanceId}, not ${eventInstanceId}`);
  }
}

/**
 * A membership event whose membership id is stored for another organization or user (409,
 * answered so that Svix stops retrying: no retry can change it): nothing is written.
 */
export class MembershipConflictError extends Error {
  override name = "MembershipConflictError";

  constructor(readonly membershipId: string, message: string) {
    super(message);
  }
}
