/**
 * Helpers of the end-to-end tests: deliver signed events to the running function over HTTP, run
 * work at a fixed concurrency, shuffle reproducibly, and read the tables back with SQL.
 */
import postgres from "postgres";
import {
  clerkDeletedPayload,
  clerkEvent,
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
  init: { headers: Record<string, string>; body: BodyInit },
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
