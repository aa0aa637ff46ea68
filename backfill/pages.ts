/** Clerk pages with one page of read-ahead, and the mapping and writing of one page. */
import {
  type ClerkUserJson,
  type Profile,
  toProfile,
} from "../supabase/functions/_shared/clerk_user.ts";
import type { ClerkSource } from "./clerk_source.ts";
import type { Failure } from "./state.ts";
import { type BackfillStore, RpcError, type SyncOutcome } from "./store.ts";

/**
 * Where a read of Clerk's `+created_at` listing stands: the offset after the last page, and the
 * newest creation time read so far with the ids read at that instant (for ties).
 */
export interface Cursor {
  offset: number;
  lastCreatedAt: number | null;
  lastIds: string[];
}

/** The cursor of a read from the first user on. */
export const START: Cursor = { offset: 0, lastCreatedAt: null, lastIds: [] };

/** Users not read before, from one page of the listing. */
export interface FreshPage {
  users: ClerkUserJson[];
  /** The cursor after this page (what a resume continues from). */
  cursor: Cursor;
  /** The user count Clerk reported with the page. */
  totalCount: number;
  /** The listing ended with this page. */
  last: boolean;
}

/**
 * Clerk pages by offset, and deleting a user shifts every later user one place to the left: a
 * read that just goes on at `offset + 500` would skip a user for each deletion in between. So
 * each page starts `overlap` users early, users created at or before the newest one read (and
 * not among its ids) are dropped as already read, and when even the first user of a page is new
 * (more than `overlap` deletions), the read steps back a page until it overlaps again. Users are
 * never skipped; rereading is harmless (writes are idempotent). Only users created during the run
 * with a back-dated `created_at` (an import) can be missed, and the webhook delivers those.
 */
export async function fetchFresh(
  source: ClerkSource,
  cursor: Cursor,
  overlap = DEFAULT_OVERLAP,
): Promise<FreshPage> {
  const back = cursor.lastCreatedAt === null ? 0 : Math.min(overlap, cursor.offset);
  let offset = cursor.offset - back;
  for (;;) {
    const page = await source.page(offset);
    const isNew = (user: ClerkUserJson) => {
      if (cursor.lastCreatedAt === null || typeof user.created_at !== "number") return true;
      if (user.created_at !== cursor.lastCreatedAt) return user.created_at > cursor.lastCreatedAt;
      return !cursor.lastIds.includes(String(user.id));
    };
    if (offset > 0 && page.users.length > 0 && isNew(page.users[0])) {
      offset = Math.max(0, offset - (source.pageSize - overlap));
      continue;
    }
    const users = page.users.filter(isNew);
    return {
      users,
      cursor: advance(cursor, offset + page.users.length, users),
      totalCount: page.totalCount,
      last: page.users.length < source.pageSize,
    };
  }
}

/** Users each page re-reads of the one before, to notice deletions in between. */
export const DEFAULT_OVERLAP = 25;

function advance(cursor: Cursor, offset: number, users: ClerkUserJson[]): Cursor {
  let { lastCreatedAt, lastIds } = cursor;
  for (const user of users) {
    if (typeof user.created_at !== "number") continue;
    if (lastCreatedAt === null || user.created_at > lastCreatedAt) {
      lastCreatedAt = user.created_at;
      lastIds = [];
    }
    if (user.created_at === lastCreatedAt) lastIds = [...lastIds, String(user.id)];
  }
  return { offset, lastCreatedAt, lastIds };
}

/**
 * Yields fresh pages from `cursor` on, reading the next page while the caller works on the
 * current one. Stops after the last page, or before reading more once `signal` is aborted.
 */
export async function* readPages(
  source: ClerkSource,
  cursor: Cursor,
  signal?: AbortSignal,
): AsyncGenerator<FreshPage> {
  let pending: Promise<FreshPage> | null = handled(fetchFresh(source, cursor));
  try {
    while (pending) {
      const page: FreshPage = await pending;
      pending = null;
      if (!page.last && !signal?.aborted) pending = handled(fetchFresh(source, page.cursor));
      yield page;
    }
  } finally {
    // The caller stopped early (interrupt, error): let the read-ahead settle, never leak it.
    if (pending) await pending.catch(() => {});
  }
}

/** Marks a promise that may reject before anyone awaits it as handled; the await rethrows. */
export function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** Maps users with the webhook's mapping; users it refuses become failures. */
export function mapUsers(users: ClerkUserJson[]): { profiles: Profile[]; failures: Failure[] } {
  const profiles: Profile[] = [];
  const failures: Failure[] = [];
  for (const user of users) {
    try {
      profiles.push(toProfile(user));
    } catch (error) {
      failures.push({
        userId: typeof user.id === "string" ? user.id : "(no id)",
        reason: text(error),
      });
    }
  }
  return { profiles, failures };
}

/**
 * Writes profiles in one call. When the database refuses the batch's data, writes them one by one
 * so that only the offending users fail; any other error propagates (the run stops, resumable).
 */
export async function writeProfiles(
  store: BackfillStore,
  profiles: Profile[],
): Promise<{ outcomes: Map<string, SyncOutcome>; failures: Failure[] }> {
  const failures: Failure[] = [];
  if (profiles.length === 0) return { outcomes: new Map(), failures };
  let outcomes: Map<string, SyncOutcome>;
  try {
    outcomes = await store.syncUsers(profiles);
  } catch (error) {
    if (!(error instanceof RpcError && error.isDataError)) throw error;
    outcomes = new Map();
    for (const profile of profiles) {
      try {
        for (const [id, outcome] of await store.syncUsers([profile])) outcomes.set(id, outcome);
      } catch (single) {
        if (!(single instanceof RpcError && single.isDataError)) throw single;
        failures.push({ userId: profile.user_id, reason: single.message });
      }
    }
  }
  for (const profile of profiles) {
    if (!outcomes.has(profile.user_id) && !failures.some((f) => f.userId === profile.user_id)) {
      failures.push({ userId: profile.user_id, reason: "the database reported no outcome" });
    }
  }
  return { outcomes, failures };
}

/** An error's message. */
export function text(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
