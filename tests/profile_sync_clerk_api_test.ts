// clerk-profile-sync's Backend API calls (clerk_api.ts over @clerk/backend) against the Clerk API
// stand-in: each answer becomes its typed error, and no failure to get an answer is a 404.
import assert from "node:assert/strict";
import { ConfigError } from "../supabase/functions/_shared/errors.ts";
import {
  type ClerkApi,
  createClerkApi,
} from "../supabase/functions/clerk-profile-sync/clerk_api.ts";
import {
  ClerkRateLimitError,
  ClerkResponseError,
  ClerkUnavailableError,
  UserNotFoundError,
} from "../supabase/functions/clerk-profile-sync/errors.ts";
import {
  type ClerkApiStandIn,
  fakeClerkUser,
  startClerkApiStandIn,
} from "./support/clerk_api_stand_in.ts";
import { generateSigningKey } from "./support/clerk_session.ts";
import { freePort } from "./support/pg_cluster.ts";

const KEY = await generateSigningKey();

async function withApi(fn: (api: ClerkApi, clerk: ClerkApiStandIn) => Promise<void>) {
  const clerk = startClerkApiStandIn({ signingKeys: [KEY], users: [fakeClerkUser(1)] });
  try {
    await fn(
      createClerkApi({ secretKey: clerk.secretKey, apiUrl: clerk.url, timeoutMs: 2000 }),
      clerk,
    );
  } finally {
    await clerk.close();
  }
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(() => null, (e) => e);
  assert.ok(error instanceof Error, "the call failed");
  return error;
}

Deno.test("getUser() returns Clerk's user JSON as the Backend API sent it", async () => {
  await withApi(async (api) => {
    const user = await api.getUser("user_0000001");
    assert.deepEqual(user, fakeClerkUser(1));
  });
});

Deno.test("getUser() throws UserNotFoundError for Clerk's 404", async () => {
  await withApi(async (api) => {
    assert.ok(await failure(api.getUser("user_missing")) instanceof UserNotFoundError);
  });
});

Deno.test("getUser() throws ClerkRateLimitError with Clerk's Retry-After for a 429", async () => {
  await withApi(async (api, clerk) => {
    clerk.injectFault({ path: "/v1/users/user_0000001", status: 429, retryAfterSeconds: 9 });
    const error = await failure(api.getUser("user_0000001"));
    assert.ok(error instanceof ClerkRateLimitError);
    assert.equal(error.retryAfterSeconds, 9);
  });
});

Deno.test("getUser() throws ClerkUnavailableError for a 5xx and for no answer at all, never UserNotFoundError", async () => {
  await withApi(async (api, clerk) => {
    clerk.injectFault({ path: "/v1/users/user_0000001", status: 502 });
    assert.ok(await failure(api.getUser("user_0000001")) instanceof ClerkUnavailableError);
  });
  const nobody = createClerkApi({
    secretKey: "sk_test_x",
    apiUrl: `http://127.0.0.1:${freePort()}`,
    timeoutMs: 2000,
  });
  const error = await failure(nobody.getUser("user_0000001"));
  assert.ok(error instanceof ClerkUnavailableError, String(error));
  assert.match(error.message, /^Clerk's Backend API unreachable \(GET \/v1\/users\/user_0000001: /);
});

Deno.test("getUser() throws ConfigError naming CLERK_SECRET_KEY when Clerk refuses the key, without the key", async () => {
  const clerk = startClerkApiStandIn({ users: [fakeClerkUser(1)] });
  try {
    const api = createClerkApi({ secretKey: "sk_test_wrong", apiUrl: clerk.url, timeoutMs: 2000 });
    const error = await failure(api.getUser("user_0000001"));
    assert.ok(error instanceof ConfigError);
    assert.equal(error.variable, "CLERK_SECRET_KEY");
    assert.ok(!error.message.includes("sk_test_wrong"));
  } finally {
    await clerk.close();
  }
});

Deno.test("getUser() throws ClerkResponseError for another 4xx", async () => {
  await withApi(async (api, clerk) => {
    clerk.injectFault({ path: "/v1/users/user_0000001", status: 422 });
    assert.ok(await failure(api.getUser("user_0000001")) instanceof ClerkResponseError);
  });
});

Deno.test("getJwks() returns the instance's keys", async () => {
  await withApi(async (api) => {
    assert.deepEqual(await api.getJwks(), [KEY.jwk]);
  });
});
