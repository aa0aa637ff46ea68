import {
  epochMsToIso,
  invalidTimestamp,
  isRecord,
  type Profile,
  toProfile,
  userIdOf,
} from "../_shared/clerk_user.ts";
import { PayloadError } from "../_shared/errors.ts";

/** The Clerk event types this function applies. */
export const USER_EVENT_TYPES = ["user.created", "user.updated", "user.deleted"] as const;

/** One of {@linkcode USER_EVENT_TYPES}. */
export type UserEventType = typeof USER_EVENT_TYPES[number];

/** A verified user event, ready for the store. */
export interface UserEvent {
  kind: "user";
  svixId: string;
  type: UserEventType;
  userId: string;
  /** Orders events: the user's `updated_at`, or the envelope's `timestamp` for a deletion. */
  occurredAt: string;
  /** The mapped row; null for `user.deleted`. */
  profile: Profile | null;
}

/** A verified event of a type this function does not handle. */
export interface IgnoredEvent {
  kind: "ignored";
  type: string;
}

/** What a verified body turns out to be. */
export type ClerkEvent = UserEvent | IgnoredEvent;

/**
 * Parses a verified body into a user event; throws {@linkcode PayloadError} when unusable, naming
 * the event type and user id when they could be read.
 */
export function parseClerkEvent(body: string, svixId: string, svixTimestamp: string): ClerkEvent {
  let envelope: unknown;
  try {
    envelope = JSON.parse(body);
  } catch {
    throw new PayloadError("body is not valid JSON");
  }
  if (!isRecord(envelope) || typeof envelope.type !== "string" || envelope.type === "") {
    throw new PayloadError("body is not a Clerk event (no type)");
  }
  const type = envelope.type;
  if (!isUserEventType(type)) return { kind: "ignored", type };
  try {
    return parseUserEvent(type, envelope, svixId, svixTimestamp);
  } catch (error) {
    if (!(error instanceof PayloadError)) throw error;
    throw new PayloadError(error.message, { eventType: type, userId: printableId(envelope.data) });
  }
}

function parseUserEvent(
  type: UserEventType,
  envelope: Record<string, unknown>,
  svixId: string,
  svixTimestamp: string,
): UserEvent {
  const data = envelope.data;
  const userId = isRecord(data) ? userIdOf(data.id) : null;
  if (!isRecord(data) || userId === null) throw new PayloadError(`${type} event has no data.id`);
  if (type === "user.deleted") {
    // A deletion carries no updated_at: the envelope's timestamp (ms) orders it, else Svix's (s).
    const present = envelope.timestamp !== undefined && envelope.timestamp !== null;
    const occurredAt = present
      ? epochMsToIso(envelope.timestamp)
      : epochMsToIso(Number(svixTimestamp) * 1000);
    if (!occurredAt) {
      throw new PayloadError(
        present ? invalidTimestamp("timestamp") : "user.deleted event has no timestamp",
      );
    }
    return { kind: "user", svixId, type, userId, occurredAt, profile: null };
  }
  const profile = toProfile(data);
  return {
    kind: "user",
    svixId,
    type,
    userId: profile.user_id,
    occurredAt: profile.clerk_updated_at,
    profile,
  };
}

// The id for a log line about a refused event, when there is a usable one.
function printableId(data: unknown): string | undefined {
  try {
    return (isRecord(data) ? userIdOf(data.id) : null) ?? undefined;
  } catch {
    return undefined;
  }
}

function isUserEventType(type: string): type is UserEventType {
  return (USER_EVENT_TYPES as readonly string[]).includes(type);
}
