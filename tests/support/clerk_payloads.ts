/**
 * Realistic Clerk webhook deliveries for tests, `npm run send` and benchmarks: the event envelope
 * and user object typed against @clerk/backend's own `UserJSON` / `UserWebhookEvent` (the shape
 * of Clerk's documented user.created / user.updated / user.deleted payloads), the organization
 * and membership objects against `OrganizationJSON` / `OrganizationMembershipJSON` /
 * `OrganizationWebhookEvent` / `OrganizationMembershipWebhookEvent` (organization.* and
 * organizationMembership.*), signed the way Svix signs them (`new Webhook(secret).sign(msgId,
 * date, body)` and the three `svix-*` headers).
 */
import type {
  DeletedObjectJSON,
  EmailAddressJSON,
  OrganizationJSON,
  OrganizationMembershipJSON,
  OrganizationMembershipWebhookEvent,
  OrganizationWebhookEvent,
  PhoneNumberJSON,
  UserDeletedJSON,
  UserJSON,
  UserWebhookEvent,
} from "@clerk/backend";
import { Webhook } from "svix";

/** A verification as Clerk's webhook payloads carry it (no `id`/`object`, unlike the API type). */
export interface ClerkVerificationPayload {
  status: "unverified" | "verified" | "transferable" | "failed" | "expired";
  strategy: string;
  attempts: number | null;
  expire_at: number | null;
}

/** An email address entry of a user payload. */
export type ClerkEmailPayload = Omit<EmailAddressJSON, "verification"> & {
  verification: ClerkVerificationPayload | null;
};

/** A phone number entry of a user payload. */
export type ClerkPhonePayload = Omit<PhoneNumberJSON, "verification"> & {
  verification: ClerkVerificationPayload | null;
};

/** The `data` of a user.created / user.updated event: Clerk's user object. */
export type ClerkUserPayload = Omit<UserJSON, "email_addresses" | "phone_numbers"> & {
  email_addresses: ClerkEmailPayload[];
  phone_numbers: ClerkPhonePayload[];
};

/** The `data` of a user.deleted event. */
export type ClerkDeletedPayload = UserDeletedJSON;

/** The user event types the function handles. */
export type ClerkUserEventType = "user.created" | "user.updated" | "user.deleted";

/** A Clerk event envelope (`object: "event"`), as Svix delivers it. */
export type ClerkEventPayload =
  & Omit<UserWebhookEvent, "data" | "type">
  & (
    | { type: "user.created" | "user.updated"; data: ClerkUserPayload }
    | { type: "user.deleted"; data: ClerkDeletedPayload }
  );

/** What {@linkcode clerkUserPayload} builds a user from; omitted fields get realistic values. */
export interface ClerkUserOptions {
  /** Clerk user id (`user_...`). */
  id: string;
  /** `updated_at`, epoch milliseconds: what orders the events. */
  updatedAt: number;
  /** `created_at`, epoch milliseconds (default: `updatedAt`). */
  createdAt?: number;
  firstName?: string | null;
  lastName?: string | null;
  username?: string | null;
  /** The primary email address; null for a user without one (default derived from the id). */
  email?: string | null;
  /** The primary phone number; null (the default) for a user without one. */
  phone?: string | null;
  imageUrl?: string;
  publicMetadata?: Record<string, unknown>;
  privateMetadata?: Record<string, unknown>;
  unsafeMetadata?: Record<string, unknown>;
  externalId?: string | null;
}

/** Options of {@linkcode signedRequest}. */
export interface SignOptions {
  /** The `svix-id` (default: a fresh `msg_...`); a redelivery reuses its message's id. */
  msgId?: string;
  /** When the delivery is signed (default: now); `svix-timestamp` is its Unix seconds. */
  timestamp?: Date;
  /** Extra or overriding headers (for example an empty `svix-id` for the 400 case). */
  headers?: Record<string, string>;
}

/** The instance id the payloads name, as in Clerk's examples. */
export const INSTANCE_ID = "ins_2abcDEFghiJKLmnoPQRstuVWXyz";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** A random Clerk-style id: `prefix_` and 27 base62 characters (`user_2abc...`, `msg_...`). */
export function clerkId(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(27));
  return `${prefix}_${Array.from(bytes, (b) => BASE62[b % 62]).join("")}`;
}

/** Builds Clerk's user object (webhook `data` of user.created / user.updated). */
export function clerkUserPayload(options: ClerkUserOptions): ClerkUserPayload {
  const { id, updatedAt } = options;
  const createdAt = options.createdAt ?? updatedAt;
  const email = options.email === undefined ? defaultEmail(id) : options.email;
  // The same address gets the same id in every event of a user, as in Clerk.
  const emailId = email === null ? null : stableId("idn", `${id}:email:${email}`);
  const phoneId = options.phone ? stableId("idn", `${id}:phone:${options.phone}`) : null;
  const emails: ClerkEmailPayload[] = email === null || emailId === null ? [] : [{
    object: "email_address",
    id: emailId,
    email_address: email,
    verification: { status: "verified", strategy: "email_code", attempts: 1, expire_at: null },
    linked_to: [],
  }];
  const phones: ClerkPhonePayload[] = !options.phone || phoneId === null ? [] : [{
    object: "phone_number",
    id: phoneId,
    phone_number: options.phone,
    reserved_for_second_factor: false,
    default_second_factor: false,
    reserved: false,
    verification: { status: "verified", strategy: "phone_code", attempts: 1, expire_at: null },
    linked_to: [],
    backup_codes: [],
  }];
  return {
    object: "user",
    id,
    username: options.username ?? null,
    first_name: options.firstName === undefined ? "Example" : options.firstName,
    last_name: options.lastName === undefined ? "Example" : options.lastName,
    image_url: options.imageUrl ?? defaultImageUrl(id),
    has_image: false,
    primary_email_address_id: emailId,
    primary_phone_number_id: phoneId,
    primary_web3_wallet_id: null,
    password_enabled: true,
    two_factor_enabled: false,
    totp_enabled: false,
    backup_code_enabled: false,
    email_addresses: emails,
    phone_numbers: phones,
    web3_wallets: [],
    organization_memberships: null,
    external_accounts: [],
    enterprise_accounts: [],
    password_last_updated_at: createdAt,
    public_metadata: options.publicMetadata ?? {},
    private_metadata: options.privateMetadata ?? {},
    unsafe_metadata: options.unsafeMetadata ?? {},
    external_id: options.externalId ?? null,
    last_sign_in_at: updatedAt,
    banned: false,
    locked: false,
    deprovisioned: false,
    lockout_expires_in_seconds: null,
    verification_attempts_remaining: 100,
    created_at: createdAt,
    updated_at: updatedAt,
    last_active_at: updatedAt,
    create_organization_enabled: true,
    create_organizations_limit: null,
    delete_self_enabled: true,
    legal_accepted_at: null,
    locale: null,
    timezone: null,
  };
}

/** Builds the `data` of a user.deleted event (Clerk sends only the id and `deleted: true`). */
export function clerkDeletedPayload(id: string): ClerkDeletedPayload {
  return { object: "user", id, deleted: true };
}

/** Wraps user data in Clerk's event envelope; `timestamp` is the event time in epoch ms. */
export function clerkEvent(
  type: "user.created" | "user.updated",
  data: ClerkUserPayload,
  timestamp: number,
): ClerkEventPayload;
/** Wraps a deletion in Clerk's event envelope; `timestamp` (epoch ms) orders the deletion. */
export function clerkEvent(
  type: "user.deleted",
  data: ClerkDeletedPayload,
  timestamp: number,
): ClerkEventPayload;
export function clerkEvent(
  type: ClerkUserEventType,
  data: ClerkUserPayload | ClerkDeletedPayload,
  timestamp: number,
): ClerkEventPayload {
  const envelope = eventEnvelope(timestamp);
  if (type === "user.deleted") {
    if (!("deleted" in data)) throw new TypeError("user.deleted takes a deleted-user payload");
    return { ...envelope, type, data };
  }
  if ("deleted" in data) throw new TypeError(`${type} takes a user payload`);
  return { ...envelope, type, data };
}

/** The `data` of organization.created / .updated, and a membership's nested `organization`. */
export type ClerkOrganizationPayload = OrganizationJSON;

/** The `data` of organization.deleted: `{object, id, slug?, deleted: true}`, no timestamps. */
export type ClerkOrganizationDeletedPayload = DeletedObjectJSON;

/**
 * The `data` of every organizationMembership.* event: the full membership with its organization.
 * Clerk's payloads carry `role_name`, which @clerk/backend's type leaves out.
 */
export type ClerkMembershipPayload = OrganizationMembershipJSON & { role_name: string };

/** The organization event types the function handles. */
export type ClerkOrganizationEventType =
  | "organization.created"
  | "organization.updated"
  | "organization.deleted";

/** The membership event types the function handles. */
export type ClerkMembershipEventType =
  | "organizationMembership.created"
  | "organizationMembership.updated"
  | "organizationMembership.deleted";

/** An organization event envelope, as Svix delivers it. */
export type ClerkOrganizationEventPayload =
  & Omit<OrganizationWebhookEvent, "data" | "type">
  & (
    | { type: "organization.created" | "organization.updated"; data: ClerkOrganizationPayload }
    | { type: "organization.deleted"; data: ClerkOrganizationDeletedPayload }
  );

/** A membership event envelope, as Svix delivers it. */
export type ClerkMembershipEventPayload =
  & Omit<OrganizationMembershipWebhookEvent, "data">
  & { data: ClerkMembershipPayload };

/** What {@linkcode clerkOrganizationPayload} builds an organization from. */
export interface ClerkOrganizationOptions {
  /** Clerk organization id (`org_...`). */
  id: string;
  /** `updated_at`, epoch milliseconds: what orders the events. */
  updatedAt: number;
  /** `created_at`, epoch milliseconds (default: `updatedAt`). */
  createdAt?: number;
  /** Default "Acme Inc". */
  name?: string;
  /** Default: the name, lower case, dashes for the rest. */
  slug?: string;
  imageUrl?: string;
  publicMetadata?: Record<string, unknown>;
  privateMetadata?: Record<string, unknown>;
  /** The creator's user id (default Clerk's example creator). */
  createdBy?: string;
  membersCount?: number;
}

/** What {@linkcode clerkMembershipPayload} builds a membership from. */
export interface ClerkMembershipOptions {
  /** Clerk membership id (`orgmem_...`). */
  id: string;
  /** The organization snapshot the membership carries. */
  organization: ClerkOrganizationPayload;
  /** The member (`public_user_data.user_id`). */
  userId: string;
  /** `created_at`, epoch milliseconds. */
  createdAt: number;
  /** `updated_at`, epoch milliseconds (default: `createdAt`). */
  updatedAt?: number;
  /** Default `org:member`; sent as given (`org:admin`, `org:<custom>`, `basic_member`, ...). */
  role?: string;
  /** Default derived from the role (`org:billing_manager` → "Billing manager"). */
  roleName?: string;
  /** Default: Clerk's system permissions of the default roles. */
  permissions?: string[];
  publicMetadata?: Record<string, unknown>;
  privateMetadata?: Record<string, unknown>;
  firstName?: string | null;
  lastName?: string | null;
}

/** Clerk's example organization creator (its documentation payloads name this user). */
export const EXAMPLE_CREATOR_ID = "user_1vq84bqWzw7qmFgqSwN4CH1Wp0n";

/** Builds Clerk's organization object (webhook `data` of organization.created / .updated). */
export function clerkOrganizationPayload(
  options: ClerkOrganizationOptions,
): ClerkOrganizationPayload {
  const { id, updatedAt } = options;
  const name = options.name ?? "Acme Inc";
  return {
    object: "organization",
    id,
    name,
    slug: options.slug ?? name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, ""),
    image_url: options.imageUrl ?? defaultImageUrl(id),
    has_image: false,
    members_count: options.membersCount ?? 1,
    pending_invitations_count: 0,
    max_allowed_memberships: 5,
    admin_delete_enabled: true,
    public_metadata: options.publicMetadata ?? {},
    private_metadata: options.privateMetadata ?? {},
    created_by: options.createdBy ?? EXAMPLE_CREATOR_ID,
    created_at: options.createdAt ?? updatedAt,
    updated_at: updatedAt,
  };
}

/** Builds the `data` of an organization.deleted event (Clerk sends no timestamps in it). */
export function clerkOrganizationDeletedPayload(
  id: string,
  slug?: string,
): ClerkOrganizationDeletedPayload {
  return { object: "organization", id, ...(slug === undefined ? {} : { slug }), deleted: true };
}

// The system permissions Clerk gives its default roles.
const ADMIN_PERMISSIONS = [
  "org:sys_domains:manage",
  "org:sys_domains:read",
  "org:sys_memberships:manage",
  "org:sys_memberships:read",
  "org:sys_profile:delete",
  "org:sys_profile:manage",
];
const MEMBER_PERMISSIONS = ["org:sys_domains:read", "org:sys_memberships:read"];

/** Builds Clerk's organization membership (webhook `data` of every organizationMembership.*). */
export function clerkMembershipPayload(options: ClerkMembershipOptions): ClerkMembershipPayload {
  const role = options.role ?? "org:member";
  const key = role.replace(/^org:/, "").replaceAll("_", " ");
  const firstName = options.firstName === undefined ? "Example" : options.firstName;
  const lastName = options.lastName === undefined ? "Example" : options.lastName;
  return {
    object: "organization_membership",
    id: options.id,
    public_metadata: options.publicMetadata ?? {},
    private_metadata: options.privateMetadata ?? {},
    role,
    role_name: options.roleName ?? key.charAt(0).toUpperCase() + key.slice(1),
    permissions: options.permissions ??
      (/admin/.test(role) ? ADMIN_PERMISSIONS : MEMBER_PERMISSIONS),
    created_at: options.createdAt,
    updated_at: options.updatedAt ?? options.createdAt,
    organization: options.organization,
    public_user_data: {
      identifier: defaultEmail(options.userId),
      first_name: firstName,
      last_name: lastName,
      image_url: defaultImageUrl(options.userId),
      has_image: false,
      user_id: options.userId,
    },
  };
}

/** Wraps an organization in Clerk's event envelope; `timestamp` is the event time in epoch ms. */
export function clerkOrganizationEvent(
  type: "organization.created" | "organization.updated",
  data: ClerkOrganizationPayload,
  timestamp: number,
): ClerkOrganizationEventPayload;
/** Wraps an organization deletion in Clerk's envelope; `timestamp` (epoch ms) orders it. */
export function clerkOrganizationEvent(
  type: "organization.deleted",
  data: ClerkOrganizationDeletedPayload,
  timestamp: number,
): ClerkOrganizationEventPayload;
export function clerkOrganizationEvent(
  type: ClerkOrganizationEventType,
  data: ClerkOrganizationPayload | ClerkOrganizationDeletedPayload,
  timestamp: number,
): ClerkOrganizationEventPayload {
  const envelope = eventEnvelope(timestamp);
  if (type === "organization.deleted") {
    if (!("deleted" in data)) throw new TypeError("organization.deleted takes a deleted payload");
    return { ...envelope, type, data };
  }
  if ("deleted" in data) throw new TypeError(`${type} takes an organization payload`);
  return { ...envelope, type, data };
}

/**
 * Wraps a membership in Clerk's event envelope; `timestamp` (epoch ms) is the event time, which
 * orders a `.deleted` (its `data.updated_at` may be older).
 */
export function clerkMembershipEvent(
  type: ClerkMembershipEventType,
  data: ClerkMembershipPayload,
  timestamp: number,
): ClerkMembershipEventPayload {
  return { ...eventEnvelope(timestamp), type, data };
}

// What every Clerk event carries around its data.
function eventEnvelope(timestamp: number) {
  return {
    object: "event" as const,
    instance_id: INSTANCE_ID,
    timestamp,
    event_attributes: {
      http_request: {
        client_ip: "192.0.2.1",
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36",
      },
    },
  };
}

/** The headers Svix sends with a delivery of `body`, signed with `secret`. */
export function svixHeaders(
  secret: string,
  body: string,
  options: SignOptions = {},
): Record<string, string> {
  const msgId = options.msgId ?? clerkId("msg");
  const timestamp = options.timestamp ?? new Date();
  return {
    "content-type": "application/json",
    "user-agent": "Svix-Webhooks/1.66.0 (sender-clerk; +https://www.svix.com/http-sender/)",
    "svix-id": msgId,
    "svix-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
    "svix-signature": new Webhook(secret).sign(msgId, timestamp, body),
    ...options.headers,
  };
}

/** A POST of `body` to `url` as Svix delivers it: signed with `secret`, `svix-*` headers set. */
export function signedRequest(
  url: string,
  secret: string,
  body: string,
  options: SignOptions = {},
): Request {
  return new Request(url, { method: "POST", headers: svixHeaders(secret, body, options), body });
}

function defaultEmail(id: string): string {
  return `${id.replace(/^user_/, "").toLowerCase()}@example.com`;
}

// Clerk's default avatar URLs are img.clerk.com plus base64url JSON naming the instance and user.
function defaultImageUrl(id: string): string {
  const json = JSON.stringify({ type: "default", iid: INSTANCE_ID, rid: id });
  const b64 = btoa(json).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  return `https://img.clerk.com/${b64}`;
}

/** A Clerk-style id derived from `seed`: the same seed gives the same id (`orgmem_...`). */
export function stableId(prefix: string, seed: string): string {
  let hash = 2166136261;
  const chars: string[] = [];
  for (let i = 0; i < 27; i++) {
    for (const c of `${seed}:${i}`) hash = Math.imul(hash ^ c.charCodeAt(0), 16777619) >>> 0;
    chars.push(BASE62[hash % 62]);
  }
  return `${prefix}_${chars.join("")}`;
}
