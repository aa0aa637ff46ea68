// The stream of the peer comparison (issue 11, part 3): unique events, then a realistic fault
// mix, the same deliveries for every path (only the user-id prefix differs, at the same length),
// and Clerk's final state after each phase, which the table is checked against afterwards.
import postgres from "postgres";
import { type Profile, toProfile } from "../supabase/functions/_shared/clerk_user.ts";
import { clerkDeletedPayload, clerkEvent } from "../tests/support/clerk_payloads.ts";
import { userEventBody, userEvents } from "./payloads.ts";

/** One delivery: redelivered copies share their original's `svix-id`. */
export interface StreamDelivery {
  svixId: string;
  userId: string;
  body: string;
}

/** Clerk's state of each user at the end of a phase: the user's row, or null once deleted. */
export type ClerkState = Map<string, Profile | null>;

/** What the fault mix holds. */
export interface FaultCounts {
  users: number;
  /** Clerk's own events: a create and two updates per user, a deletion for one user in ten. */
  events: number;
  deliveries: number;
  /** Copies of a delivery sent again later (same `svix-id`), as Svix retries. */
  redelivered: number;
  /** Deliveries that arrive after one to three newer events of their user. */
  outOfOrder: number;
  /** Deleted users whose last update arrives only after the deletion. */
  lateAfterDelete: number;
}

/** Both phases of the stream. */
export interface DeliveryStream {
  unique: StreamDelivery[];
  uniqueState: ClerkState;
  faults: StreamDelivery[];
  faultState: ClerkState;
  faultCounts: FaultCounts;
}

/** Rows of a phase that differ from Clerk's state, counted from the table. */
export interface WrongRows {
  /** Every wrong row: the sum of the rest. */
  wrong: number;
  /** A deleted user's row is back. */
  resurrected: number;
  /** A row holds an older version of the user than Clerk's newest. */
  stale: number;
  /** A live user has no row. */
  missing: number;
  rows: number;
  users: number;
}

/** The share of deliveries redelivered, and the share delivered out of order. */
const FAULT_SHARE = 0.1;
/** One user in this many is deleted, and its last update then arrives after the deletion. */
const DELETE_EVERY = 10;
/** Clerk's events are laid out in blocks of this many users (as userEvents does). */
const BLOCK = 100;
const STEP_MS = 1000;

/**
 * `uniqueUsers` users with a create and an update each, then `faultUsers` users with the fault
 * mix; ids are `${prefix}u<n>` and `${prefix}f<n>`. The faults are drawn from `seed`, so every
 * path gets the same stream.
 */
export function deliveryStream(
  prefix: string,
  uniqueUsers: number,
  faultUsers: number,
  t0: number,
  seed = 11,
): DeliveryStream {
  const uniqueEvents = userEvents(`${prefix}u`, uniqueUsers, t0);
  const uniqueState: ClerkState = new Map();
  for (const e of uniqueEvents) uniqueState.set(e.userId, profileOf(e.body));
  const unique = uniqueEvents.map(({ svixId, userId, body }) => ({ svixId, userId, body }));
  return { unique, uniqueState, ...faultMix(`${prefix}f`, faultUsers, t0, random(seed)) };
}

/** Counts the rows under `prefix` that differ from `state` (compared column by column). */
export async function wrongRows(
  sql: postgres.Sql,
  prefix: string,
  state: ClerkState,
): Promise<WrongRows> {
  const rows = await sql`select user_id, email, phone, first_name, last_name, username, image_url,
      public_metadata, clerk_created_at, clerk_updated_at
    from public.profiles where starts_with(user_id, ${prefix})`;
  let resurrected = 0;
  let stale = 0;
  const seen = new Set<string>();
  for (const row of rows) {
    seen.add(row.user_id);
    const expected = state.get(row.user_id);
    if (expected === null) resurrected++;
    else if (expected === undefined || !sameRow(row, expected)) stale++;
  }
  let missing = 0;
  for (const [userId, profile] of state) if (profile !== null && !seen.has(userId)) missing++;
  return {
    wrong: resurrected + stale + missing,
    resurrected,
    stale,
    missing,
    rows: rows.length,
    users: state.size,
  };
}

function faultMix(prefix: string, users: number, t0: number, rand: () => number) {
  // Clerk's order: per block of users, every create, then every first update, every second
  // update, every deletion. `key` is where a delivery lands; faults move keys, then sort.
  type Slot = StreamDelivery & { key: number; type: string };
  const slots: Slot[] = [];
  const faultState: ClerkState = new Map();
  for (let block = 0; block < users; block += BLOCK) {
    const ids = Array.from({ length: Math.min(BLOCK, users - block) }, (_, i) => block + i);
    const steps = ["user.created", "user.updated", "user.updated", "user.deleted"] as const;
    steps.forEach((type, step) => {
      for (const n of ids) {
        if (type === "user.deleted" && n % DELETE_EVERY !== DELETE_EVERY - 1) continue;
        const userId = `${prefix}${n}`;
        const at = t0 + step * STEP_MS;
        const body = type === "user.deleted"
          ? JSON.stringify(clerkEvent(type, clerkDeletedPayload(userId), at))
          : userEventBody(type, userId, at);
        faultState.set(userId, type === "user.deleted" ? null : profileOf(body));
        slots.push({ svixId: `msg_${userId}_${step}`, userId, body, key: slots.length, type });
      }
    });
  }
  const events = slots.length;

  // A deleted user's last update, sent before the deletion, arrives after it.
  let lateAfterDelete = 0;
  const moved = new Set<Slot>();
  for (const deletion of slots.filter((s) => s.type === "user.deleted")) {
    const last = slots.filter((s) => s.userId === deletion.userId && s.svixId.endsWith("_2"))[0];
    last.key = deletion.key + 1 + rand() * BLOCK;
    moved.add(last);
    lateAfterDelete++;
  }
  // 10% of the deliveries arrive after one to three newer events of their user (which come
  // BLOCK positions apart in Clerk's order).
  const candidates = shuffle(slots.filter((s) => !moved.has(s)), rand);
  const late = candidates.slice(0, Math.round(FAULT_SHARE * events));
  for (const slot of late) slot.key += BLOCK + rand() * 2 * BLOCK;
  // 10% of the deliveries are delivered again a little later, as a retry after a lost answer.
  const copies = shuffle([...slots], rand).slice(0, Math.round(FAULT_SHARE * events))
    .map((s) => ({ ...s, key: s.key + 1 + rand() * 3 * BLOCK }));
  const faults = [...slots, ...copies].sort((a, b) => a.key - b.key)
    .map(({ svixId, userId, body }) => ({ svixId, userId, body }));
  const faultCounts: FaultCounts = {
    users,
    events,
    deliveries: faults.length,
    redelivered: copies.length,
    outOfOrder: late.length,
    lateAfterDelete,
  };
  return { faults, faultState, faultCounts };
}

function profileOf(body: string): Profile {
  return toProfile(JSON.parse(body).data);
}

function sameRow(row: postgres.Row, expected: Profile): boolean {
  const time = (value: Date | null) => value === null ? null : value.toISOString();
  return row.email === expected.email &&
    row.phone === expected.phone &&
    row.first_name === expected.first_name &&
    row.last_name === expected.last_name &&
    row.username === expected.username &&
    row.image_url === expected.image_url &&
    canonical(row.public_metadata) === canonical(expected.public_metadata) &&
    time(row.clerk_created_at) === expected.clerk_created_at &&
    time(row.clerk_updated_at) === expected.clerk_updated_at;
}

// JSON with object keys sorted (jsonb does not keep the order of keys).
function canonical(value: unknown): string {
  return JSON.stringify(
    value,
    (_, v) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : 1))
        : v,
  );
}

function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

// mulberry32: a small seeded generator, so the stream is the same for every path and run.
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
