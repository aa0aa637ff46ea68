/** Clerk pages with one page of read-ahead, and the mapping and writing of one page. */
import {
  type ClerkMembershipJson,
  type ClerkOrganizationJson,
  type Membership,
  type Organization,
  toMembership,
  toOrganization,
} from "../supabase/functions/_shared/clerk_organization.ts";
import {
  type ClerkUserJson,
  type Profile,
  toProfile,
} from "../supabase/functions/_shared/clerk_user.ts";
import type { ClerkListing, ClerkObject } from "./clerk_source.ts";
import type { Kind } from "./kinds.ts";
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

/** The cursor of a read from the first object on. */
export const START: Cursor = { offset: 0, lastCreatedAt: null, lastIds: [] };

/** Objects not read before, from one page of the listing. */
export interface FreshPage<T extends ClerkObject> {
  items: T[];
  /** The cursor after this page (what a resume continues from). */
  cursor: Cursor;
  /** The count Clerk reported with the page. */
  totalCount: number;
  /** The listing ended with this page. */
  last: boolean;
}

/**
 * Clerk pages by offset, and deleting an object shifts every later one a place to the left: a
 * read that just goes on at `offset + 500` would skip an object for each deletion in between.
 * So each page starts `overlap` objects early, objects created at or before the newest one read
 * (and not among its ids) are dropped as already read, and when even the first object of a page
 * is new (more than `overlap` deletions), the read steps back a page until it overlaps again.
 * Nothing is skipped; rereading is harmless (writes are idempotent). Only objects created during
 * the run with a back-dated `created_at` (an import) can be missed, and the webhook delivers
 * those. The same holds for every listing: users, organizations and memberships.
 */
export async function fetchFresh<T extends ClerkObject>(
  source: ClerkListing<T>,
  cursor: Cursor,
  overlap = DEFAULT_OVERLAP,
): Promise<FreshPage<T>> {
  // A small page re-reads a quarter of itself (at least one object), so that every page still
  // moves on: a page no larger than its re-read part would be read again forever.
  const reread = Math.max(1, Math.min(overlap, Math.floor(source.pageSize / 4)));
  const back = cursor.lastCreatedAt === null ? 0 : Math.min(reread, cursor.offset);
  let offset = cursor.offset - back;
  for (;;) {
    const page = await source.page(offset);
    const isNew = (item: T) => {
      if (cursor.lastCreatedAt === null || typeof item.created_at !== "number") return true;
      if (item.created_at !== cursor.lastCreatedAt) return item.created_at > cursor.lastCreatedAt;
      return !cursor.lastIds.includes(String(item.id));
    };
    if (offset > 0 && page.items.length > 0 && isNew(page.items[0])) {
      offset = Math.max(0, offset - (source.pageSize - reread));
      continue;
    }
    const items = page.items.filter(isNew);
    return {
      items,
      cursor: advance(cursor, offset + page.items.length, items),
      totalCount: page.totalCount,
      last: page.items.length < source.pageSize,
    };
  }
}

/** Objects each page re-reads of the one before, to notice deletions in between. */
export const DEFAULT_OVERLAP = 25;

function advance(cursor: Cursor, offset: number, items: ClerkObject[]): Cursor {
  let { lastCreatedAt, lastIds } = cursor;
  for (const item of items) {
    if (typeof item.created_at !== "number") continue;
    if (lastCreatedAt === null || item.created_at > lastCreatedAt) {
      lastCreatedAt = item.created_at;
      lastIds = [];
    }
    if (item.created_at === lastCreatedAt) lastIds = [...lastIds, String(item.id)];
  }
  return { offset, lastCreatedAt, lastIds };
}

/**
 * Yields fresh pages from `cursor` on, reading the next page while the caller works on the
 * current one. Stops after the last page, or before reading more once `signal` is aborted.
 */
export async function* readPages<T extends ClerkObject>(
  source: ClerkListing<T>,
  cursor: Cursor,
  signal?: AbortSignal,
): AsyncGenerator<FreshPage<T>> {
  let pending: Promise<FreshPage<T>> | null = handled(fetchFresh(source, cursor));
  try {
    while (pending) {
      const page: FreshPage<T> = await pending;
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

/**
 * How one kind of Clerk object becomes rows and is written: the webhook's mapping, the key the
 * batch functions answer with, and the batch write.
 */
export interface RowKind<J extends ClerkObject, R> {
  kind: Kind;
  map(item: J): R;
  key(row: R): string;
  write(store: BackfillStore, rows: R[]): Promise<Map<string, SyncOutcome>>;
}

/** Users: public.profiles through public.sync_clerk_users. */
export const USER_ROWS: RowKind<ClerkUserJson, Profile> = {
  kind: "users",
  map: (user) => toProfile(user),
  key: (profile) => profile.user_id,
  write: (store, profiles) => store.syncUsers(profiles),
};

/** Organizations: public.organizations through public.sync_clerk_organizations. */
export const ORGANIZATION_ROWS: RowKind<ClerkOrganizationJson, Organization> = {
  kind: "organizations",
  map: (org) => toOrganization(org),
  key: (org) => org.org_id,
  write: (store, orgs) => store.syncOrganizations(orgs),
};

/**
 * Memberships: public.organization_memberships through public.sync_clerk_memberships. The
 * nested organization is mapped (the mapping requires it) but not written: the organizations'
 * own listing comes first.
 */
export const MEMBERSHIP_ROWS: RowKind<ClerkMembershipJson, Membership> = {
  kind: "memberships",
  map: (member) => toMembership(member).membership,
  key: (member) => member.membership_id,
  write: (store, members) => store.syncMemberships(members),
};

/** Maps objects with the webhook's mapping; objects it refuses become failures. */
export function mapItems<J extends ClerkObject, R>(
  rowKind: RowKind<J, R>,
  items: J[],
): { rows: R[]; failures: Failure[] } {
  const rows: R[] = [];
  const failures: Failure[] = [];
  for (const item of items) {
    try {
      rows.push(rowKind.map(item));
    } catch (error) {
      failures.push({
        kind: rowKind.kind,
        id: typeof item.id === "string" ? item.id : "(no id)",
        reason: text(error),
      });
    }
  }
  return { rows, failures };
}

/**
 * Writes rows in one call. When the database refuses the batch's data, writes them one by one so
 * that only the offending objects fail; any other error propagates (the run stops, resumable).
 */
export async function writeRows<J extends ClerkObject, R>(
  store: BackfillStore,
  rowKind: RowKind<J, R>,
  rows: R[],
): Promise<{ outcomes: Map<string, SyncOutcome>; failures: Failure[] }> {
  const failures: Failure[] = [];
  if (rows.length === 0) return { outcomes: new Map(), failures };
  const { kind } = rowKind;
  let outcomes: Map<string, SyncOutcome>;
  try {
    outcomes = await rowKind.write(store, rows);
  } catch (error) {
    if (!(error instanceof RpcError && error.isDataError)) throw error;
    outcomes = new Map();
    for (const row of rows) {
      try {
        for (const [id, outcome] of await rowKind.write(store, [row])) outcomes.set(id, outcome);
      } catch (single) {
        if (!(single instanceof RpcError && single.isDataError)) throw single;
        failures.push({ kind, id: rowKind.key(row), reason: single.message });
      }
    }
  }
  for (const row of rows) {
    const id = rowKind.key(row);
    if (!outcomes.has(id) && !failures.some((f) => f.id === id)) {
      failures.push({ kind, id, reason: "the database reported no outcome" });
    }
  }
  return { outcomes, failures };
}

/** An error's message. */
export function text(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
