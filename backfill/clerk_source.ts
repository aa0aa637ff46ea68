/** Pages through Clerk users with the official client, honouring rate limits and 5xx backoff. */
import type { ClerkClient } from "@clerk/backend";
import type { ClerkUserJson } from "../supabase/functions/_shared/clerk_user.ts";
import { type RetryPolicy, type Verdict, withRetry } from "./retry.ts";

/** The part of `clerkClient.users` the backfill uses. */
export type UserLister = Pick<ClerkClient["users"], "getUserList" | "getCount">;

/** One page of users, in the Backend API's JSON shape. */
export interface ClerkPage {
  offset: number;
  users: ClerkUserJson[];
  /** The user count Clerk reported with the page. */
  totalCount: number;
}

/** Reads users from Clerk. */
export interface ClerkSource {
  readonly pageSize: number;
  /** The number of users in the instance. */
  count(): Promise<number>;
  /** The page at `offset`, oldest users first (`+created_at`), `pageSize` users at most. */
  page(offset: number): Promise<ClerkPage>;
  /** The users among `ids` that exist in Clerk (looked up 100 at a time). */
  lookup(ids: string[]): Promise<ClerkUserJson[]>;
}

/** Options of {@linkcode createClerkSource}. */
export interface ClerkSourceOptions {
  /** Users per page, 1..500 (default 500, Clerk's maximum). */
  pageSize?: number;
  /** Retry policy for 429 and 5xx answers and network failures. */
  retry?: RetryPolicy;
}

/** Clerk's limit on ids per `user_id` filter. */
const LOOKUP_CHUNK = 100;

/** A source over `users` of a `createClerkClient({ secretKey, apiUrl })` client. */
export function createClerkSource(
  users: UserLister,
  options: ClerkSourceOptions = {},
): ClerkSource {
  const pageSize = options.pageSize ?? 500;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 500) {
    throw new RangeError("pageSize must be between 1 and 500");
  }
  const retry = <T>(attempt: () => Promise<T>) =>
    withRetry(attempt, classifyClerkError, options.retry);
  return {
    pageSize,
    count: () => retry(() => users.getCount()),
    async page(offset) {
      // @clerk/backend sends ?limit=&offset=&order_by= and asks /v1/users/count alongside.
      const { data, totalCount } = await retry(() =>
        users.getUserList({ limit: pageSize, offset, orderBy: "+created_at" })
      );
      return { offset, users: data.map((user) => user.raw ?? { id: user.id }), totalCount };
    },
    async lookup(ids) {
      const found: ClerkUserJson[] = [];
      for (let i = 0; i < ids.length; i += LOOKUP_CHUNK) {
        const chunk = ids.slice(i, i + LOOKUP_CHUNK);
        const { data } = await retry(() =>
          users.getUserList({ userId: chunk, limit: LOOKUP_CHUNK, orderBy: "+created_at" })
        );
        found.push(...data.map((user) => user.raw ?? { id: user.id }));
      }
      return found;
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
