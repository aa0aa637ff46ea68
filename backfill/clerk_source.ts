/**
 * Pages through Clerk's listings (users, organizations, the instance's memberships) with the
 * official client, honouring rate limits and 5xx backoff.
 */
import type { ClerkClient } from "@clerk/backend";
import type {
  ClerkMembershipJson,
  ClerkOrganizationJson,
} from "../supabase/functions/_shared/clerk_organization.ts";
import type { ClerkUserJson } from "../supabase/functions/_shared/clerk_user.ts";
import type { Kind } from "./kinds.ts";
import { type RetryPolicy, type Verdict, withRetry } from "./retry.ts";

/** The part of `clerkClient.users` the backfill uses. */
export type UserLister = Pick<ClerkClient["users"], "getUserList" | "getCount">;

/** The part of `clerkClient.organizations` the backfill uses. */
export type OrganizationLister = Pick<
  ClerkClient["organizations"],
  "getOrganizationList" | "getInstanceOrganizationMembershipList"
>;

/** What every listed object has: an id, and the creation time the listing is ordered by. */
export interface ClerkObject {
  id?: unknown;
  created_at?: unknown;
}

/** One page of a listing, in the Backend API's JSON shape. */
export interface ClerkPage<T extends ClerkObject> {
  offset: number;
  items: T[];
  /** The count Clerk reported with the page. */
  totalCount: number;
}

/** Reads one of Clerk's listings. */
export interface ClerkListing<T extends ClerkObject> {
  readonly kind: Kind;
  readonly pageSize: number;
  /** The number of objects in the instance. */
  count(): Promise<number>;
  /** The page at `offset`, oldest first (`+created_at`), `pageSize` objects at most. */
  page(offset: number): Promise<ClerkPage<T>>;
  /**
   * The objects among `ids` that exist (looked up 100 at a time); null where Clerk offers no
   * lookup by id (memberships: the instance's listing is the only source).
   */
  readonly lookup: ((ids: string[]) => Promise<T[]>) | null;
}

/** The three listings, in the order the backfill reads them. */
export interface ClerkSources {
  users: ClerkListing<ClerkUserJson>;
  organizations: ClerkListing<ClerkOrganizationJson>;
  memberships: ClerkListing<ClerkMembershipJson>;
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

/** The listings of a `createClerkClient({ secretKey, apiUrl })` client. */
export function createClerkSources(
  clerk: { users: UserLister; organizations: OrganizationLister },
  options: ClerkSourceOptions = {},
): ClerkSources {
  const limit = options.pageSize ?? 500;
  if (!Number.isInteger(limit) || limit < 2 || limit > 500) {
    throw new RangeError("pageSize must be between 2 and 500");
  }
  const retry = <T>(attempt: () => Promise<T>) =>
    withRetry(attempt, classifyClerkError, options.retry);
  const orderBy = "+created_at" as const;
  const { users, organizations } = clerk;

  async function lookupIn<T>(
    ids: string[],
    read: (chunk: string[]) => Promise<T[]>,
  ): Promise<T[]> {
    const found: T[] = [];
    for (let i = 0; i < ids.length; i += LOOKUP_CHUNK) {
      found.push(...await retry(() => read(ids.slice(i, i + LOOKUP_CHUNK))));
    }
    return found;
  }

  return {
    users: {
      kind: "users",
      pageSize: limit,
      count: () => retry(() => users.getCount()),
      async page(offset) {
        // @clerk/backend sends ?limit=&offset=&order_by= and asks /v1/users/count alongside.
        const { data, totalCount } = await retry(() =>
          users.getUserList({ limit, offset, orderBy })
        );
        return { offset, items: data.map((u) => u.raw ?? { id: u.id }), totalCount };
      },
      lookup: (ids) =>
        lookupIn(ids, async (userId) => {
          const { data } = await users.getUserList({ userId, limit: LOOKUP_CHUNK, orderBy });
          return data.map((u) => u.raw ?? { id: u.id });
        }),
    },
    organizations: {
      kind: "organizations",
      pageSize: limit,
      // GET /v1/organizations answers {data, total_count}: one object read for the count.
      count: async () =>
        (await retry(() => organizations.getOrganizationList({ limit: 1 }))).totalCount,
      async page(offset) {
        const { data, totalCount } = await retry(() =>
          organizations.getOrganizationList({ limit, offset, orderBy })
        );
        return { offset, items: data.map((o) => o.raw ?? { id: o.id }), totalCount };
      },
      lookup: (ids) =>
        lookupIn(ids, async (organizationId) => {
          const { data } = await organizations.getOrganizationList({
            organizationId,
            limit: LOOKUP_CHUNK,
            orderBy,
          });
          return data.map((o) => o.raw ?? { id: o.id });
        }),
    },
    memberships: {
      kind: "memberships",
      pageSize: limit,
      count: async () =>
        (await retry(() => organizations.getInstanceOrganizationMembershipList({ limit: 1 })))
          .totalCount,
      async page(offset) {
        // GET /v1/organization_memberships: every membership of the instance, each with its
        // organization and public_user_data.user_id.
        const { data, totalCount } = await retry(() =>
          organizations.getInstanceOrganizationMembershipList({ limit, offset, orderBy })
        );
        return { offset, items: data.map((m) => m.raw ?? { id: m.id }), totalCount };
      },
      lookup: null,
    },
  };
}

/**
 * How to retry a failure of @clerk/backend. The client does not retry by itself: it throws a
 * `ClerkAPIResponseError` with `status` and `retryAfter` (seconds, from `Retry-After`), and for a
 * network failure one without status whose first error has code `unexpected_error`.
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

/** "Clerk answered 401: Invalid authentication (authentication_invalid)" for a Clerk error. */
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
