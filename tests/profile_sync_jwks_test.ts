// Clerk's JWKS in clerk-profile-sync without CLERK_JWT_KEY (jwks.ts), one test per failure mode:
// unknown key ids, a flood of them, Clerk failing, too slow, too many waiting, a rate limit, key
// rotation and the background refresh. The key set runs over a scripted `fetchKeys` and a clock
// the test moves; then the session verifier over the Clerk API stand-in (loopback), counting the
// `GET /v1/jwks` requests it really makes.
import assert from "node:assert/strict";
import { ConfigError } from "../supabase/functions/_shared/errors.ts";
import {
  AuthError,
  ClerkRateLimitError,
  ClerkUnavailableError,
  KeysBusyError,
} from "../supabase/functions/clerk-profile-sync/errors.ts";
import {
  createKeySet,
  JWKS_COOLDOWN_MS,
  JWKS_FAILURE_COOLDOWN_MS,
  JWKS_REFRESH_AFTER_MS,
  type KeySetOptions,
} from "../supabase/functions/clerk-profile-sync/jwks.ts";
import { createHandler } from "../supabase/functions/clerk-profile-sync/handler.ts";
import { fetchJwks } from "../supabase/functions/clerk-profile-sync/clerk_api.ts";
import { startClerkApiStandIn } from "./support/clerk_api_stand_in.ts";
import { generateSigningKey, mintSessionToken } from "./support/clerk_session.ts";
import { jwksRequests, secretKeyVerifier } from "./support/session_verifier.ts";

const KEY = await generateSigningKey();
const NEXT_KEY = await generateSigningKey();
const USER = "user_29w83sxmDNGwOuEthce5gg56FcC";

// A JWKS endpoint the test scripts: each fetch takes the next answer (the last one repeats).
function scripted(...answers: (unknown[] | Error | "hang")[]) {
  const signals: AbortSignal[] = [];
  let fetches = 0;
  const fetchKeys: KeySetOptions["fetchKeys"] = (signal) => {
    signals.push(signal);
    const answer = answers[Math.min(fetches++, answers.length - 1)];
    if (answer === "hang") return new Promise(() => {});
    // Asynchronous, as a real fetch is, so that concurrent requests meet the fetch in flight.
    return new Promise((resolve, reject) =>
      setTimeout(() => answer instanceof Error ? reject(answer) : resolve(answer), 1)
    );
  };
  return {
    fetchKeys,
    signals,
    get fetches() {
      return fetches;
    },
  };
}

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(() => null, (e) => e);
  assert.ok(error instanceof Error, `expected a rejection, got ${error}`);
  return error;
}

function randomKid(): string {
  return `ins_${crypto.randomUUID().replaceAll("-", "")}`;
}

Deno.test("createKeySet() answers a listed key id as a JWK without alg, after one fetch", async () => {
  const clerk = scripted([KEY.jwk, { kty: "EC", kid: "ec", crv: "P-256", x: "a", y: "b" }]);
  const keys = createKeySet({ fetchKeys: clerk.fetchKeys });
  const jwk = await keys.key(KEY.kid);
  assert.deepEqual(jwk, { kty: "RSA", n: KEY.jwk.n, e: KEY.jwk.e });
  await keys.key(KEY.kid);
  assert.equal(clerk.fetches, 1);
});

Deno.test("createKeySet() refuses an unknown key id at once (401 jwk-kid-mismatch) until the cooldown ends", async () => {
  const clerk = scripted([KEY.jwk]);
  const time = clock();
  const keys = createKeySet({ fetchKeys: clerk.fetchKeys, now: time.now });
  const first = await rejection(keys.key("ins_unknown"));
  assert.ok(first instanceof AuthError);
  assert.equal(first.reason, "jwk-kid-mismatch");
  time.advance(JWKS_COOLDOWN_MS - 1);
  for (let i = 0; i < 10; i++) {
    const again = await rejection(keys.key("ins_unknown"));
    assert.equal((again as AuthError).reason, "jwk-kid-mismatch");
  }
  assert.equal(clerk.fetches, 1, "one fetch: the refusals within the cooldown cost none");
  time.advance(1);
  await rejection(keys.key("ins_unknown"));
  assert.equal(clerk.fetches, 2, "the cooldown over, an unknown key id may fetch again");
});

Deno.test("createKeySet(): 1,000 concurrent random key ids on a cold key set cost one fetch, and the genuine one among them is answered", async () => {
  const clerk = scripted([KEY.jwk]);
  const keys = createKeySet({ fetchKeys: clerk.fetchKeys });
  const kids = Array.from({ length: 1000 }, randomKid);
  kids.splice(500, 0, KEY.kid);
  const results = await Promise.allSettled(kids.map((kid) => keys.key(kid)));
  assert.equal(clerk.fetches, 1);
  assert.equal(results[500].status, "fulfilled");
  const refused = results.flatMap((r) => r.status === "rejected" ? [r.reason] : []);
  assert.equal(refused.length, 1000);
  // The first 1,000 wait for the fetch and are then refused as unknown (401); the one beyond
  // the bound on waiters is answered busy (503) without waiting.
  const unknown = refused.filter((e) => e instanceof AuthError && e.reason === "jwk-kid-mismatch");
  const busy = refused.filter((e) => e instanceof KeysBusyError);
  assert.deepEqual([unknown.length, busy.length], [999, 1]);
});

Deno.test("createKeySet(): while Clerk answers 500, tokens cost one fetch per failure cooldown, each refused 503 with Retry-After", async () => {
  const down = new ClerkUnavailableError("Clerk's Backend API failed (GET /v1/jwks: 500 ...)");
  const clerk = scripted(down);
  const time = clock();
  const keys = createKeySet({ fetchKeys: clerk.fetchKeys, now: time.now });
  for (let i = 0; i < 50; i++) {
    const error = await rejection(keys.key(i % 2 ? KEY.kid : randomKid()));
    assert.ok(error instanceof ClerkUnavailableError, String(error));
    assert.equal(error.retryAfterSeconds, JWKS_FAILURE_COOLDOWN_MS / 1000);
  }
  assert.equal(clerk.fetches, 1);
  time.advance(JWKS_FAILURE_COOLDOWN_MS);
  await rejection(keys.key(KEY.kid));
  assert.equal(clerk.fetches, 2);
});

Deno.test("createKeySet(): a refused secret key is the ConfigError for every request, without a fetch each", async () => {
  const refused = new ConfigError("CLERK_SECRET_KEY", "CLERK_SECRET_KEY was refused");
  const clerk = scripted(refused);
  const keys = createKeySet({ fetchKeys: clerk.fetchKeys });
  for (let i = 0; i < 5; i++) assert.equal(await rejection(keys.key(KEY.kid)), refused);
  assert.equal(clerk.fetches, 1);
});

Deno.test("createKeySet(): a fetch without an answer is aborted at the deadline, and its waiters answered 503", async () => {
  const clerk = scripted("hang", [KEY.jwk]);
  const time = clock();
  const keys = createKeySet({ fetchKeys: clerk.fetchKeys, now: time.now, timeoutMs: 50 });
  const started = performance.now();
  const errors = await Promise.all([KEY.kid, randomKid()].map((kid) => rejection(keys.key(kid))));
  assert.ok(performance.now() - started < 2000, "answered at the deadline, not later");
  for (const error of errors) {
    assert.ok(error instanceof ClerkUnavailableError);
    assert.match(error.message, /did not answer within 50 ms \(GET \/v1\/jwks\)/);
  }
  assert.equal(clerk.signals[0].aborted, true, "the request itself was aborted");
  time.advance(JWKS_FAILURE_COOLDOWN_MS);
  assert.ok(await keys.key(KEY.kid), "the next fetch after the failure cooldown succeeds");
});

Deno.test("createKeySet(): beyond maxWaiting, requests waiting for a fetch are answered KeysBusyError (503) with Retry-After", async () => {
  const clerk = scripted("hang");
  const keys = createKeySet({ fetchKeys: clerk.fetchKeys, maxWaiting: 3, timeoutMs: 200 });
  const waiting = Array.from({ length: 3 }, () => keys.key(KEY.kid).catch((e) => e));
  const busy = await rejection(keys.key(KEY.kid));
  assert.ok(busy instanceof KeysBusyError, String(busy));
  assert.equal(busy.retryAfterSeconds, 1);
  for (const error of await Promise.all(waiting)) assert.ok(error instanceof ClerkUnavailableError);
  assert.equal(clerk.fetches, 1);
});

Deno.test("createKeySet(): a 429 from Clerk holds the next fetch back for its Retry-After", async () => {
  const clerk = scripted(new ClerkRateLimitError(20, "Clerk's rate limit reached"), [KEY.jwk]);
  const time = clock();
  const keys = createKeySet({ fetchKeys: clerk.fetchKeys, now: time.now });
  await rejection(keys.key(KEY.kid));
  time.advance(JWKS_FAILURE_COOLDOWN_MS);
  const held = await rejection(keys.key(KEY.kid));
  assert.equal((held as ClerkUnavailableError).retryAfterSeconds, 15);
  time.advance(15_000);
  assert.ok(await keys.key(KEY.kid));
  assert.equal(clerk.fetches, 2);
});

Deno.test("createKeySet(): after a rotation, the new key id is refused within the cooldown and accepted after it", async () => {
  const clerk = scripted([KEY.jwk], [KEY.jwk, NEXT_KEY.jwk]);
  const time = clock();
  const keys = createKeySet({ fetchKeys: clerk.fetchKeys, now: time.now });
  await keys.key(KEY.kid);
  time.advance(10_000);
  const early = await rejection(keys.key(NEXT_KEY.kid));
  assert.equal((early as AuthError).reason, "jwk-kid-mismatch");
  time.advance(JWKS_COOLDOWN_MS - 10_000);
  assert.deepEqual(await keys.key(NEXT_KEY.kid), {
    kty: "RSA",
    n: NEXT_KEY.jwk.n,
    e: NEXT_KEY.jwk.e,
  });
  assert.equal(clerk.fetches, 2);
});

Deno.test("createKeySet(): keys older than 5 minutes are refreshed in the background and keep verifying while Clerk fails", async () => {
  const clerk = scripted([KEY.jwk], new ClerkUnavailableError("down"), [NEXT_KEY.jwk]);
  const time = clock();
  const keys = createKeySet({ fetchKeys: clerk.fetchKeys, now: time.now });
  await keys.key(KEY.kid);
  time.advance(JWKS_REFRESH_AFTER_MS);
  assert.ok(await keys.key(KEY.kid), "answered at once, the refresh runs behind it");
  assert.equal(clerk.fetches, 2);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(await keys.key(KEY.kid), "the failed refresh leaves the keys in place");
  time.advance(JWKS_FAILURE_COOLDOWN_MS);
  await keys.key(KEY.kid);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(clerk.fetches, 3);
  const removed = await rejection(keys.key(KEY.kid));
  assert.equal((removed as AuthError).reason, "jwk-kid-mismatch", "a key Clerk dropped is gone");
});

// Through the verifier, over HTTP: the counts the review measured.

Deno.test("verify() with CLERK_SECRET_KEY: 10 tokens with one unknown key id cost one JWKS request, and the genuine user still verifies", async () => {
  const clerk = startClerkApiStandIn({ signingKeys: [KEY] });
  try {
    const verifier = secretKeyVerifier(clerk);
    const foreign = await generateSigningKey("ins_2unknownKeyIdOfAnotherInstance");
    const tokens = await Promise.all(
      Array.from({ length: 10 }, () => mintSessionToken(foreign, USER)),
    );
    for (const token of tokens) {
      const error = await rejection(verifier.verify(token));
      assert.equal((error as AuthError).reason, "jwk-kid-mismatch");
    }
    assert.deepEqual(await verifier.verify(await mintSessionToken(KEY, USER)), { userId: USER });
    assert.equal(jwksRequests(clerk), 1);
  } finally {
    await clerk.close();
  }
});

Deno.test("verify() with CLERK_SECRET_KEY: while /v1/jwks answers 500, 5 tokens cost one request, each refused 503", async () => {
  const clerk = startClerkApiStandIn({ signingKeys: [KEY] });
  try {
    for (let i = 0; i < 25; i++) clerk.injectFault({ path: "/v1/jwks", status: 500 });
    const verifier = secretKeyVerifier(clerk);
    const errors = [];
    for (let i = 0; i < 5; i++) {
      errors.push(await rejection(verifier.verify(await mintSessionToken(KEY, USER))));
    }
    assert.equal(jwksRequests(clerk), 1);
    for (const error of errors) {
      assert.ok(error instanceof ClerkUnavailableError, String(error));
      assert.match(error.message, /Clerk's Backend API failed \(GET \/v1\/jwks: 500 /);
    }
  } finally {
    await clerk.close();
  }
});

Deno.test("verify() with CLERK_SECRET_KEY: a JWKS that does not answer is given up at the deadline (503), not retried", async () => {
  const clerk = startClerkApiStandIn({ signingKeys: [KEY] });
  clerk.delayMs = 1_000;
  try {
    const verifier = secretKeyVerifier(
      clerk,
      // The function's own fetch with a shorter deadline than JWKS_TIMEOUT_MS (3 s), to keep
      // the test short.
      createKeySet({
        fetchKeys: (signal) => fetchJwks(clerk.url, clerk.secretKey, signal),
        timeoutMs: 200,
      }),
    );
    const started = performance.now();
    const error = await rejection(verifier.verify(await mintSessionToken(KEY, USER)));
    const elapsed = performance.now() - started;
    assert.ok(error instanceof ClerkUnavailableError, String(error));
    assert.match(error.message, /did not answer within 200 ms/);
    assert.ok(elapsed < 900, `answered after ${elapsed.toFixed(0)} ms`);
  } finally {
    clerk.delayMs = 0;
    await clerk.close();
  }
  assert.equal(jwksRequests(clerk), 1, "one request, not retried");
});

// The answers, through the handler: a verifier that throws what the key set throws.
async function answerTo(error: Error) {
  const lines: string[] = [];
  const push = (line: string) => void lines.push(line);
  const handle = createHandler({
    sessions: { verify: () => Promise.reject(error) },
    instance: { ensure: () => Promise.resolve() },
    clerk: { getUser: () => Promise.reject(new Error("not called")) },
    store: {
      read: () => Promise.reject(new Error("not called")),
      sync: () => Promise.reject(new Error("not called")),
    },
    log: { info: push, warn: push, error: push },
    minIntervalS: 60,
    allowedOrigins: "*",
  });
  const res = await handle(
    new Request("http://127.0.0.1/functions/v1/clerk-profile-sync", {
      method: "POST",
      headers: { authorization: "Bearer x.y.z" },
    }),
  );
  return {
    status: res.status,
    retryAfter: res.headers.get("retry-after"),
    body: await res.json(),
    lines,
  };
}

Deno.test("clerk-profile-sync answers 503 busy with Retry-After when too many requests wait for Clerk's JWKS, 503 with Retry-After while its JWKS fetch is held back, 401 for an unknown key id", async () => {
  const busy = await answerTo(new KeysBusyError(2, "1000 requests already wait for Clerk's JWKS"));
  assert.deepEqual([busy.status, busy.retryAfter, busy.body], [503, "2", {
    error: "busy, retry shortly",
  }]);
  assert.deepEqual(busy.lines, [
    "Failed to sync profile (503): 1000 requests already wait for Clerk's JWKS",
  ]);
  const held = await answerTo(new ClerkUnavailableError("Clerk's Backend API failed", 4));
  assert.deepEqual([held.status, held.retryAfter, held.body], [503, "4", {
    error: "Clerk unavailable",
  }]);
  const unknown = await answerTo(new AuthError("jwk-kid-mismatch", "not in Clerk's JWKS"));
  assert.deepEqual([unknown.status, unknown.body], [401, {
    error: "invalid session token",
    reason: "jwk-kid-mismatch",
  }]);
});
