/**
 * Helpers of the end-to-end tests: deliver signed events to the running function over HTTP, run
 * work at a fixed concurrency, shuffle reproducibly, and read the tables back with SQL.
 */
import postgres from "postgres";
import {
  clerkDeletedPayload,
  clerkEvent,
  clerkMembershipEvent,
  type ClerkMembershipEventType,
  type ClerkMembershipPayload,
  clerkOrganizationDeletedPayload,
  clerkOrganizationEvent,
  type ClerkOrganizationPayload,
  type ClerkUserPayload,
  clerkUserPayload,
  svixHeaders,
} from "../support/clerk_payloads.ts";
import type { LocalStack } from "../support/local_stack.ts";

/** One Svix delivery: its message id and body, replayable as Svix retries it. */
export interface Delivery {
  msgId: string;
  type: "user.created" | "user.updated" | "user.deleted";
  userId: string;
  /** `updated_at` (or the deletion's timestamp), epoch ms. */
  at: number;
  /** The user object for created/updated, null for deleted. */
  user: ClerkUserPayload | null;
  body: string;
}

/** What the function answered. */
export interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
  ms: number;
}

/** A short random prefix that keeps this run's users and svix ids apart from other tests'. */
export function runId(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 10);
}

/** A user event delivery; created/updated get a user whose names carry `version`. */
export function userDelivery(
  type: Delivery["type"],
  userId: string,
  at: number,
  msgId: string,
  version = String(at),
): Delivery {
  if (type === "user.deleted") {
    const body = JSON.stringify(clerkEvent(type, clerkDeletedPayload(userId), at));
    return { msgId, type, userId, at, user: null, body };
  }
  const user = clerkUserPayload({
    id: userId,
    createdAt: 1_700_000_000_000,
    updatedAt: at,
    firstName: `First ${version}`,
    lastName: `Last ${version}`,
    username: `u${version}`.toLowerCase().replace(/[^a-z0-9_]/g, "_"),
    email: `${userId.toLowerCase()}+${version}@example.com`,
    publicMetadata: { version },
  });
  return { msgId, type, userId, at, user, body: JSON.stringify(clerkEvent(type, user, at)) };
}

/** POSTs a delivery (signed now, as a Svix attempt is) and reads the answer. */
export async function deliver(
  stack: LocalStack,
  delivery: Pick<Delivery, "msgId" | "body">,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return await post(stack.functionUrl, {
    headers: svixHeaders(stack.webhookSecret, delivery.body, { msgId: delivery.msgId, headers }),
    body: delivery.body,
  });
}

/** POSTs anything to `url` and reads the answer (JSON body parsed when it is JSON). */
export async function post(
  url: string,
  init: { headers: Record<string, string>; body: BodyInit; client?: Deno.HttpClient },
): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(url, { method: "POST", ...init });
  const text = await response.text();
  const ms = performance.now() - started;
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === "object" && parsed !== null) body = { ...parsed };
  } catch {
    // Not JSON: the test looks at `text`.
  }
  return { status: response.status, body, text, ms };
}

/** Runs `work` over `items` with at most `concurrency` in flight; results in input order. */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index], index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/** A Fisher-Yates shuffle driven by a seeded PRNG (mulberry32), so a failure can be replayed. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  let state = seed >>> 0;
  function random(): number {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/** Opens a postgres.js pool on `url` for `fn` and always closes it. */
export async function withSql<T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** A profile row as the tests compare it. */
export interface ProfileRow {
  user_id: string;
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  username: string | null;
  image_url: string | null;
  public_metadata: unknown;
  /** `clerk_created_at` as epoch ms. */
  clerk_created_ms: number | null;
  /** `clerk_updated_at` as epoch ms. */
  clerk_updated_ms: number;
}

/** Everything the sync writes for users whose id starts with `prefix`, in a comparable form. */
export interface Snapshot {
  profiles: ProfileRow[];
  events: { svix_id: string; event_type: string; user_id: string; outcome: string }[];
  tombstones: { user_id: string; deleted_ms: number }[];
}

/** Reads the profiles, delivery log and tombstones of users whose id starts with `prefix`. */
export async function snapshot(sql: postgres.Sql, prefix: string): Promise<Snapshot> {
  const like = `${prefix.replaceAll("_", "\\_")}%`;
  const profiles = await sql<ProfileRow[]>`
    select user_id, email, first_name, last_name, username, image_url, public_metadata,
           (extract(epoch from clerk_created_at) * 1000)::float8 as clerk_created_ms,
           (extract(epoch from clerk_updated_at) * 1000)::float8 as clerk_updated_ms
      from public.profiles where user_id like ${like} order by user_id`;
  const events = await sql<Snapshot["events"]>`
    select svix_id, event_type, user_id, outcome
      from clerk_sync.webhook_events where user_id like ${like} order by svix_id`;
  const tombstones = await sql<Snapshot["tombstones"]>`
    select user_id, (extract(epoch from deleted_at) * 1000)::float8 as deleted_ms
      from clerk_sync.deleted_users where user_id like ${like} order by user_id`;
  return {
    profiles: profiles.map((row) => ({ ...row })),
    events: events.map((row) => ({ ...row })),
    tombstones: tombstones.map((row) => ({ ...row })),
  };
}

/** The row a delivery's user should leave in `public.profiles`. */
export function expectedRow(delivery: Delivery): ProfileRow {
  const user = delivery.user;
  if (!user) throw new Error(`${delivery.type} leaves no row`);
  const email = user.email_addresses.find((e) => e.id === user.primary_email_address_id);
  return {
    user_id: user.id,
    email: email?.email_address ?? null,
    first_name: user.first_name,
    last_name: user.last_name,
    username: user.username,
    image_url: user.image_url,
    public_metadata: user.public_metadata,
    clerk_created_ms: user.created_at,
    clerk_updated_ms: user.updated_at,
  };
}

/** One delivery of an organization event. */
export interface OrgDelivery {
  msgId: string;
  type: "organization.created" | "organization.updated" | "organization.deleted";
  orgId: string;
  /** `updated_at` (or the deletion's timestamp), epoch ms. */
  at: number;
  /** The organization for created/updated, null for deleted. */
  org: ClerkOrganizationPayload | null;
  body: string;
}

/** One delivery of a membership event. */
export interface MembershipDelivery {
  msgId: string;
  type: ClerkMembershipEventType;
  orgId: string;
  userId: string;
  /** The envelope's timestamp, epoch ms (what orders a `.deleted`). */
  at: number;
  membership: ClerkMembershipPayload;
  body: string;
}

/** An organization event delivery; created/updated carry `org` (built by the caller). */
export function orgDelivery(
  type: OrgDelivery["type"],
  org: ClerkOrganizationPayload,
  msgId: string,
  at = org.updated_at,
): OrgDelivery {
  if (type === "organization.deleted") {
    const body = JSON.stringify(
      clerkOrganizationEvent(type, clerkOrganizationDeletedPayload(org.id, org.slug), at),
    );
    return { msgId, type, orgId: org.id, at, org: null, body };
  }
  const body = JSON.stringify(clerkOrganizationEvent(type, org, at));
  return { msgId, type, orgId: org.id, at, org, body };
}

/**
 * A membership event delivery; `at` is the envelope's timestamp (default the membership's
 * `updated_at`; a `.deleted` passes the removal time).
 */
export function membershipDelivery(
  type: ClerkMembershipEventType,
  membership: ClerkMembershipPayload,
  msgId: string,
  at = membership.updated_at,
): MembershipDelivery {
  return {
    msgId,
    type,
    orgId: membership.organization.id,
    userId: membership.public_user_data.user_id,
    at,
    membership,
    body: JSON.stringify(clerkMembershipEvent(type, membership, at)),
  };
}

/** An organization row as the tests compare it. */
export interface OrganizationRow {
  org_id: string;
  name: string;
  slug: string | null;
  image_url: string | null;
  public_metadata: unknown;
  created_by: string | null;
  clerk_created_ms: number | null;
  clerk_updated_ms: number;
}

/** A membership row as the tests compare it. */
export interface MembershipRow {
  org_id: string;
  user_id: string;
  membership_id: string;
  role: string;
  role_name: string | null;
  permissions: string[];
  public_metadata: unknown;
  clerk_created_ms: number;
  clerk_updated_ms: number;
}

/** Everything the sync writes for organizations whose id starts with `prefix`. */
export interface OrgSnapshot {
  organizations: OrganizationRow[];
  memberships: MembershipRow[];
  /** Delivery log rows of organization and membership events of those organizations. */
  events: { svix_id: string; event_type: string; org_id: string; user_id: string | null }[];
  orgTombstones: { org_id: string; deleted_ms: number; kind: string }[];
  membershipTombstones: { org_id: string; user_id: string; deleted_ms: number }[];
}

/** Reads organizations, memberships, delivery log and tombstones under an org id prefix. */
export async function orgSnapshot(sql: postgres.Sql, prefix: string): Promise<OrgSnapshot> {
  const like = `${prefix.replaceAll("_", "\\_")}%`;
  const organizations = await sql<OrganizationRow[]>`
    select org_id, name, slug, image_url, public_metadata, created_by,
           (extract(epoch from clerk_created_at) * 1000)::float8 as clerk_created_ms,
           (extract(epoch from clerk_updated_at) * 1000)::float8 as clerk_updated_ms
      from public.organizations where org_id like ${like} order by org_id`;
  const memberships = await sql<MembershipRow[]>`
    select org_id, user_id, membership_id, role, role_name, permissions, public_metadata,
           (extract(epoch from clerk_created_at) * 1000)::float8 as clerk_created_ms,
           (extract(epoch from clerk_updated_at) * 1000)::float8 as clerk_updated_ms
      from public.organization_memberships where org_id like ${like} order by org_id, user_id`;
  const events = await sql<OrgSnapshot["events"]>`
    select svix_id, event_type, org_id, user_id
      from clerk_sync.webhook_events where org_id like ${like} order by svix_id`;
  const orgTombstones = await sql<OrgSnapshot["orgTombstones"]>`
    select org_id, (extract(epoch from deleted_at) * 1000)::float8 as deleted_ms, kind
      from clerk_sync.deleted_organizations where org_id like ${like} order by org_id`;
  const membershipTombstones = await sql<OrgSnapshot["membershipTombstones"]>`
    select org_id, user_id, (extract(epoch from deleted_at) * 1000)::float8 as deleted_ms
      from clerk_sync.deleted_memberships where org_id like ${like} order by org_id, user_id`;
  return {
    organizations: organizations.map((row) => ({ ...row })),
    memberships: memberships.map((row) => ({ ...row })),
    events: events.map((row) => ({ ...row })),
    orgTombstones: orgTombstones.map((row) => ({ ...row })),
    membershipTombstones: membershipTombstones.map((row) => ({ ...row })),
  };
}

/** The row an organization payload should leave in `public.organizations`. */
export function expectedOrganizationRow(org: ClerkOrganizationPayload): OrganizationRow {
  return {
    org_id: org.id,
    name: org.name,
    slug: org.slug,
    image_url: org.image_url ?? null,
    public_metadata: org.public_metadata ?? {},
    created_by: org.created_by ?? null,
    clerk_created_ms: org.created_at,
    clerk_updated_ms: org.updated_at,
  };
}

/** The row a membership payload should leave in `public.organization_memberships`. */
export function expectedMembershipRow(membership: ClerkMembershipPayload): MembershipRow {
  return {
    org_id: membership.organization.id,
    user_id: membership.public_user_data.user_id,
    membership_id: membership.id,
    role: membership.role,
    role_name: membership.role_name,
    permissions: membership.permissions,
    public_metadata: membership.public_metadata,
    clerk_created_ms: membership.created_at,
    clerk_updated_ms: membership.updated_at,
  };
}

/** Counts answers by their `status` (`applied`, `stale`, ...; the HTTP status when none). */
export function countStatuses(answers: readonly Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of answers) {
    const key = typeof a.body.status === "string" ? a.body.status : `HTTP ${a.status}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
