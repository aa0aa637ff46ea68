import {
  clerkIdOf,
  epochMsToIso,
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
import { TIMESTAMP_TOLERANCE_SECONDS } from "./verify.ts";

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

/**
 * Envelope timestamps below this are seconds, above it milliseconds: Clerk's published examples
 * carry seconds (`1716883200`), real deliveries milliseconds. 10^11 ms is March 1973 (no Clerk
 * event is older); 10^11 s is the year 5138.
 */
export const SECONDS_BELOW = 1e11;
/** What a Clerk instance id looks like (`ins_...`), as `clerk_sync.clerk_instance` checks it. */
export const INSTANCE_ID_SHAPE = /^ins_[A-Za-z0-9]{1,64}$/;

/**
 * A time of the event that was later than the delivery could have been signed, and the time it
 * was ordered at instead: `svix-timestamp` plus the verification tolerance.
 */
export interface ClampedTime {
  /** The field, as in the payload: `timestamp`, `data.updated_at`, ... */
  field: string;
  /** What the event said (ISO). */
  sent: string;
  /** What orders it instead (ISO). */
  stored: string;
}

/** What every event this function applies carries besides its subject. */
interface EventBase {
  svixId: string;
  /** The envelope's `instance_id`; null when it has none (older payloads, Clerk's docs examples). */
  instanceId: string | null;
  /** The times that were cut down to the delivery's bound (usually none). */
  clamped: ClampedTime[];
}

/** One of {@linkcode USER_EVENT_TYPES}. */
export type UserEventType = typeof USER_EVENT_TYPES[number];
/** One of {@linkcode ORGANIZATION_EVENT_TYPES}. */
export type OrganizationEventType = typeof ORGANIZATION_EVENT_TYPES[number];
/** One of {@linkcode MEMBERSHIP_EVENT_TYPES}. */
export type MembershipEventType = typeof MEMBERSHIP_EVENT_TYPES[number];

/** A verified user event, ready for the store. */
export interface UserEvent extends EventBase {
  kind: "user";
  type: UserEventType;
  userId: string;
  /** Orders events: the user's `updated_at`, or the envelope's `timestamp` for a deletion. */
  occurredAt: string;
  /** The mapped row; null for `user.deleted`. */
  profile: Profile | null;
}

/** A verified organization event, ready for the store. */
export interface OrganizationEvent extends EventBase {
  kind: "organization";
  type: OrganizationEventType;
  orgId: string;
  /** Orders events: the organization's `updated_at`, or the envelope's `timestamp` for a deletion. */
  occurredAt: string;
  /** The mapped row; null for `organization.deleted`. */
  organization: Organization | null;
}

/** A verified organization membership event, ready for the store. */
export interface MembershipEvent extends EventBase {
  kind: "membership";
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
      return parseUserEvent(type, delivery(envelope, svixId, svixTimestamp));
    }
    if (isOneOf(ORGANIZATION_EVENT_TYPES, type)) {
      return parseOrganizationEvent(type, delivery(envelope, svixId, svixTimestamp));
    }
    if (isOneOf(MEMBERSHIP_EVENT_TYPES, type)) {
      return parseMembershipEvent(type, delivery(envelope, svixId, svixTimestamp));
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

// One delivery being parsed: its envelope, what every event carries, and the latest time any of
// its times may say.
interface Delivery {
  envelope: Record<string, unknown>;
  base: EventBase;
  svixTimestamp: string;
  /** `svix-timestamp` plus the tolerance, epoch ms. */
  boundMs: number;
}

function delivery(
  envelope: Record<string, unknown>,
  svixId: string,
  svixTimestamp: string,
): Delivery {
  return {
    envelope,
    base: { svixId, instanceId: instanceIdOf(envelope.instance_id), clamped: [] },
    svixTimestamp,
    boundMs: (Number(svixTimestamp) + TIMESTAMP_TOLERANCE_SECONDS) * 1000,
  };
}

// Absent or null: older payloads have none, and are not refused for it.
function instanceIdOf(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string" || !INSTANCE_ID_SHAPE.test(value)) {
    throw new PayloadError(
      "instance_id is not a Clerk instance id (ins_ and 1 to 64 letters or digits)",
    );
  }
  return value;
}

function parseUserEvent(type: UserEventType, d: Delivery): UserEvent {
  const data = d.envelope.data;
  const userId = isRecord(data) ? userIdOf(data.id) : null;
  if (!isRecord(data) || userId === null) throw new PayloadError(`${type} event has no data.id`);
  if (type === "user.deleted") {
    const occurredAt = deletionTime(type, d);
    return { kind: "user", ...d.base, type, userId, occurredAt, profile: null };
  }
  const profile = toProfile(data);
  profile.clerk_updated_at = bounded(profile.clerk_updated_at, "data.updated_at", d);
  return {
    kind: "user",
    ...d.base,
    type,
    userId: profile.user_id,
    occurredAt: profile.clerk_updated_at,
    profile,
  };
}

function parseOrganizationEvent(type: OrganizationEventType, d: Delivery): OrganizationEvent {
  const data = d.envelope.data;
  const orgId = isRecord(data) ? clerkIdOf(data.id, "data.id") : null;
  if (!isRecord(data) || orgId === null) throw new PayloadError(`${type} event has no data.id`);
  if (type === "organization.deleted") {
    // Clerk sends only {object, id, slug?, deleted}: the envelope's timestamp orders it.
    const occurredAt = deletionTime(type, d);
    return { kind: "organization", ...d.base, type, orgId, occurredAt, organization: null };
  }
  const organization = toOrganization(data);
  organization.clerk_updated_at = bounded(organization.clerk_updated_at, "data.updated_at", d);
  return {
    kind: "organization",
    ...d.base,
    type,
    orgId,
    occurredAt: organization.clerk_updated_at,
    organization,
  };
}

function parseMembershipEvent(type: MembershipEventType, d: Delivery): MembershipEvent {
  const data = d.envelope.data;
  if (!isRecord(data)) throw new PayloadError(`${type} event has no data`);
  const { membership, organization } = toMembership(data);
  // Every time that orders a write: a membership created "in 9999" could never be removed, one
  // updated then never changed again, an organization snapshot updated then never refreshed.
  membership.clerk_created_at = bounded(membership.clerk_created_at, "data.created_at", d);
  membership.clerk_updated_at = bounded(membership.clerk_updated_at, "data.updated_at", d);
  organization.clerk_updated_at = bounded(
    organization.clerk_updated_at,
    "data.organization.updated_at",
    d,
  );
  // A removal's data.updated_at need not be newer than the last update: it is ordered by the
  // envelope's timestamp, like every deletion.
  const occurredAt = type === "organizationMembership.deleted"
    ? deletionTime(type, d)
    : membership.clerk_updated_at;
  return {
    kind: "membership",
    ...d.base,
    type,
    orgId: membership.org_id,
    userId: membership.user_id,
    occurredAt,
    membership,
    organization,
  };
}

// A deletion is ordered by the envelope's timestamp (epoch ms, or seconds below SECONDS_BELOW),
// else by Svix's (seconds): Clerk's documented user.deleted example once had none.
function deletionTime(type: string, d: Delivery): string {
  const value = d.envelope.timestamp;
  if (value === undefined || value === null) {
    const occurredAt = epochMsToIso(Number(d.svixTimestamp) * 1000);
    if (!occurredAt) throw new PayloadError(`${type} event has no timestamp`);
    return occurredAt;
  }
  const ms = typeof value === "number" && value > 0 && value < SECONDS_BELOW ? value * 1000 : value;
  const occurredAt = epochMsToIso(ms);
  if (!occurredAt) {
    throw new PayloadError(
      "timestamp is not a valid timestamp (epoch milliseconds, or seconds below 10^11)",
    );
  }
  return bounded(occurredAt, "timestamp", d);
}

// The one bound on an event's times: nothing Clerk sends can have happened later than the
// delivery was signed (`svix-timestamp`, itself within the tolerance of this function's clock),
// plus the tolerance for Clerk's clocks. A later time is cut down to that bound, not refused: the
// event is authentic, and refusing a removal would leave the member in place.
function bounded(iso: string, field: string, d: Delivery): string {
  if (Date.parse(iso) <= d.boundMs) return iso;
  const stored = new Date(d.boundMs).toISOString();
  d.base.clamped.push({ field, sent: iso, stored });
  return stored;
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
