/**
 * Stands in for Clerk's Backend API (https://api.clerk.com) in tests and benchmarks: an HTTP
 * server on 127.0.0.1 with the endpoints the backfill and clerk-profile-sync call, built from
 * Clerk's published contract, `bapi/2026-05-12.yml` of github.com/clerk/openapi-specs (the API
 * version `@clerk/backend` 3.25 sends), whose schemas tests/clerk_api_contract_test.ts checks
 * every answer against (tests/fixtures/clerk_openapi/). Operations (spec path, operationId):
 *
 * - `GET /users` (GetUserList) answers a JSON array of User objects (`User.List`). `limit` 1..500
 *   (default 10, `LimitParameter`), `offset` >= 0 (`OffsetParameter`), `order_by`
 *   `[+|-]created_at|updated_at` (default `-created_at`; ties by id; Clerk's other orders are not
 *   served: 422), `user_id` repeatable (at most 100, `+` prefix allowed), `created_at_after` /
 *   `created_at_before` (epoch ms, strict), and `starting_after`: "the `id` of the last user on
 *   the previous page. Returns the users that follow it", which requires a `created_at` order
 *   (422 otherwise) and no non-zero `offset` (422). What Clerk answers for a `starting_after` id
 *   that no longer exists the spec does not say: the stand-in answers 422, and the backfill
 *   falls back to `created_at_after` for that page.
 * - Deep offsets: the spec's description of GetUserList says a large `offset` "has to walk and
 *   discard every row before it, so it gets progressively slower and eventually times out", while
 *   "a cursor page costs the same no matter how far into the list it sits". The stand-in models
 *   that on every offset listing ({@linkcode PagingCost}): each skipped row costs time, and an
 *   offset at or past {@linkcode PagingCost.offsetTimeoutAt} answers 504 (the spec names no
 *   status for the time-out; Clerk's error envelope, the spec's words as its long_message).
 * - `GET /users/count` (GetUsersCount) answers `{"object":"total_count","total_count":N}`
 *   (`TotalCount`), with the same `user_id` and `created_at_*` filters.
 * - `GET /users/{user_id}` (GetUser) answers the User, or 404 `resource_not_found`
 *   (`ResourceNotFound`).
 * - `GET /organizations` (ListOrganizations) answers `{"data":[Organization...],"total_count":N}`
 *   (`Organizations`), N counting every organization the filter matches. `limit`, `offset` as
 *   above, `order_by` `[+|-]created_at|name` (default `-created_at`; `members_count` is not served:
 *   422), `organization_id` repeatable (at most 100). Offset only: the spec offers no cursor.
 * - `GET /organization_memberships` (InstanceGetOrganizationMemberships) answers
 *   `{"data":[OrganizationMembership...],"total_count":N}` (`OrganizationMemberships`); `order_by`
 *   `[+|-]created_at` (the member-name orders are not served: 422). Each membership carries its
 *   organization's current object and `public_user_data.user_id`. Offset only.
 * - Organizations off (`organizationsEnabled: false`, most instances): both listings answer 403
 *   `organization_not_enabled_in_instance` with the message and long_message captured from Clerk
 *   (ListOrganizations lists its 403 as `AuthorizationInvalid`).
 * - `GET /instance` (GetInstance) answers the `Instance` of the secret key: `{"object":"instance",
 *   "id":"ins_...","environment_type",...}`; `GET /instance/organization_settings`
 *   (GetInstanceOrganizationSettings) answers `OrganizationSettings`, `enabled` as configured.
 * - `GET /jwks` (GetJWKS) answers `{"keys":[JWK...]}` (`WellKnown.JWKS`): the public keys of the
 *   instance's signing keys ({@linkcode ClerkApiStandInOptions.signingKeys}); `verifyToken` with a
 *   secret key fetches it and matches the token's `kid`.
 * - `Authorization: Bearer <secret key>`: a wrong key is answered 401 `clerk_key_invalid` on every
 *   endpoint ("The provided Clerk Secret Key is invalid...", Clerk's InvalidClerkSecretKey error,
 *   https://clerk.com/docs/errors/authentication, which `@clerk/backend`'s JWKS loader looks for).
 *   `authentication_invalid` is Clerk's code for a missing session, not for a bad key.
 * - Errors use Clerk's envelope `{"errors":[{"message","long_message","code","meta"?}],
 *   "clerk_trace_id"}` (`ClerkErrors`); 422 for bad parameters (`UnprocessableEntity`, with
 *   `meta.param_name`), 429 with `Retry-After` (`TooManyRequests`). Responses carry
 *   `Content-Type: application/json` exactly: the SDK parses JSON only then.
 * - Deleting an organization or a user deletes their memberships, as Clerk does.
 *
 * Faults are programmable: {@linkcode ClerkApiStandIn.injectFault} answers one matching request
 * with a status (429 with `Retry-After`, 500, ...), optionally after letting some through.
 */

import { INSTANCE_ID } from "./clerk_payloads.ts";
import type { ClerkSigningKey } from "./clerk_session.ts";

/** A Clerk user object as the Backend API returns it (snake_case JSON). */
export type ClerkUserObject = Record<string, unknown> & {
  id: string;
  created_at: number;
  updated_at: number;
};

/** A Clerk organization object as the Backend API returns it (snake_case JSON). */
export type ClerkOrganizationObject = Record<string, unknown> & {
  id: string;
  name: string;
  created_at: number;
  updated_at: number;
};

/**
 * A Clerk organization membership as the Backend API returns it: its `organization` is replaced
 * by the stored organization when there is one (Clerk nests the current object).
 */
export type ClerkMembershipObject = Record<string, unknown> & {
  id: string;
  created_at: number;
  updated_at: number;
  organization: ClerkOrganizationObject;
  public_user_data: Record<string, unknown> & { user_id: string };
};

/** One programmed failure. */
export interface Fault {
  /** Path it applies to (default `/v1/users`; `/v1/organizations`, ...). */
  path?: string;
  /** HTTP status to answer (429, 500, 503, ...). */
  status: number;
  /** Value of the `Retry-After` header in seconds (429 only, when set). */
  retryAfterSeconds?: number;
  /** The error's `message` and `long_message` (default Clerk's generic text for the status). */
  message?: string;
  /** The error's `code` (default `too_many_requests` for 429, else `internal_clerk_error`). */
  code?: string;
  /** Let this many matching requests through before failing (default 0). */
  after?: number;
}

/** A request the stand-in answered. */
export interface RecordedRequest {
  path: string;
  query: string;
  status: number;
  /** The answer's body, when {@linkcode ClerkApiStandIn.recordBodies} was on. */
  body?: string;
  /** The answer's headers, when {@linkcode ClerkApiStandIn.recordBodies} was on. */
  headers?: Record<string, string>;
}

/**
 * What offset paging costs: the walk over the skipped rows that the spec's description of
 * GetUserList names ("progressively slower and eventually times out").
 */
export interface PagingCost {
  /** Milliseconds every page of a listing takes, cursor or offset (default 0). */
  pageMs: number;
  /** Microseconds each row skipped by `offset` adds (default 0). */
  offsetRowMicros: number;
  /** An `offset` at or past this answers 504 (default 100,000; null: never). */
  offsetTimeoutAt: number | null;
}

/** The default {@linkcode PagingCost}: no delay; offsets of 100,000 and more time out. */
export const DEFAULT_PAGING: PagingCost = {
  pageMs: 0,
  offsetRowMicros: 0,
  offsetTimeoutAt: 100_000,
};

/**
 * The stand-in's instance id unless told otherwise (`GET /v1/instance`): the instance the test
 * payloads' envelopes name (`instance_id`), so that the webhook and the backfill agree on it.
 */
export const STAND_IN_INSTANCE_ID = INSTANCE_ID;

/** A running stand-in. */
export interface ClerkApiStandIn {
  /** The signing keys whose public halves `GET /v1/jwks` serves (replace to rotate). */
  signingKeys: ClerkSigningKey[];
  /** Milliseconds to wait before every answer (a slow Clerk); default 0. */
  delayMs: number;
  /** Called before `GET /v1/users/{id}` answers (e.g. to race a webhook against a sync). */
  onGetUser: ((userId: string) => void | Promise<void>) | null;
  /** Base URL to use as `CLERK_API_URL` / `apiUrl` (without `/v1`). */
  readonly url: string;
  /** The secret key it accepts. */
  readonly secretKey: string;
  /** The instance's id (`ins_...`), served by `GET /v1/instance`. */
  readonly instanceId: string;
  /** Whether the Organizations feature is on (off: the listings answer 403). */
  organizationsEnabled: boolean;
  /** The cost model of paging (replace to change it). */
  paging: PagingCost;
  /** Keep each answer's body and headers in {@linkcode requests} (default false). */
  recordBodies: boolean;
  /** Every request answered, in order. */
  readonly requests: RecordedRequest[];
  /** Adds or replaces users. */
  put(...users: ClerkUserObject[]): void;
  /** Removes a user (as deleting it in Clerk does). */
  remove(userId: string): void;
  /** The stored user, if any. */
  get(userId: string): ClerkUserObject | undefined;
  /** Number of users stored. */
  readonly size: number;
  /** Answers one matching request with a failure; faults fire once each, in order. */
  injectFault(fault: Fault): void;
  /**
   * Called after a page of `GET /v1/users` is built and before it is sent (e.g. to race a
   * webhook). Users only; {@linkcode ClerkApiStandIn.onListPage} sees every listing.
   */
  onList: ((offset: number, users: readonly ClerkUserObject[]) => void | Promise<void>) | null;
  /**
   * Called after a page of any listing (`/v1/users`, `/v1/organizations`,
   * `/v1/organization_memberships`) is built and before it is sent, after `onList`.
   */
  onListPage:
    | ((
      path: string,
      offset: number,
      items: readonly Record<string, unknown>[],
    ) => void | Promise<void>)
    | null;
  /** Adds or replaces organizations. */
  putOrganization(...orgs: ClerkOrganizationObject[]): void;
  /** Removes an organization and its memberships (as deleting it in Clerk does). */
  removeOrganization(orgId: string): void;
  /** The stored organization, if any. */
  getOrganization(orgId: string): ClerkOrganizationObject | undefined;
  /** Adds or replaces memberships (by id). */
  putMembership(...members: ClerkMembershipObject[]): void;
  /** Removes a membership (as removing the member in Clerk does). */
  removeMembership(membershipId: string): void;
  /** Numbers of organizations and memberships stored. */
  readonly counts: { organizations: number; memberships: number };
  /** Stops the server. */
  close(): Promise<void>;
}

/** Options of {@linkcode startClerkApiStandIn}. */
export interface ClerkApiStandInOptions {
  /** Secret key to accept (default `sk_test_clerk_api_stand_in`). */
  secretKey?: string;
  /** Initial users. */
  users?: ClerkUserObject[];
  /** Initial organizations. */
  organizations?: ClerkOrganizationObject[];
  /** Initial memberships. */
  memberships?: ClerkMembershipObject[];
  /** The instance's signing keys, served by `GET /v1/jwks` (default none: `{"keys":[]}`). */
  signingKeys?: ClerkSigningKey[];
  /** The instance's id (default {@linkcode STAND_IN_INSTANCE_ID}). */
  instanceId?: string;
  /** `environment_type` of `GET /v1/instance` (default `development`). */
  environmentType?: "development" | "production";
  /** Whether the Organizations feature is on (default true). */
  organizationsEnabled?: boolean;
  /** The cost model of paging (default {@linkcode DEFAULT_PAGING}). */
  paging?: Partial<PagingCost>;
}

interface PendingFault {
  path: string;
  status: number;
  retryAfterSeconds: number | undefined;
  message: string | undefined;
  code: string | undefined;
  after: number;
}

// Objects are kept as their JSON text (and the fields lists sort by), so 100,000 are cheap.
interface Entry {
  id: string;
  created_at: number;
  updated_at: number;
  /** Organizations: the name (order_by=name). */
  name?: string;
  /** Memberships: the organization and the member. */
  orgId?: string;
  userId?: string;
  json: string;
}

// A listing in one order, with each id's place (for starting_after).
interface Ordering {
  list: Entry[];
  index: Map<string, number>;
}

const ORDER_FIELDS = new Set(["created_at", "updated_at"]);
const ORGANIZATION_ORDER_FIELDS = new Set(["created_at", "name"]);
const MEMBERSHIP_ORDER_FIELDS = new Set(["created_at"]);
// `/v1/users/{user_id}`; `/v1/users/count` is matched before it.
const USER_PATH = /^\/v1\/users\/([^/]+)$/;
// Captured from Clerk (the toolchain notes' "Clerk as it really answers").
const ORGANIZATIONS_OFF = {
  message: "access denied",
  long_message: "The organizations feature is not enabled for this instance. You can enable " +
    "it at https://dashboard.clerk.com.",
  code: "organization_not_enabled_in_instance",
};
// The spec's words (GetUserList's description) for what a deep offset does.
const OFFSET_TIMEOUT = "A large `offset` has to walk and discard every row before it, so it " +
  "gets progressively slower and eventually times out. Paginate with `starting_after`.";

/** Starts the stand-in on a free port of 127.0.0.1. */
export function startClerkApiStandIn(options: ClerkApiStandInOptions = {}): ClerkApiStandIn {
  const secretKey = options.secretKey ?? "sk_test_clerk_api_stand_in";
  const instanceId = options.instanceId ?? STAND_IN_INSTANCE_ID;
  const environmentType = options.environmentType ?? "development";
  const entries = new Map<string, Entry>();
  const sorted = new Map<string, Ordering>();
  const orgs = new Map<string, Entry>();
  const orgsSorted = new Map<string, Ordering>();
  const members = new Map<string, Entry>();
  const membersSorted = new Map<string, Ordering>();
  const faults: PendingFault[] = [];
  const requests: RecordedRequest[] = [];
  let traceSeq = 0;

  function put(...users: ClerkUserObject[]): void {
    for (const user of users) {
      const { id, created_at, updated_at } = user;
      entries.set(id, { id, created_at, updated_at, json: JSON.stringify(user) });
    }
    sorted.clear();
  }

  function ordered(orderBy: string, from = entries, cache = sorted): Ordering {
    let ordering = cache.get(orderBy);
    if (!ordering) {
      const descending = orderBy.startsWith("-");
      const field = orderBy.replace(/^[+-]/, "");
      const key = (e: Entry) =>
        field === "name" ? 0 : field === "updated_at" ? e.updated_at : e.created_at;
      const byName = (a: Entry, b: Entry) =>
        field !== "name"
          ? 0
          : (a.name ?? "") < (b.name ?? "")
          ? -1
          : (a.name ?? "") > (b.name ?? "")
          ? 1
          : 0;
      const list = [...from.values()].sort((a, b) => {
        const diff = byName(a, b) || key(a) - key(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
        return descending ? -diff : diff;
      });
      ordering = { list, index: new Map(list.map((e, i) => [e.id, i])) };
      cache.set(orderBy, ordering);
    }
    return ordering;
  }

  function putOrganization(...list: ClerkOrganizationObject[]): void {
    for (const org of list) {
      const { id, name, created_at, updated_at } = org;
      orgs.set(id, { id, name, created_at, updated_at, json: JSON.stringify(org) });
    }
    orgsSorted.clear();
  }

  function putMembership(...list: ClerkMembershipObject[]): void {
    for (const member of list) {
      const { id, created_at, updated_at } = member;
      members.set(id, {
        id,
        created_at,
        updated_at,
        orgId: member.organization.id,
        userId: member.public_user_data.user_id,
        json: JSON.stringify(member),
      });
    }
    membersSorted.clear();
  }

  function removeMembershipsWhere(match: (e: Entry) => boolean): void {
    for (const [id, entry] of members) if (match(entry)) members.delete(id);
    membersSorted.clear();
  }

  // A membership as Clerk serves it: with its organization's current object.
  function membershipJson(entry: Entry): string {
    const org = entry.orgId === undefined ? undefined : orgs.get(entry.orgId);
    if (!org) return entry.json;
    return JSON.stringify({ ...JSON.parse(entry.json), organization: JSON.parse(org.json) });
  }

  // 422 as Clerk words a bad parameter (UnprocessableEntity), naming it in meta.param_name.
  function invalid(param: string, message: string): Response {
    return error(422, "form_param_value_invalid", message, {}, { param_name: param });
  }

  // LimitParameter, OffsetParameter and order_by, as every listing reads them.
  function pageParams(
    params: URLSearchParams,
    fields: Set<string>,
  ): { limit: number; offset: number; orderBy: string } | Response {
    const limit = Number(params.get("limit") ?? "10");
    const offset = Number(params.get("offset") ?? "0");
    const orderBy = params.get("order_by") ?? "-created_at";
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      return invalid("limit", "limit must be between 1 and 500");
    }
    if (!Number.isInteger(offset) || offset < 0) {
      return invalid("offset", "offset must be 0 or greater");
    }
    if (!fields.has(orderBy.replace(/^[+-]/, ""))) {
      return invalid("order_by", `order_by ${orderBy} is not supported`);
    }
    return { limit, offset, orderBy };
  }

  // What a page costs (PagingCost); null, or the 504 of an offset too deep.
  async function pageCost(offset: number): Promise<Response | null> {
    const { pageMs, offsetRowMicros, offsetTimeoutAt } = standIn.paging;
    if (offsetTimeoutAt !== null && offset >= offsetTimeoutAt) {
      await delay(pageMs + (offsetTimeoutAt * offsetRowMicros) / 1000);
      return error(504, "request_timeout", "Request timed out", {}, undefined, OFFSET_TIMEOUT);
    }
    await delay(pageMs + (offset * offsetRowMicros) / 1000);
    return null;
  }

  async function listHook(
    path: string,
    offset: number,
    page: string[],
  ): Promise<Response | null> {
    if (!standIn.onListPage) return null;
    try {
      await standIn.onListPage(path, offset, page.map((json) => JSON.parse(json)));
    } catch (hookError) {
      console.error("clerk_api_stand_in: the onListPage hook failed:", hookError);
      return error(500, "internal_clerk_error", "the onListPage hook failed");
    }
    return null;
  }

  // ListOrganizations and InstanceGetOrganizationMemberships with the feature off.
  function organizationsOff(): Response | null {
    if (standIn.organizationsEnabled) return null;
    const { code, message, long_message } = ORGANIZATIONS_OFF;
    return error(403, code, message, {}, undefined, long_message);
  }

  // GET /organizations (ListOrganizations).
  async function listOrganizations(params: URLSearchParams): Promise<Response> {
    const off = organizationsOff();
    if (off) return off;
    const paging = pageParams(params, ORGANIZATION_ORDER_FIELDS);
    if (paging instanceof Response) return paging;
    let list = ordered(paging.orderBy, orgs, orgsSorted).list;
    if (params.has("organization_id")) {
      const ids = params.getAll("organization_id");
      if (ids.length > 100) {
        return invalid("organization_id", "organization_id accepts up to 100 values");
      }
      const wanted = new Set(ids.map((id) => id.replace(/^\+/, "")));
      list = list.filter((e) => wanted.has(e.id));
    }
    const slow = await pageCost(paging.offset);
    if (slow) return slow;
    const page = list.slice(paging.offset, paging.offset + paging.limit).map((e) => e.json);
    const failed = await listHook("/v1/organizations", paging.offset, page);
    if (failed) return failed;
    return json(200, `{"data":[${page.join(",")}],"total_count":${list.length}}`);
  }

  // GET /organization_memberships (InstanceGetOrganizationMemberships).
  async function listMemberships(params: URLSearchParams): Promise<Response> {
    const off = organizationsOff();
    if (off) return off;
    const paging = pageParams(params, MEMBERSHIP_ORDER_FIELDS);
    if (paging instanceof Response) return paging;
    const list = ordered(paging.orderBy, members, membersSorted).list;
    const slow = await pageCost(paging.offset);
    if (slow) return slow;
    const page = list.slice(paging.offset, paging.offset + paging.limit).map(membershipJson);
    const failed = await listHook("/v1/organization_memberships", paging.offset, page);
    if (failed) return failed;
    return json(200, `{"data":[${page.join(",")}],"total_count":${list.length}}`);
  }

  function takeFault(path: string): PendingFault | null {
    const index = faults.findIndex((f) => f.path === path);
    if (index < 0) return null;
    const fault = faults[index];
    if (fault.after > 0) {
      fault.after--;
      return null;
    }
    faults.splice(index, 1);
    return fault;
  }

  function error(
    status: number,
    code: string,
    message: string,
    headers = {},
    meta?: Record<string, unknown>,
    longMessage = message,
  ): Response {
    const body = {
      errors: [{ message, long_message: longMessage, code, ...(meta ? { meta } : {}) }],
      clerk_trace_id: `trace_standin_${++traceSeq}`,
    };
    return json(status, JSON.stringify(body), headers);
  }

  // The user filters of GetUserList and GetUsersCount: user_id (+ prefix), created_at_after and
  // created_at_before (epoch ms, strict).
  function userFilter(
    params: URLSearchParams,
  ): { test: (e: Entry) => boolean; all: boolean } | Response {
    const tests: ((e: Entry) => boolean)[] = [];
    if (params.has("user_id")) {
      const ids = params.getAll("user_id").map((id) => id.replace(/^\+/, ""));
      if (ids.length > 100) return invalid("user_id", "user_id accepts up to 100 values");
      const wanted = new Set(ids);
      tests.push((e) => wanted.has(e.id));
    }
    for (const name of ["created_at_after", "created_at_before"] as const) {
      const raw = params.get(name);
      if (raw === null) continue;
      const at = Number(raw);
      if (!/^\d+$/.test(raw) || !Number.isSafeInteger(at)) {
        return invalid(name, `${name} must be a timestamp in milliseconds`);
      }
      tests.push(name === "created_at_after" ? (e) => e.created_at > at : (e) => e.created_at < at);
    }
    return { test: (e) => tests.every((test) => test(e)), all: tests.length === 0 };
  }

  // GET /users (GetUserList).
  async function listUsers(params: URLSearchParams): Promise<Response> {
    const paging = pageParams(params, ORDER_FIELDS);
    if (paging instanceof Response) return paging;
    const { limit, offset, orderBy } = paging;
    const filter = userFilter(params);
    if (filter instanceof Response) return filter;
    const ordering = ordered(orderBy);
    const after = params.get("starting_after");
    let start = offset;
    if (after !== null) {
      // The rules of the starting_after parameter.
      if (orderBy.replace(/^[+-]/, "") !== "created_at") {
        return invalid(
          "starting_after",
          "starting_after requires ordering by created_at (order_by omitted, created_at, " +
            `+created_at or -created_at), not ${orderBy}`,
        );
      }
      if (offset !== 0) {
        return invalid(
          "starting_after",
          "starting_after cannot be combined with a non-zero offset",
        );
      }
      const at = ordering.index.get(after);
      if (at === undefined) {
        return invalid("starting_after", `starting_after ${after} is not a user of this instance`);
      }
      start = at + 1;
    }
    const slow = await pageCost(after === null ? offset : 0);
    if (slow) return slow;
    let page: Entry[];
    if (after === null) {
      const list = filter.all ? ordering.list : ordering.list.filter(filter.test);
      page = list.slice(offset, offset + limit);
    } else {
      page = [];
      for (let i = start; i < ordering.list.length && page.length < limit; i++) {
        if (filter.test(ordering.list[i])) page.push(ordering.list[i]);
      }
    }
    const body = `[${page.map((e) => e.json).join(",")}]`;
    try {
      await standIn.onList?.(offset, page.map((e) => JSON.parse(e.json)));
    } catch (hookError) {
      console.error("clerk_api_stand_in: the onList hook failed:", hookError);
      return error(500, "internal_clerk_error", "the onList hook failed");
    }
    const failed = await listHook("/v1/users", offset, page.map((e) => e.json));
    if (failed) return failed;
    return json(200, body);
  }

  // GET /users/count (GetUsersCount).
  function countUsers(params: URLSearchParams): Response {
    const filter = userFilter(params);
    if (filter instanceof Response) return filter;
    let total = entries.size;
    if (!filter.all) {
      total = 0;
      for (const entry of entries.values()) if (filter.test(entry)) total++;
    }
    return json(200, JSON.stringify({ object: "total_count", total_count: total }));
  }

  // GET /users/{user_id} (GetUser).
  async function getUser(userId: string): Promise<Response> {
    try {
      await standIn.onGetUser?.(userId);
    } catch (hookError) {
      console.error("clerk_api_stand_in: the onGetUser hook failed:", hookError);
      return error(500, "internal_clerk_error", "the onGetUser hook failed");
    }
    const entry = entries.get(userId);
    if (!entry) return notFound();
    return json(200, entry.json);
  }

  // ResourceNotFound, as Clerk words it.
  function notFound(): Response {
    return error(404, "resource_not_found", "not found", {}, undefined, "Resource not found");
  }

  // GET /jwks (GetJWKS).
  function jwks(): Response {
    return json(200, JSON.stringify({ keys: standIn.signingKeys.map((key) => key.jwk) }));
  }

  // GET /instance (GetInstance): the Instance schema's required fields.
  function instance(): Response {
    return json(
      200,
      JSON.stringify({
        object: "instance",
        id: instanceId,
        environment_type: environmentType,
        allowed_origins: null,
        workspace_id: null,
      }),
    );
  }

  // GET /instance/organization_settings (GetInstanceOrganizationSettings): every required field
  // of OrganizationSettings, with Clerk's defaults.
  function organizationSettings(): Response {
    return json(
      200,
      JSON.stringify({
        object: "organization_settings",
        enabled: standIn.organizationsEnabled,
        max_allowed_memberships: 5,
        max_allowed_roles: 10,
        max_role_sets_allowed: 1,
        max_allowed_domains: 10,
        creator_role: "org:admin",
        admin_delete_enabled: true,
        domains_enabled: false,
        slug_disabled: false,
        domains_enrollment_modes: [],
        domains_default_role: "org:member",
        initial_role_set_key: null,
      }),
    );
  }

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (standIn.delayMs > 0) await delay(standIn.delayMs);
    const userPath = url.pathname === "/v1/users/count" ? null : USER_PATH.exec(url.pathname);
    if (request.headers.get("authorization") !== `Bearer ${secretKey}`) {
      return error(
        401,
        "clerk_key_invalid",
        "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.",
      );
    }
    const fault = takeFault(url.pathname);
    if (fault) {
      if (fault.status === 429) {
        const headers = fault.retryAfterSeconds === undefined
          ? {}
          : { "Retry-After": String(fault.retryAfterSeconds) };
        const code = fault.code ?? "too_many_requests";
        return error(429, code, fault.message ?? "Too Many Requests", headers);
      }
      return error(
        fault.status,
        fault.code ?? "internal_clerk_error",
        fault.message ?? "Oops, something went wrong",
      );
    }
    if (request.method !== "GET") return error(405, "method_not_allowed", "Method not allowed");
    switch (url.pathname) {
      case "/v1/users":
        return await listUsers(url.searchParams);
      case "/v1/users/count":
        return countUsers(url.searchParams);
      case "/v1/organizations":
        return await listOrganizations(url.searchParams);
      case "/v1/organization_memberships":
        return await listMemberships(url.searchParams);
      case "/v1/jwks":
        return jwks();
      case "/v1/instance":
        return instance();
      case "/v1/instance/organization_settings":
        return organizationSettings();
    }
    if (userPath) return await getUser(decodeURIComponent(userPath[1]));
    return notFound();
  }

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const response = await handle(request);
      // One request per connection: Deno 2.1's server.shutdown() waits on a connection the
      // caller's fetch keeps alive (minutes), and a stand-in must close with its test.
      response.headers.set("connection", "close");
      const url = new URL(request.url);
      const recorded: RecordedRequest = {
        path: url.pathname,
        query: url.search,
        status: response.status,
      };
      if (standIn.recordBodies) {
        recorded.body = await response.clone().text();
        recorded.headers = Object.fromEntries(response.headers);
      }
      requests.push(recorded);
      return response;
    },
  );

  const standIn: ClerkApiStandIn = {
    signingKeys: [...(options.signingKeys ?? [])],
    delayMs: 0,
    onGetUser: null,
    url: `http://127.0.0.1:${server.addr.port}`,
    secretKey,
    instanceId,
    organizationsEnabled: options.organizationsEnabled ?? true,
    paging: { ...DEFAULT_PAGING, ...options.paging },
    recordBodies: false,
    requests,
    put,
    remove(userId) {
      entries.delete(userId);
      sorted.clear();
      removeMembershipsWhere((e) => e.userId === userId);
    },
    get(userId) {
      const entry = entries.get(userId);
      return entry ? JSON.parse(entry.json) : undefined;
    },
    get size() {
      return entries.size;
    },
    injectFault(fault) {
      faults.push({
        path: fault.path ?? "/v1/users",
        status: fault.status,
        retryAfterSeconds: fault.retryAfterSeconds,
        message: fault.message,
        code: fault.code,
        after: fault.after ?? 0,
      });
    },
    onList: null,
    onListPage: null,
    putOrganization,
    removeOrganization(orgId) {
      orgs.delete(orgId);
      orgsSorted.clear();
      removeMembershipsWhere((e) => e.orgId === orgId);
    },
    getOrganization(orgId) {
      const entry = orgs.get(orgId);
      return entry ? JSON.parse(entry.json) : undefined;
    },
    putMembership,
    removeMembership(membershipId) {
      removeMembershipsWhere((e) => e.id === membershipId);
    },
    get counts() {
      return { organizations: orgs.size, memberships: members.size };
    },
    async close() {
      await server.shutdown();
    },
  };
  put(...(options.users ?? []));
  putOrganization(...(options.organizations ?? []));
  putMembership(...(options.memberships ?? []));
  return standIn;
}

function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

function json(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

/** Options of {@linkcode fakeClerkUser}. */
export interface FakeUserOptions {
  /** Prefix of the id, to keep tests apart (`user_<prefix><seq>`). */
  prefix?: string;
  /** Epoch ms of creation (default: 2024-01-01 plus `seq` minutes). */
  createdAt?: number;
  /** Epoch ms of the last update (default: createdAt + 1 s). */
  updatedAt?: number;
  /** Fields to override. */
  fields?: Record<string, unknown>;
}

/**
 * A user of a webhook's `user.created` data (tests/support/clerk_payloads.ts) in the shape the
 * Backend API serves it (the spec's `User`): without the webhook's `timezone` and null
 * `organization_memberships`, with the fields the Backend API always has (`passkeys`,
 * `saml_accounts`, `mfa_enabled_at`, `mfa_disabled_at`; an email address's or phone number's
 * `reserved`, `created_at`, `updated_at`). The fields the profile is mapped from stay as they are.
 */
export function toBackendApiUser(user: ClerkUserObject): ClerkUserObject {
  const { timezone: _, organization_memberships, ...rest } = user;
  const identification = (list: unknown) =>
    Array.isArray(list)
      ? list.map((item) => ({
        reserved: false,
        created_at: user.created_at,
        updated_at: user.created_at,
        ...item,
      }))
      : list;
  return {
    passkeys: [],
    saml_accounts: [],
    mfa_enabled_at: null,
    mfa_disabled_at: null,
    ...rest,
    ...(Array.isArray(organization_memberships) ? { organization_memberships } : {}),
    email_addresses: identification(user.email_addresses),
    phone_numbers: identification(user.phone_numbers),
  };
}

/** A realistic Clerk user object (the shape of `GET /v1/users/{id}`), number `seq`. */
export function fakeClerkUser(seq: number, options: FakeUserOptions = {}): ClerkUserObject {
  const id = `user_${options.prefix ?? ""}${String(seq).padStart(7, "0")}`;
  const createdAt = options.createdAt ?? Date.UTC(2024, 0, 1) + seq * 60_000;
  const updatedAt = options.updatedAt ?? createdAt + 1000;
  const emailId = `idn_email_${id}`;
  const phoneId = `idn_phone_${id}`;
  return {
    id,
    object: "user",
    username: `user${seq}`,
    first_name: `First${seq}`,
    last_name: `Last${seq}`,
    image_url: `https://img.clerk.com/${id}`,
    has_image: true,
    primary_email_address_id: emailId,
    primary_phone_number_id: seq % 3 === 0 ? phoneId : null,
    primary_web3_wallet_id: null,
    password_enabled: true,
    two_factor_enabled: false,
    totp_enabled: false,
    backup_code_enabled: false,
    mfa_enabled_at: null,
    mfa_disabled_at: null,
    email_addresses: [
      {
        id: `idn_old_${id}`,
        object: "email_address",
        email_address: `old.${seq}@example.org`,
        reserved: false,
        verification: {
          status: "verified",
          strategy: "email_code",
          attempts: null,
          expire_at: null,
        },
        linked_to: [],
        created_at: createdAt,
        updated_at: createdAt,
      },
      {
        id: emailId,
        object: "email_address",
        email_address: `user${seq}@example.org`,
        reserved: false,
        verification: {
          status: "verified",
          strategy: "email_code",
          attempts: null,
          expire_at: null,
        },
        linked_to: [],
        created_at: createdAt,
        updated_at: createdAt,
      },
    ],
    phone_numbers: seq % 3 === 0
      ? [{
        id: phoneId,
        object: "phone_number",
        phone_number: `+1555${String(seq).padStart(7, "0")}`,
        reserved: false,
        verification: {
          status: "verified",
          strategy: "phone_code",
          attempts: null,
          expire_at: null,
        },
        linked_to: [],
        created_at: createdAt,
        updated_at: createdAt,
      }]
      : [],
    web3_wallets: [],
    passkeys: [],
    external_accounts: [],
    saml_accounts: [],
    enterprise_accounts: [],
    public_metadata: { plan: seq % 2 === 0 ? "pro" : "free", seq },
    private_metadata: { stripe_customer: `cus_${seq}` },
    unsafe_metadata: {},
    external_id: null,
    last_sign_in_at: updatedAt,
    banned: false,
    locked: false,
    lockout_expires_in_seconds: null,
    verification_attempts_remaining: 100,
    created_at: createdAt,
    updated_at: updatedAt,
    last_active_at: updatedAt,
    create_organization_enabled: true,
    create_organizations_limit: null,
    delete_self_enabled: true,
    legal_accepted_at: null,
    ...options.fields,
  };
}

/** Options of {@linkcode fakeClerkOrganization}. */
export interface FakeOrganizationOptions {
  /** Prefix of the id, to keep tests apart (`org_<prefix><seq>`). */
  prefix?: string;
  /** Epoch ms of creation (default: 2024-06-01 plus `seq` minutes). */
  createdAt?: number;
  /** Epoch ms of the last update (default: createdAt + 1 s). */
  updatedAt?: number;
  /** Fields to override. */
  fields?: Record<string, unknown>;
}

/**
 * A realistic Clerk organization object (the shape of `GET /v1/organizations` entries, @clerk/backend
 * `OrganizationJSON`), number `seq`.
 */
export function fakeClerkOrganization(
  seq: number,
  options: FakeOrganizationOptions = {},
): ClerkOrganizationObject {
  const id = `org_${options.prefix ?? ""}${String(seq).padStart(7, "0")}`;
  const createdAt = options.createdAt ?? Date.UTC(2024, 5, 1) + seq * 60_000;
  const updatedAt = options.updatedAt ?? createdAt + 1000;
  return {
    object: "organization",
    id,
    name: `Organization ${seq}`,
    slug: `organization-${seq}`,
    image_url: `https://img.clerk.com/${id}`,
    has_image: false,
    max_allowed_memberships: 5,
    admin_delete_enabled: true,
    public_metadata: { tier: seq % 2 === 0 ? "team" : "free", seq },
    private_metadata: { billing: `acct_${seq}` },
    created_by: `user_creator_${seq}`,
    created_at: createdAt,
    updated_at: updatedAt,
    ...options.fields,
  };
}

/** Options of {@linkcode fakeClerkMembership}. */
export interface FakeMembershipOptions {
  /** Prefix of the id (`orgmem_<prefix><seq>`). */
  prefix?: string;
  /** Default `org:member`; sent as given. */
  role?: string;
  /** Epoch ms of creation (default: the organization's creation plus `seq` seconds). */
  createdAt?: number;
  /** Epoch ms of the last update (default: createdAt). */
  updatedAt?: number;
  /** Fields to override. */
  fields?: Record<string, unknown>;
}

/**
 * A realistic Clerk organization membership (the shape of `GET /v1/organization_memberships`
 * entries, @clerk/backend `OrganizationMembershipJSON`) of `userId` in `organization`.
 */
export function fakeClerkMembership(
  seq: number,
  organization: ClerkOrganizationObject,
  userId: string,
  options: FakeMembershipOptions = {},
): ClerkMembershipObject {
  const role = options.role ?? "org:member";
  const createdAt = options.createdAt ?? organization.created_at + seq * 1000;
  return {
    object: "organization_membership",
    id: `orgmem_${options.prefix ?? ""}${String(seq).padStart(7, "0")}`,
    role,
    role_name: role === "org:admin" ? "Admin" : "Member",
    permissions: role === "org:admin"
      ? ["org:sys_memberships:manage", "org:sys_memberships:read", "org:sys_profile:manage"]
      : ["org:sys_memberships:read"],
    public_metadata: { seat: seq },
    private_metadata: { note: `private ${seq}` },
    organization,
    public_user_data: {
      user_id: userId,
      identifier: `${userId}@example.org`,
      first_name: "First",
      last_name: "Last",
      profile_image_url: `https://img.clerk.com/${userId}`,
      image_url: `https://img.clerk.com/${userId}`,
      has_image: false,
    },
    created_at: createdAt,
    updated_at: options.updatedAt ?? createdAt,
    ...options.fields,
  };
}
