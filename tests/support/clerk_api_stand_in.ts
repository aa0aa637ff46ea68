/**
 * Stands in for Clerk's Backend API (https://api.clerk.com) in tests and benchmarks: an HTTP
 * server on 127.0.0.1 with the endpoints the backfill and clerk-profile-sync call, as Clerk
 * documents them (https://clerk.com/docs/reference/backend-api: Users, Organizations,
 * Organization Memberships, JWKS) and as `@clerk/backend` 3.25 (`users.getUserList`,
 * `users.getCount`, `users.getUser`, `organizations.getOrganizationList`,
 * `organizations.getInstanceOrganizationMembershipList`, `jwks.getJwks`, and `verifyToken` with a
 * secret key) reads them:
 *
 * - `GET /v1/users?limit=&offset=&order_by=&user_id=...` answers a JSON array of user objects.
 *   `limit` 1..500 (default 10), `offset` >= 0, `order_by` `[+|-]created_at|updated_at` (default
 *   `-created_at`, newest first; ties by id), `user_id` repeatable (at most 100).
 * - `GET /v1/users/count?user_id=...` answers `{"object":"total_count","total_count":N}`.
 * - `GET /v1/users/{user_id}` answers the user object, or 404 `resource_not_found` (Clerk's
 *   "Retrieve a user"; the SDK throws a ClerkAPIResponseError with status 404 for it).
 * - `GET /v1/organizations?limit=&offset=&order_by=&organization_id=...` ("Get a list of
 *   organizations for an instance"; https://clerk.com/docs/reference/backend/organization/get-organization-list)
 *   answers `{"data":[organization...],"total_count":N}`, N counting every organization the
 *   filter matches. `limit` 1..500 (default 10), `offset` >= 0, `order_by`
 *   `[+|-]created_at|name` (default `-created_at`; ties by id; Clerk's `members_count` is not
 *   served: 422), `organization_id` repeatable (at most 100, as `GetOrganizationListParams`
 *   documents).
 * - `GET /v1/organization_memberships?limit=&offset=&order_by=` ("Get a list of all organization
 *   memberships within an instance";
 *   https://clerk.com/docs/reference/backend/organization/get-instance-organization-membership-list)
 *   answers `{"data":[membership...],"total_count":N}`; `order_by` `[+|-]created_at` (default
 *   `-created_at`; Clerk's other orders, by the member's name or identifiers, are not served:
 *   422). Each membership carries the organization's current object, as Clerk serves it, and
 *   `public_user_data.user_id`.
 *   Both paginated answers have the shape `@clerk/backend` deserializes into `{ data, totalCount }`
 *   (`deserialize` / `isPaginated` of src/api/resources/Deserializer.ts: an object whose `data`
 *   is an array, with `total_count`); Clerk's Backend API reference names these schemas
 *   `Organizations` and `OrganizationMemberships` (`data`, `total_count`; also in the clients
 *   generated from it, e.g. clerk/clerk-http-client-ruby docs/OrganizationMemberships.md).
 * - `GET /v1/jwks` answers `{"keys":[JWK...]}`: the public keys of the instance's signing keys
 *   ({@linkcode ClerkApiStandInOptions.signingKeys}), each `{kty, n, e, kid, use, alg}` as Clerk
 *   serves them ("Retrieve the JSON Web Key Set of the instance"; `verifyToken` with a secret key
 *   fetches it and matches the token's `kid`).
 * - `Authorization: Bearer <secret key>` is required: 401 `authentication_invalid` otherwise on the
 *   list and count endpoints, as before; on `GET /v1/users/{user_id}` and `GET /v1/jwks` a wrong
 *   key is answered 401 `clerk_key_invalid`, the code of Clerk's "InvalidClerkSecretKey" error
 *   (https://clerk.com/docs/errors/authentication) that `@clerk/backend`'s JWKS loader looks for
 *   (`TokenVerificationErrorCode.InvalidSecretKey`: reason `secret-key-invalid`).
 * - Errors use Clerk's envelope `{"errors":[{"message","long_message","code"}],"clerk_trace_id"}`.
 *   Responses carry `Content-Type: application/json` exactly: the SDK parses JSON only then.
 * - Deleting an organization or a user deletes their memberships, as Clerk does.
 *
 * Faults are programmable: {@linkcode ClerkApiStandIn.injectFault} answers one matching request
 * with a status (429 with `Retry-After`, 500, ...), optionally after letting some through.
 */

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
  /** Let this many matching requests through before failing (default 0). */
  after?: number;
}

/** A request the stand-in answered. */
export interface RecordedRequest {
  path: string;
  query: string;
  status: number;
}

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
}

interface PendingFault {
  path: string;
  status: number;
  retryAfterSeconds: number | undefined;
  message: string | undefined;
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

const ORDER_FIELDS = new Set(["created_at", "updated_at"]);
const ORGANIZATION_ORDER_FIELDS = new Set(["created_at", "name"]);
const MEMBERSHIP_ORDER_FIELDS = new Set(["created_at"]);
// `/v1/users/{user_id}`; `/v1/users/count` is matched before it.
const USER_PATH = /^\/v1\/users\/([^/]+)$/;

/** Starts the stand-in on a free port of 127.0.0.1. */
export function startClerkApiStandIn(options: ClerkApiStandInOptions = {}): ClerkApiStandIn {
  const secretKey = options.secretKey ?? "sk_test_clerk_api_stand_in";
  const entries = new Map<string, Entry>();
  const sorted = new Map<string, Entry[]>();
  const orgs = new Map<string, Entry>();
  const orgsSorted = new Map<string, Entry[]>();
  const members = new Map<string, Entry>();
  const membersSorted = new Map<string, Entry[]>();
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

  function ordered(orderBy: string, from = entries, cache = sorted): Entry[] {
    let list = cache.get(orderBy);
    if (!list) {
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
      list = [...from.values()].sort((a, b) => {
        const diff = byName(a, b) || key(a) - key(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
        return descending ? -diff : diff;
      });
      cache.set(orderBy, list);
    }
    return list;
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

  function pageParams(
    params: URLSearchParams,
    fields: Set<string>,
  ): { limit: number; offset: number; orderBy: string } | Response {
    const limit = Number(params.get("limit") ?? "10");
    const offset = Number(params.get("offset") ?? "0");
    const orderBy = params.get("order_by") ?? "-created_at";
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      return error(422, "form_param_value_invalid", "limit must be between 1 and 500");
    }
    if (!Number.isInteger(offset) || offset < 0) {
      return error(422, "form_param_value_invalid", "offset must be 0 or greater");
    }
    if (!fields.has(orderBy.replace(/^[+-]/, ""))) {
      return error(422, "form_param_value_invalid", `order_by ${orderBy} is not supported`);
    }
    return { limit, offset, orderBy };
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

  async function listOrganizations(params: URLSearchParams): Promise<Response> {
    const paging = pageParams(params, ORGANIZATION_ORDER_FIELDS);
    if (paging instanceof Response) return paging;
    let list = ordered(paging.orderBy, orgs, orgsSorted);
    if (params.has("organization_id")) {
      const ids = params.getAll("organization_id");
      if (ids.length > 100) {
        return error(422, "form_param_value_invalid", "organization_id accepts up to 100 values");
      }
      const wanted = new Set(ids);
      list = list.filter((e) => wanted.has(e.id));
    }
    const page = list.slice(paging.offset, paging.offset + paging.limit).map((e) => e.json);
    const failed = await listHook("/v1/organizations", paging.offset, page);
    if (failed) return failed;
    return json(200, `{"data":[${page.join(",")}],"total_count":${list.length}}`);
  }

  async function listMemberships(params: URLSearchParams): Promise<Response> {
    const paging = pageParams(params, MEMBERSHIP_ORDER_FIELDS);
    if (paging instanceof Response) return paging;
    const list = ordered(paging.orderBy, members, membersSorted);
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

  function error(status: number, code: string, message: string, headers = {}): Response {
    const body = {
      errors: [{ message, long_message: message, code }],
      clerk_trace_id: `trace_standin_${++traceSeq}`,
    };
    return json(status, JSON.stringify(body), headers);
  }

  function filtered(params: URLSearchParams): Entry[] | Response {
    const ids = params.getAll("user_id").map((id) => id.replace(/^\+/, ""));
    if (ids.length > 100) {
      return error(422, "form_param_value_invalid", "user_id accepts up to 100 values");
    }
    return ids.flatMap((id) => entries.get(id) ?? []);
  }

  async function listUsers(params: URLSearchParams): Promise<Response> {
    const limit = Number(params.get("limit") ?? "10");
    const offset = Number(params.get("offset") ?? "0");
    const orderBy = params.get("order_by") ?? "-created_at";
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      return error(422, "form_param_value_invalid", "limit must be between 1 and 500");
    }
    if (!Number.isInteger(offset) || offset < 0) {
      return error(422, "form_param_value_invalid", "offset must be 0 or greater");
    }
    if (!ORDER_FIELDS.has(orderBy.replace(/^[+-]/, ""))) {
      return error(422, "form_param_value_invalid", `order_by ${orderBy} is not supported`);
    }
    let list: Entry[];
    if (params.has("user_id")) {
      const picked = filtered(params);
      if (picked instanceof Response) return picked;
      const order = ordered(orderBy);
      const wanted = new Set(picked);
      list = order.filter((e) => wanted.has(e));
    } else {
      list = ordered(orderBy);
    }
    const page = list.slice(offset, offset + limit);
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

  function countUsers(params: URLSearchParams): Response {
    let total = entries.size;
    if (params.has("user_id")) {
      const picked = filtered(params);
      if (picked instanceof Response) return picked;
      total = picked.length;
    }
    return json(200, JSON.stringify({ object: "total_count", total_count: total }));
  }

  async function getUser(userId: string): Promise<Response> {
    try {
      await standIn.onGetUser?.(userId);
    } catch (hookError) {
      console.error("clerk_api_stand_in: the onGetUser hook failed:", hookError);
      return error(500, "internal_clerk_error", "the onGetUser hook failed");
    }
    const entry = entries.get(userId);
    if (!entry) return error(404, "resource_not_found", "not found");
    return json(200, entry.json);
  }

  function jwks(): Response {
    return json(200, JSON.stringify({ keys: standIn.signingKeys.map((key) => key.jwk) }));
  }

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (standIn.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, standIn.delayMs));
    const userPath = url.pathname === "/v1/users/count" ? null : USER_PATH.exec(url.pathname);
    if (request.headers.get("authorization") !== `Bearer ${secretKey}`) {
      if (userPath || url.pathname === "/v1/jwks") {
        return error(
          401,
          "clerk_key_invalid",
          "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.",
        );
      }
      return error(401, "authentication_invalid", "Invalid authentication");
    }
    const fault = takeFault(url.pathname);
    if (fault) {
      if (fault.status === 429) {
        const headers = fault.retryAfterSeconds === undefined
          ? {}
          : { "Retry-After": String(fault.retryAfterSeconds) };
        return error(429, "too_many_requests", fault.message ?? "Too Many Requests", headers);
      }
      return error(
        fault.status,
        "internal_clerk_error",
        fault.message ?? "Oops, something went wrong",
      );
    }
    if (request.method !== "GET") return error(405, "method_not_allowed", "Method not allowed");
    if (url.pathname === "/v1/users") return await listUsers(url.searchParams);
    if (url.pathname === "/v1/users/count") return countUsers(url.searchParams);
    if (url.pathname === "/v1/organizations") return await listOrganizations(url.searchParams);
    if (url.pathname === "/v1/organization_memberships") {
      return await listMemberships(url.searchParams);
    }
    if (url.pathname === "/v1/jwks") return jwks();
    if (userPath) return await getUser(decodeURIComponent(userPath[1]));
    return error(404, "resource_not_found", "not found");
  }

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const response = await handle(request);
      // One request per connection: Deno 2.1's server.shutdown() waits on a connection the
      // caller's fetch keeps alive (minutes), and a stand-in must close with its test.
      response.headers.set("connection", "close");
      const url = new URL(request.url);
      requests.push({ path: url.pathname, query: url.search, status: response.status });
      return response;
    },
  );

  const standIn: ClerkApiStandIn = {
    signingKeys: [...(options.signingKeys ?? [])],
    delayMs: 0,
    onGetUser: null,
    url: `http://127.0.0.1:${server.addr.port}`,
    secretKey,
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
      }]
      : [],
    web3_wallets: [],
    external_accounts: [],
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
      image_url: `https://img.clerk.com/${userId}`,
      has_image: false,
    },
    created_at: createdAt,
    updated_at: options.updatedAt ?? createdAt,
    ...options.fields,
  };
}
