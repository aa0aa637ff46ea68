// The Clerk API stand-in answers as Clerk answers (issue 16, point 4): every answer it serves,
// success and error, is checked against the schema of its operation in Clerk's published spec
// (bapi/2026-05-12.yml of github.com/clerk/openapi-specs, the API version @clerk/backend 3.25
// sends; extract in tests/fixtures/clerk_openapi/), and its errors carry Clerk's codes: 401
// clerk_key_invalid for a wrong key on every endpoint, 404 resource_not_found, 403
// organization_not_enabled_in_instance, 422 for bad parameters, 429 with Retry-After.
import assert from "node:assert/strict";
import { generateSigningKey } from "./support/clerk_session.ts";
import {
  type ClerkApiStandIn,
  fakeClerkMembership,
  fakeClerkOrganization,
  fakeClerkUser,
  startClerkApiStandIn,
} from "./support/clerk_api_stand_in.ts";
import { checkAgainstSpec, CLERK_SPEC } from "./support/clerk_contract.ts";
import { exampleClerkUsers } from "./support/local_stack.ts";

const ENDPOINTS = [
  "/v1/users",
  "/v1/users/count",
  "/v1/users/user_0000001",
  "/v1/organizations",
  "/v1/organization_memberships",
  "/v1/jwks",
  "/v1/instance",
  "/v1/instance/organization_settings",
];

async function withStandIn(fn: (clerk: ClerkApiStandIn) => Promise<void>): Promise<void> {
  const users = [
    ...Array.from({ length: 7 }, (_, i) => fakeClerkUser(i + 1)),
    ...exampleClerkUsers(),
  ];
  const orgs = [fakeClerkOrganization(1), fakeClerkOrganization(2)];
  const clerk = startClerkApiStandIn({
    users,
    organizations: orgs,
    memberships: [
      fakeClerkMembership(1, orgs[0], users[0].id, { role: "org:admin" }),
      fakeClerkMembership(2, orgs[1], users[1].id),
    ],
    signingKeys: [await generateSigningKey()],
    paging: { offsetTimeoutAt: 6 },
  });
  clerk.recordBodies = true;
  try {
    await fn(clerk);
  } finally {
    await clerk.close();
  }
}

/** GET `path` with the stand-in's key (or `key`); the status and the parsed body. */
async function get(clerk: ClerkApiStandIn, path: string, key = clerk.secretKey) {
  const response = await fetch(`${clerk.url}${path}`, {
    headers: { Authorization: `Bearer ${key}`, "Clerk-API-Version": "2026-05-12" },
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

function firstError(body: { errors?: { code?: string; meta?: { param_name?: string } }[] }) {
  return { code: body.errors?.[0]?.code, param: body.errors?.[0]?.meta?.param_name };
}

Deno.test("every answer of the Clerk API stand-in matches its operation's schema in Clerk's spec", async () => {
  await withStandIn(async (clerk) => {
    const first = fakeClerkUser(1).id;
    const third = fakeClerkUser(3).id;
    const paths = [
      // GetUserList: pages by offset and by cursor, filters, both orders.
      "/v1/users?limit=3&order_by=%2Bcreated_at",
      "/v1/users?limit=3&offset=3&order_by=%2Bcreated_at",
      `/v1/users?limit=3&order_by=%2Bcreated_at&starting_after=${third}`,
      `/v1/users?limit=3&order_by=-created_at&starting_after=${third}`,
      `/v1/users?limit=3&starting_after=${third}`,
      `/v1/users?user_id=${first}&user_id=%2B${third}&limit=100`,
      `/v1/users?created_at_after=${fakeClerkUser(5).created_at}&order_by=%2Bcreated_at`,
      "/v1/users?order_by=-updated_at",
      // GetUsersCount, GetUser, ListOrganizations, InstanceGetOrganizationMemberships.
      "/v1/users/count",
      `/v1/users/count?created_at_before=${fakeClerkUser(3).created_at}`,
      `/v1/users/${first}`,
      "/v1/users/user_2exampleNotAUserOfThisInst",
      "/v1/organizations?limit=1&order_by=%2Bcreated_at",
      "/v1/organizations?order_by=name&organization_id=org_0000002",
      "/v1/organization_memberships?limit=500&order_by=%2Bcreated_at",
      // GetJWKS, GetInstance, GetInstanceOrganizationSettings.
      "/v1/jwks",
      "/v1/instance",
      "/v1/instance/organization_settings",
      // 422: parameters the spec's rules refuse.
      "/v1/users?limit=0",
      "/v1/users?limit=501",
      "/v1/users?offset=-1",
      "/v1/users?order_by=%2Bshoe_size",
      `/v1/users?order_by=-updated_at&starting_after=${third}`,
      `/v1/users?offset=3&starting_after=${third}`,
      "/v1/users?starting_after=user_2exampleNotAUserOfThisInst",
      `/v1/users?${Array.from({ length: 101 }, (_, i) => `user_id=user_${i}`).join("&")}`,
      "/v1/users?created_at_after=yesterday",
      "/v1/organizations?order_by=%2Bmembers_count",
      "/v1/organization_memberships?order_by=%2Bfirst_name",
      // 504: an offset too deep (the cost model).
      "/v1/users?offset=6",
      "/v1/organizations?offset=6",
      // 404: no such route.
      "/v1/no_such_thing",
    ];
    for (const path of paths) await get(clerk, path);
    // 401 on every endpoint with another key.
    for (const path of ENDPOINTS) await get(clerk, path, "sk_test_another_instance_key");
    // 403: organizations off; the settings say so.
    clerk.organizationsEnabled = false;
    for (const path of ["/v1/organizations", "/v1/organization_memberships"]) {
      await get(clerk, path);
    }
    await get(clerk, "/v1/instance/organization_settings");
    // 429 and 500, as injected.
    clerk.injectFault({ status: 429, retryAfterSeconds: 3 });
    clerk.injectFault({ path: "/v1/organizations", status: 500 });
    await get(clerk, "/v1/users");
    await get(clerk, "/v1/organizations");

    const statuses = new Map<string, Set<number>>();
    for (const request of clerk.requests) {
      const verdict = checkAgainstSpec(request.path, request.status, JSON.parse(request.body!));
      assert.deepEqual(
        verdict.errors,
        [],
        `GET ${request.path}${request.query} answered ${request.status}: ${request.body}`,
      );
      assert.equal(request.headers?.["content-type"], "application/json");
      if (verdict.operation) {
        const seen = statuses.get(verdict.operation) ?? new Set();
        statuses.set(verdict.operation, seen.add(request.status));
      }
    }
    // Every operation of the extract was exercised, each with a success and a 401.
    assert.deepEqual([...statuses.keys()].sort(), Object.keys(CLERK_SPEC.operations).sort());
    for (const [operation, seen] of statuses) {
      assert.ok(seen.has(200) && seen.has(401), `${operation}: ${[...seen]}`);
    }
    assert.deepEqual(
      [...statuses.get("GET /users")!].sort(),
      [200, 401, 422, 429, 504],
    );
    assert.equal(
      clerk.requests.find((r) => r.status === 429)?.headers?.["retry-after"],
      "3",
    );
  });
});

Deno.test("the Clerk API stand-in refuses a wrong key with 401 clerk_key_invalid on every endpoint", async () => {
  await withStandIn(async (clerk) => {
    for (const path of ENDPOINTS) {
      const { status, body } = await get(clerk, path, "sk_test_revoked");
      assert.equal(status, 401, path);
      assert.deepEqual(body.errors, [{
        message:
          "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.",
        long_message:
          "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.",
        code: "clerk_key_invalid",
      }], path);
    }
  });
});

Deno.test("the Clerk API stand-in pages users by starting_after with the spec's rules, and times out deep offsets", async () => {
  await withStandIn(async (clerk) => {
    const ids = (body: { id: string }[]) => body.map((u) => u.id);
    const oldest = await get(clerk, "/v1/users?limit=3&order_by=%2Bcreated_at");
    const after = await get(
      clerk,
      `/v1/users?limit=3&order_by=%2Bcreated_at&starting_after=${oldest.body[2].id}`,
    );
    const byOffset = await get(clerk, "/v1/users?limit=3&offset=3&order_by=%2Bcreated_at");
    assert.deepEqual(ids(after.body), ids(byOffset.body), "the users that follow it");
    // Default order -created_at: newest first; the cursor follows it down.
    const newest = await get(clerk, "/v1/users?limit=2");
    const older = await get(clerk, `/v1/users?limit=2&starting_after=${newest.body[1].id}`);
    const newestFour = await get(clerk, "/v1/users?limit=4");
    assert.deepEqual([...ids(newest.body), ...ids(older.body)], ids(newestFour.body));

    const refused = [
      [`order_by=-updated_at&starting_after=${oldest.body[0].id}`, "starting_after"],
      [`order_by=username&starting_after=${oldest.body[0].id}`, "order_by"],
      [`offset=2&starting_after=${oldest.body[0].id}`, "starting_after"],
      ["starting_after=user_2exampleNotAUserOfThisInst", "starting_after"],
      ["limit=501", "limit"],
      ["offset=-3", "offset"],
      ["created_at_after=soon", "created_at_after"],
    ];
    for (const [query, param] of refused) {
      const { status, body } = await get(clerk, `/v1/users?${query}`);
      assert.equal(status, 422, query);
      assert.deepEqual(firstError(body), { code: "form_param_value_invalid", param }, query);
    }
    const deep = await get(clerk, "/v1/users?offset=6&limit=1");
    assert.equal(deep.status, 504);
    assert.match(
      deep.body.errors[0].long_message,
      /gets progressively slower and eventually times out/,
    );
    const cursorAsDeep = await get(clerk, `/v1/users?limit=1&starting_after=${oldest.body[2].id}`);
    assert.equal(cursorAsDeep.status, 200, "a cursor page costs the same at any depth");

    const missing = await get(clerk, "/v1/users/user_2exampleNotAUserOfThisInst");
    assert.equal(missing.status, 404);
    assert.equal(firstError(missing.body).code, "resource_not_found");
    clerk.organizationsEnabled = false;
    const off = await get(clerk, "/v1/organizations");
    assert.equal(off.status, 403);
    assert.equal(off.body.errors[0].code, "organization_not_enabled_in_instance");
    assert.match(off.body.errors[0].long_message, /The organizations feature is not enabled/);
    const settings = await get(clerk, "/v1/instance/organization_settings");
    assert.equal(settings.body.enabled, false);
    const instance = await get(clerk, "/v1/instance");
    assert.equal(instance.body.id, clerk.instanceId);
  });
});
