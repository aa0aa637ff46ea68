import {
  clerkIdOf,
  epochMsToIso,
  invalidTimestamp,
  isRecord,
  type Profile,
  toProfile,
  userIdOf,
} from "../_shared/clerk_user.ts";
import {
  memberIdOf,
  type Membership,
  type Organization,
  toMembership,
  toOrganization,
} from "../_shared/clerk_organization.ts";
import { PayloadError } from "../_shared/errors.ts";
import { OrganizationPayloadError } from "./errors.ts";

/** The Clerk user event types this function applies. */
export const USER_EVENT_TYPES = ["user.created", "user.updated", "user.deleted"] as const;
/** The Clerk organization event types this function applies. */
export const ORGANIZATION_EVENT_TYPES = [
  "organization.created",
  "organization.updated",
  "organization.deleted",
] as const;
/** The Clerk organization membership event types this function applies. */
export const MEMBERSHIP_EVENT_TYPES = [
  "organizationMembership.created",
  "organizationMembership.updated",
  "organizationMembership.deleted",
] as const;

/** One of {@linkcode USER_EVENT_TYPES}. */
export type UserEventType = typeof USER_EVENT_TYPES[number];
/** One of {@linkcode ORGANIZATION_EVENT_TYPES}. */
export type OrganizationEventType = typeof ORGANIZATION_EVENT_TYPES[number];
/** One of {@linkcode MEMBERSHIP_EVENT_TYPES}. */
export type MembershipEventType = typeof MEMBERSHIP_EVENT_TYPES[number];

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

/** A verified organization event, ready for the store. */
export interface OrganizationEvent {
  kind: "organization";
  svixId: string;
  type: OrganizationEventType;
  orgId: string;
  /** Orders events: the organization's `updated_at`, or the envelope's `timestamp` for a deletion. */
  occurredAt: string;
  /** The mapped row; null for `organization.deleted`. */
  organization: Organization | null;
}

/** A verified organization membership event, ready for the store. */
export interface MembershipEvent {
  kind: "membership";
  svixId: string;
  type: MembershipEventType;
  orgId: string;
  /** The member: `public_user_data.user_id`. */
  userId: string;
  /**
   * Orders events: the membership's `updated_at`, or the envelope's `timestamp` for `.deleted`
   * (whose `updated_at` may be older than the last update's).
   */
  occurredAt: string;
  /** The mapped membership (also for `.deleted`: it names the member and its creation time). */
  membership: Membership;
  /** The nested organization snapshot, which may create or refresh the organization row. */
  organization: Organization;
}

/** A verified event this function applies. */
export type SyncEvent = UserEvent | OrganizationEvent | MembershipEvent;

/** A verified event of a type this function does not handle. */
export interface IgnoredEvent {
  kind: "ignored";
  type: string;
}

/** What a verified body turns out to be. */
export type ClerkEvent = SyncEvent | IgnoredEvent;

/**
 * Parses a verified body into an event; throws {@linkcode PayloadError} when unusable, naming the
 * event type and the user (or {@linkcode OrganizationPayloadError}: the organization and member)
 * when they could be read.
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
  const data = envelope.data;
  try {
    if (isOneOf(USER_EVENT_TYPES, type)) {
      return parseUserEvent(type, envelope, svixId, svixTimestamp);
    }
    if (isOneOf(ORGANIZATION_EVENT_TYPES, type)) {
      return parseOrganizationEvent(type, envelope, svixId, svixTimestamp);
    }
    if (isOneOf(MEMBERSHIP_EVENT_TYPES, type)) {
      return parseMembershipEvent(type, envelope, svixId, svixTimestamp);
    }
  } catch (error) {
    if (!(error instanceof PayloadError)) throw error;
    throw refusal(error.message, type, data);
  }
  return { kind: "ignored", type };
}

// The refusal of an event of `type`, naming its user or organization (and member) when `data`
// holds usable ids, for the log line.
function refusal(message: string, type: string, data: unknown): PayloadError {
  if (isOneOf(USER_EVENT_TYPES, type)) {
    const userId = readableId(() => isRecord(data) ? userIdOf(data.id) : null);
    return new PayloadError(message, { eventType: type, userId });
  }
  const org = isRecord(data) && isOneOf(MEMBERSHIP_EVENT_TYPES, type) ? data.organization : data;
  return new OrganizationPayloadError(
    message,
    type,
    readableId(() => isRecord(org) ? clerkIdOf(org.id, "id") : null),
    readableId(() => isRecord(data) ? memberIdOf(data.public_user_data) : null),
  );
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
    const occurredAt = deletionTime(type, envelope, svixTimestamp);
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

function parseOrganizationEvent(
  type: OrganizationEventType,
  envelope: Record<string, unknown>,
  svixId: string,
  svixTimestamp: string,
): OrganizationEvent {
  const data = envelope.data;
  const orgId = isRecord(data) ? clerkIdOf(data.id, "data.id") : null;
  if (!isRecord(data) || orgId === null) throw new PayloadError(`${type} event has no data.id`);
  if (type === "organization.deleted") {
    // Clerk sends only {object, id, slug?, deleted}: the envelope's timestamp orders it.
    const occurredAt = deletionTime(type, envelope, svixTimestamp);
    return { kind: "organization", svixId, type, orgId, occurredAt, organization: null };
  }
  const organization = toOrganization(data);
  return {
    kind: "organization",
    svixId,
    type,
    orgId,
    occurredAt: organization.clerk_updated_at,
    organization,
  };
}

function parseMembershipEvent(
  type: MembershipEventType,
  envelope: Record<string, unknown>,
  svixId: string,
  svixTimestamp: string,
): MembershipEvent {
  const data = envelope.data;
  if (!isRecord(data)) throw new PayloadError(`${type} event has no data`);
  const { membership, organization } = toMembership(data);
  // A removal's data.updated_at need not be newer than the last update: it is ordered by the
  // envelope's timestamp, like every deletion.
  const occurredAt = type === "organizationMembership.deleted"
    ? deletionTime(type, envelope, svixTimestamp)
    : membership.clerk_updated_at;
  return {
    kind: "membership",
    svixId,
    type,
    orgId: membership.org_id,
    userId: membership.user_id,
    occurredAt,
    membership,
    organization,
  };
}

// A deletion is ordered by the envelope's timestamp (epoch ms), else by Svix's (seconds): Clerk's
// documented user.deleted example has none.
function deletionTime(
  type: string,
  envelope: Record<string, unknown>,
  svixTimestamp: string,
): string {
  const present = envelope.timestamp !== undefined && envelope.timestamp !== null;
  const occurredAt = present
    ? epochMsToIso(envelope.timestamp)
    : epochMsToIso(Number(svixTimestamp) * 1000);
  if (!occurredAt) {
    throw new PayloadError(
      present ? invalidTimestamp("timestamp") : `${type} event has no timestamp`,
    );
  }
  return occurredAt;
}

// An id for a log line about a refused event, when there is a usable one.
function readableId(read: () => string | null): string | undefined {
  try {
    return read() ?? undefined;
  } catch {
    return undefined;
  }
}

function isOneOf<T extends string>(types: readonly T[], type: string): type is T {
  return (types as readonly string[]).includes(type);
}
