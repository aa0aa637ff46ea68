/**
 * Realistic Clerk webhook deliveries for tests, `npm run send` and benchmarks: the event envelope
 * and user object typed against @clerk/backend's own `UserJSON` / `UserWebhookEvent` (the shape
 * of Clerk's documented user.created / user.updated / user.deleted payloads), signed the way Svix
 * signs them (`new Webhook(secret).sign(msgId, date, body)` and the three `svix-*` headers).
 */
import type {
  EmailAddressJSON,
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
  const envelope = {
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
  if (type === "user.deleted") {
    if (!("deleted" in data)) throw new TypeError("user.deleted takes a deleted-user payload");
    return { ...envelope, type, data };
  }
  if ("deleted" in data) throw new TypeError(`${type} takes a user payload`);
  return { ...envelope, type, data };
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

// The same address gets the same id in every event of a user, as in Clerk.
function stableId(prefix: string, seed: string): string {
  let hash = 2166136261;
  const chars: string[] = [];
  for (let i = 0; i < 27; i++) {
    for (const c of `${seed}:${i}`) hash = Math.imul(hash ^ c.charCodeAt(0), 16777619) >>> 0;
    chars.push(BASE62[hash % 62]);
  }
  return `${prefix}_${chars.join("")}`;
}
