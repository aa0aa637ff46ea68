/**
 * The source of the backfill and reconcile: Clerk's listings of users, organizations and the
 * instance's memberships, each read oldest first, one page after a cursor; the instance the secret
 * key belongs to and whether Organizations is on. Rate limits and 5xx are retried here.
 *
 * Paging follows Clerk's spec (`bapi/2026-05-12.yml`):
 * - users (GetUserList) by `starting_after`, the id of the last user read, which "costs the same no
 *   matter how far into the list it sits" and requires the `created_at` order and no offset;
 * - organizations (ListOrganizations) and memberships (InstanceGetOrganizationMemberships) by
 *   `offset`, the only paging the spec offers for them.
 */
import type {
  ClerkMembershipJson,
  ClerkOrganizationJson,
} from "../supabase/functions/_shared/clerk_organization.ts";
import type { ClerkUserJson } from "../supabase/functions/_shared/clerk_user.ts";
import { type ClerkApi, ClerkApiError, type Query } from "./clerk_api.ts";
import type { Kind } from "./kinds.ts";
import { type RetryPolicy, type Verdict, withRetry } from "./retry.ts";

/** What every listed object has: an id, and the creation time the listing is ordered by. */
export interface ClerkObject {
  id?: unknown;
  created_at?: unknown;
}

/** The newest creation time read so far, with the ids read at that instant (for ties). */
interface Seen {
  lastCreatedAt: number | null;
  lastIds: string[];
}

/** Where a read of the users stands: after the user `after` (null: before the first page). */
export interface AfterCursor extends Seen {
  by: "starting_after";
  after: string | null;
}

/** Where a read of an offset listing stands: the offset after its last page. */
export interface OffsetCursor extends Seen {
  by: "offset";
  offset: number;
}

/** Where a read of a listing stands after its last page: what a resume continues from. */
export type Cursor = AfterCursor | OffsetCursor;

/** One page read after a cursor: only objects not read before. */
export interface Page<T extends ClerkObject> {
  items: T[];
  /** The cursor after this page. */
  cursor: Cursor;
  /** The listing ended with this page. */
  last: boolean;
  /** The count Clerk reported with the page (offset listings), or null. */
  totalCount: number | null;
}

/** Reads one of Clerk's listings, oldest first. */
export interface ClerkListing<T extends ClerkObject> {
  readonly kind: Kind;
  readonly pageSize: number;
  /** The cursor of a read from the first object on. */
  readonly start: Cursor;
  /** The number of objects in the instance. */
  count(): Promise<number>;
  /** The page after `cursor`. */
  next(cursor: Cursor): Promise<Page<T>>;
  /**
   * The objects among `ids` that exist (looked up 100 at a time); null where Clerk offers no
   * lookup by id (memberships: the instance's listing is the only source).
   */
  readonly lookup: ((ids: string[]) => Promise<T[]>) | null;
}

/** The Clerk instance a secret key belongs to (GetInstance). */
export interface ClerkInstance {
  /** `ins_...` */
  id: string;
  /** `development` or `production`. */
  environmentType: string;
}

/** The three listings, in the order the backfill reads them, and the instance's facts. */
export interface ClerkSources {
  users: ClerkListing<ClerkUserJson>;
  organizations: ClerkListing<ClerkOrganizationJson>;
  memberships: ClerkListing<ClerkMembershipJson>;
  /** `GET /v1/instance`. */
  instance(): Promise<ClerkInstance>;
  /**
   * Whether the Organizations feature is on: `enabled` of `GET /v1/instance/organization_settings`;
   * when that cannot be read (a 4xx other than 401 and 429), whether `GET /v1/organizations`
   * answers or refuses with 403 `organization_not_enabled_in_instance`.
   */
  organizationsEnabled(): Promise<boolean>;
}

/** Options of {@linkcode createClerkSources}. */
export interface ClerkSourceOptions {
  /** Objects per page, 2..500 (default 500, Clerk's maximum; a page re-reads one at least). */
  pageSize?: number;
  /** Retry policy for 429 and 5xx answers and network failures. */
  retry?: RetryPolicy;
}

/** Clerk's limit on ids per `user_id` / `organization_id` filter. */
const LOOKUP_CHUNK = 100;

/** Objects each offset page re-reads of the one before, to notice deletions in between. */
export const DEFAULT_OVERLAP = 25;

/** The spec's offset listings: their path, and the paginated answer `{data, total_count}`. */
interface OffsetListingSpec {
  kind: Kind;
  path: string;
  /** Reads the items and the count (if any) of one answer. */
  parse(body: unknown): { items: ClerkObject[]; totalCount: number | null };
  count(get: Get): Promise<number>;
}

/** The listings over the Backend API. */
export function createClerkSources(api: ClerkApi, options: ClerkSourceOptions = {}): ClerkSources {
  const pageSize = options.pageSize ?? 500;
  if (!Number.isInteger(pageSize) || pageSize < 2 || pageSize > 500) {
    throw new RangeError("pageSize must be between 2 and 500");
  }
  const get = (path: string, query?: Query) =>
    withRetry(() => api.get(path, query), classifyClerkError, options.retry);

  async function lookupIn<T>(ids: string[], read: (chunk: string[]) => Promise<T[]>) {
    const found: T[] = [];
    for (let i = 0; i < ids.length; i += LOOKUP_CHUNK) {
      found.push(...await read(ids.slice(i, i + LOOKUP_CHUNK)));
    }
    return found;
  }

  const organizations = offsetListing<ClerkOrganizationJson>(get, pageSize, ORGANIZATIONS);
  return {
    users: {
      ...userListing(get, pageSize),
      lookup: (ids) =>
        lookupIn(ids, async (userId) =>
          asArray(
            await get("/users", { user_id: userId, limit: LOOKUP_CHUNK, order_by: "+created_at" }),
            "/users",
          ) as ClerkUserJson[]),
    },
    organizations: {
      ...organizations,
      lookup: (ids) =>
        lookupIn(ids, async (organizationId) => {
          const body = await get("/organizations", {
            organization_id: organizationId,
            limit: LOOKUP_CHUNK,
            order_by: "+created_at",
          });
          return ORGANIZATIONS.parse(body).items as ClerkOrganizationJson[];
        }),
    },
    memberships: {
      ...offsetListing<ClerkMembershipJson>(get, pageSize, MEMBERSHIPS),
      lookup: null,
    },
    async instance() {
      const body = await get("/instance") as { id?: unknown; environment_type?: unknown } | null;
      if (typeof body?.id !== "string") {
        throw new Error("GET /v1/instance answered no instance id");
      }
      return {
        id: body.id,
        environmentType: typeof body.environment_type === "string"
          ? body.environment_type
          : "unknown",
      };
    },
    async organizationsEnabled() {
      try {
        const settings = await get("/instance/organization_settings") as { enabled?: unknown };
        if (typeof settings?.enabled === "boolean") return settings.enabled;
      } catch (error) {
        const status = error instanceof ClerkApiError ? error.status : undefined;
        if (status === undefined || status === 401 || status === 429 || status >= 500) throw error;
      }
      try {
        await get("/organizations", { limit: 1 });
        return true;
      } catch (error) {
        if (isOrganizationsOff(error)) return false;
        throw error;
      }
    },
  };
}

/** Whether Clerk refused because the Organizations feature is off (403). */
export function isOrganizationsOff(error: unknown): boolean {
  return error instanceof ClerkApiError && error.status === 403 &&
    error.code === "organization_not_enabled_in_instance";
}

type Get = (path: string, query?: Query) => Promise<unknown>;

/**
 * Users by `starting_after`. When Clerk refuses the cursor (its user was deleted since it was
 * read: the spec does not say what Clerk answers then, so any 404 or 422 counts), the page is read
 * by `created_at_after` instead, from the newest creation time read (less 1 ms, so that users
 * created in the same millisecond are not skipped; those read already are dropped by id).
 */
function userListing(get: Get, pageSize: number): Omit<ClerkListing<ClerkUserJson>, "lookup"> {
  const order = { limit: pageSize, order_by: "+created_at" };
  return {
    kind: "users",
    pageSize,
    start: { by: "starting_after", after: null, lastCreatedAt: null, lastIds: [] },
    count: () => countUsers(get),
    async next(cursor) {
      if (cursor.by !== "starting_after") throw new Error("users are read by starting_after");
      let raw: ClerkUserJson[];
      try {
        raw = asArray(
          await get("/users", { ...order, starting_after: cursor.after ?? undefined }),
          "/users",
        ) as ClerkUserJson[];
      } catch (error) {
        const refused = error instanceof ClerkApiError &&
          (error.status === 404 || error.status === 422);
        if (cursor.after === null || cursor.lastCreatedAt === null || !refused) throw error;
        raw = asArray(
          await get("/users", { ...order, created_at_after: cursor.lastCreatedAt - 1 }),
          "/users",
        ) as ClerkUserJson[];
      }
      const items = raw.filter((item) => isNew(cursor, item));
      const last = raw.at(-1);
      return {
        items,
        cursor: {
          ...advance(cursor, items),
          by: "starting_after",
          after: typeof last?.id === "string" ? last.id : cursor.after,
        },
        last: raw.length < pageSize,
        totalCount: null,
      };
    },
  };
}

/**
 * An offset listing. Deleting an object shifts every later one a place to the left: a read that
 * just goes on at `offset + 500` would skip an object for each deletion in between. So each page
 * starts `overlap` objects early, objects created at or before the newest one read (and not among
 * its ids) are dropped as already read, and when even the first object of a page is new (more
 * than `overlap` deletions), the read steps back a page until it overlaps again. Nothing is
 * skipped; rereading is harmless (writes are idempotent). Only objects created during the run with
 * a back-dated `created_at` (an import) can be missed, and the webhook delivers those.
 */
export function offsetListing<T extends ClerkObject>(
  get: Get,
  pageSize: number,
  spec: OffsetListingSpec,
  overlap = DEFAULT_OVERLAP,
): Omit<ClerkListing<T>, "lookup"> {
  // A small page re-reads a quarter of itself (at least one object), so that every page still
  // moves on: a page no larger than its re-read part would be read again forever.
  const reread = Math.max(1, Math.min(overlap, Math.floor(pageSize / 4)));
  return {
    kind: spec.kind,
    pageSize,
    start: { by: "offset", offset: 0, lastCreatedAt: null, lastIds: [] },
    count: () => spec.count(get),
    async next(cursor) {
      if (cursor.by !== "offset") throw new Error(`${spec.kind} are read by offset`);
      const back = cursor.lastCreatedAt === null ? 0 : Math.min(reread, cursor.offset);
      let offset = cursor.offset - back;
      for (;;) {
        const page = spec.parse(
          await get(spec.path, { limit: pageSize, offset, order_by: "+created_at" }),
        );
        if (offset > 0 && page.items.length > 0 && isNew(cursor, page.items[0])) {
          offset = Math.max(0, offset - (pageSize - reread));
          continue;
        }
        const items = page.items.filter((item) => isNew(cursor, item)) as T[];
        return {
          items,
          cursor: { ...advance(cursor, items), by: "offset", offset: offset + page.items.length },
          last: page.items.length < pageSize,
          totalCount: page.totalCount,
        };
      }
    },
  };
}

// Not read before: created after the newest creation time read, or then but not among its ids.
function isNew(cursor: Seen, item: ClerkObject): boolean {
  if (cursor.lastCreatedAt === null || typeof item.created_at !== "number") return true;
  if (item.created_at !== cursor.lastCreatedAt) return item.created_at > cursor.lastCreatedAt;
  return !cursor.lastIds.includes(String(item.id));
}

function advance(cursor: Seen, items: ClerkObject[]): Seen {
  let { lastCreatedAt, lastIds } = cursor;
  for (const item of items) {
    if (typeof item.created_at !== "number") continue;
    if (lastCreatedAt === null || item.created_at > lastCreatedAt) {
      lastCreatedAt = item.created_at;
      lastIds = [];
    }
    if (item.created_at === lastCreatedAt) lastIds = [...lastIds, String(item.id)];
  }
  return { lastCreatedAt, lastIds };
}

// GetUsersCount: `{"object": "total_count", "total_count": N}`.
async function countUsers(get: Get): Promise<number> {
  const body = await get("/users/count") as { total_count?: unknown };
  if (typeof body?.total_count !== "number") {
    throw new Error("GET /v1/users/count answered no total_count");
  }
  return body.total_count;
}

function asArray(body: unknown, path: string): ClerkObject[] {
  if (!Array.isArray(body)) throw new Error(`GET /v1${path} answered no array`);
  return body;
}

// `{"data": [...], "total_count": N}` (the spec's Organizations, OrganizationMemberships).
function paginated(path: string) {
  return (body: unknown): { items: ClerkObject[]; totalCount: number } => {
    const { data, total_count } = (body ?? {}) as { data?: unknown; total_count?: unknown };
    if (!Array.isArray(data) || typeof total_count !== "number") {
      throw new Error(`GET /v1${path} answered no {data, total_count}`);
    }
    return { items: data, totalCount: total_count };
  };
}

/** ListOrganizations: `GET /v1/organizations`; the count is `total_count` of one object's page. */
const ORGANIZATIONS: OffsetListingSpec = {
  kind: "organizations",
  path: "/organizations",
  parse: paginated("/organizations"),
  count: async (get) =>
    paginated("/organizations")(await get("/organizations", { limit: 1 })).totalCount,
};

/**
 * InstanceGetOrganizationMemberships: `GET /v1/organization_memberships`, every membership of the
 * instance, each with its organization and `public_user_data.user_id`.
 */
const MEMBERSHIPS: OffsetListingSpec = {
  kind: "memberships",
  path: "/organization_memberships",
  parse: paginated("/organization_memberships"),
  count: async (get) =>
    paginated("/organization_memberships")(await get("/organization_memberships", { limit: 1 }))
      .totalCount,
};

/**
 * Users by `offset` (GetUserList's `OffsetParameter`), as the backfill read them before it used
 * `starting_after`: for the benchmark's before/after comparison only.
 */
export function usersByOffset(
  api: ClerkApi,
  options: ClerkSourceOptions = {},
): ClerkListing<ClerkUserJson> {
  const get = (path: string, query?: Query) =>
    withRetry(() => api.get(path, query), classifyClerkError, options.retry);
  const listing = offsetListing<ClerkUserJson>(get, options.pageSize ?? 500, {
    kind: "users",
    path: "/users",
    parse: (body) => ({ items: asArray(body, "/users"), totalCount: null }),
    count: countUsers,
  });
  return { ...listing, lookup: null };
}

/**
 * How to retry a failed Backend API call: 429 after `Retry-After` (seconds), 5xx and no answer at
 * all with backoff; anything else is final. The same fields as `@clerk/backend`'s
 * `ClerkAPIResponseError`, whose network failures carry the code `unexpected_error`.
 */
export function classifyClerkError(error: unknown): Verdict {
  if (typeof error !== "object" || error === null) return { kind: "fatal" };
  const { status, retryAfter, errors } = error as {
    status?: unknown;
    retryAfter?: unknown;
    errors?: { code?: unknown }[];
  };
  if (status === 429) {
    const delayMs = typeof retryAfter === "number" && retryAfter >= 0 ? retryAfter * 1000 : null;
    return { kind: "rate_limited", delayMs, reason: "Clerk answered 429 Too Many Requests" };
  }
  if (typeof status === "number" && status >= 500) {
    return { kind: "transient", reason: `Clerk answered ${status}` };
  }
  if (status === undefined && Array.isArray(errors) && errors[0]?.code === "unexpected_error") {
    return { kind: "transient", reason: "Clerk unreachable" };
  }
  return { kind: "fatal" };
}

/**
 * "Clerk answered 401: The provided Clerk Secret Key is invalid. ... (clerk_key_invalid)" for a
 * Clerk error (Clerk's long message, else its message), null for any other error.
 */
export function describeClerkError(error: unknown): string | null {
  if (typeof error !== "object" || error === null || !("clerkTraceId" in error)) return null;
  const { status, errors } = error as {
    status?: unknown;
    errors?: { code?: unknown; message?: unknown; longMessage?: unknown }[];
  };
  const first = Array.isArray(errors) ? errors[0] : undefined;
  const detail = first ? `${first.longMessage || first.message} (${first.code})` : "no details";
  return `Clerk answered ${status ?? "nothing"}: ${detail}`;
}
