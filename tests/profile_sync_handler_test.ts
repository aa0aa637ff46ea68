// Every row of clerk-profile-sync's answer table and its log lines, the handler called with
// `new Request(...)` over the real chain: @clerk/backend → Clerk API stand-in (loopback), and
// store → supabase-js → PostgREST stand-in → PostgreSQL (DATABASE_URL, migrated by scripts/test.ts).
import assert from "node:assert/strict";
import { ConfigError } from "../supabase/functions/_shared/errors.ts";
import type { Logger } from "../supabase/functions/_shared/log.ts";
import { createMisconfiguredHandler } from "../supabase/functions/clerk-profile-sync/handler.ts";
import { freePort } from "./support/pg_cluster.ts";
import { APP_ORIGIN, type Rig, storedProfile, withRig } from "./support/profile_sync_rig.ts";

const PROFILE_COLUMNS = [
  "clerk_created_at",
  "clerk_updated_at",
  "created_at",
  "email",
  "first_name",
  "image_url",
  "last_name",
  "phone",
  "public_metadata",
  "updated_at",
  "user_id",
  "username",
];

async function body(res: Response): Promise<Record<string, unknown>> {
  return await res.json();
}

// A user in Clerk and a token for them.
async function signedUp(rig: Rig, fields: Record<string, unknown> = {}) {
  const id = rig.newUserId();
  const user = rig.putUser(id, fields);
  return { id, user, token: await rig.token(id) };
}

async function tombstones(rig: Rig, id: string) {
  return await rig.sql`select kind from clerk_sync.deleted_users where user_id = ${id}`;
}

Deno.test("clerk-profile-sync answers 200 applied with the caller's row written from Clerk's data, and logs the guide's lines", async () => {
  await withRig({}, async (rig) => {
    const { id, user, token } = await signedUp(rig, { first_name: "Ada", last_name: "Lovelace" });
    const res = await rig.handle(rig.request(token));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json");
    const answer = await body(res);
    assert.equal(answer.status, "applied");
    const profile = answer.profile as Record<string, unknown>;
    assert.deepEqual(Object.keys(profile).sort(), PROFILE_COLUMNS);
    assert.equal(profile.user_id, id);
    assert.equal(profile.first_name, "Ada");
    const emails = user.email_addresses as { id: string; email_address: string }[];
    const primary = emails.find((e) => e.id === user.primary_email_address_id);
    assert.equal(profile.email, primary?.email_address);
    assert.deepEqual(rig.lines, [
      `Profile sync requested by ${id}`,
      `Successfully synced profile for user ${id}`,
    ]);
    const row = await storedProfile(rig.sql, id);
    assert.equal(row.first_name, "Ada");
    assert.equal(row.last_name, "Lovelace");
    assert.equal(rig.clerkCalls(`/v1/users/${id}`), 1);
    assert.ok(!JSON.stringify(answer).includes(token), "the answer never holds the token");
  });
});

Deno.test("clerk-profile-sync answers 200 recent from the database within the interval, without calling Clerk", async () => {
  await withRig({}, async (rig) => {
    const { id, token } = await signedUp(rig);
    assert.equal((await body(await rig.handle(rig.request(token)))).status, "applied");
    const calls = rig.clerkCalls();
    const res = await rig.handle(rig.request(await rig.token(id)));
    assert.equal(res.status, 200);
    const answer = await body(res);
    assert.equal(answer.status, "recent");
    assert.deepEqual(Object.keys(answer).sort(), ["profile", "status"]);
    assert.equal((answer.profile as { user_id: string }).user_id, id);
    assert.equal(rig.clerkCalls(), calls, "Clerk was not called");
    assert.match(
      rig.lines.at(-1) ?? "",
      new RegExp(
        `^Answered profile of user ${id} from the database \\(confirmed at .+; Clerk not called\\)$`,
      ),
    );
  });
});

Deno.test("clerk-profile-sync asks Clerk again once the interval has passed", async () => {
  await withRig({ minIntervalS: 60 }, async (rig) => {
    const { id, token } = await signedUp(rig);
    await (await rig.handle(rig.request(token))).body?.cancel();
    await rig.sql`update clerk_sync.profile_confirmations
      set confirmed_at = now() - interval '61 seconds' where user_id = ${id}`;
    const res = await rig.handle(rig.request(token));
    assert.equal(res.status, 200);
    assert.equal((await body(res)).status, "unchanged");
    assert.equal(rig.clerkCalls(`/v1/users/${id}`), 2);
    assert.equal(
      rig.lines.at(-1),
      `Profile of user ${id} is unchanged: the stored row is as new as Clerk's or newer`,
    );
  });
});

Deno.test("clerk-profile-sync with PROFILE_SYNC_MIN_INTERVAL_S=0 asks Clerk on every call", async () => {
  await withRig({ minIntervalS: 0 }, async (rig) => {
    const { id, token } = await signedUp(rig);
    for (let i = 0; i < 3; i++) await (await rig.handle(rig.request(token))).body?.cancel();
    assert.equal(rig.clerkCalls(`/v1/users/${id}`), 3);
  });
});

Deno.test("clerk-profile-sync answers 200 unchanged and keeps a newer webhook write", async () => {
  await withRig({}, async (rig) => {
    const { id, user, token } = await signedUp(rig);
    const newer = new Date(user.updated_at + 60_000).toISOString();
    await rig.sql`select public.sync_clerk_user(${"msg_ps_" + id}, 'user.updated', ${id},
      ${newer}, ${rig.sql.json({ first_name: "FromWebhook" })})`;
    const res = await rig.handle(rig.request(token));
    assert.equal(res.status, 200);
    const answer = await body(res);
    assert.equal(answer.status, "unchanged");
    assert.equal((answer.profile as { first_name: string }).first_name, "FromWebhook");
    assert.equal((await storedProfile(rig.sql, id)).first_name, "FromWebhook");
  });
});

Deno.test("clerk-profile-sync: the webhook's user.created arriving after a sync on visit is stale, a newer user.updated applies", async () => {
  await withRig({}, async (rig) => {
    const { id, user, token } = await signedUp(rig);
    await (await rig.handle(rig.request(token))).body?.cancel();
    const same = new Date(user.updated_at).toISOString();
    const [created] = await rig.sql`select public.sync_clerk_user(${"msg_psc_" + id},
      'user.created', ${id}, ${same}, ${rig.sql.json({ first_name: "Same" })}) as outcome`;
    assert.equal(created.outcome, "stale");
    const later = new Date(user.updated_at + 1000).toISOString();
    const [updated] = await rig.sql`select public.sync_clerk_user(${"msg_psu_" + id},
      'user.updated', ${id}, ${later}, ${rig.sql.json({ first_name: "Later" })}) as outcome`;
    assert.equal(updated.outcome, "applied");
  });
});

Deno.test("clerk-profile-sync answers 410 deleted for a tombstoned user without calling Clerk", async () => {
  await withRig({}, async (rig) => {
    const { id, token } = await signedUp(rig);
    await rig.sql`select public.sync_clerk_user(${"msg_psd_" + id}, 'user.deleted', ${id},
      ${new Date().toISOString()})`;
    const res = await rig.handle(rig.request(token));
    assert.equal(res.status, 410);
    assert.deepEqual(await body(res), { status: "deleted" });
    assert.equal(rig.clerkCalls(), 0);
    assert.equal(await storedProfile(rig.sql, id), undefined);
    assert.deepEqual(rig.lines, [
      `Profile sync requested by ${id}`,
      `Refused profile sync for user ${id} (410): the user was deleted`,
    ]);
  });
});

Deno.test("clerk-profile-sync answers 410 deleted when Clerk answers 404, writes nothing and names the likely misconfiguration", async () => {
  await withRig({}, async (rig) => {
    const id = rig.newUserId(); // a valid token, but Clerk has no such user
    const res = await rig.handle(rig.request(await rig.token(id)));
    assert.equal(res.status, 410);
    assert.deepEqual(await body(res), { status: "deleted" });
    assert.equal(await storedProfile(rig.sql, id), undefined);
    assert.equal((await tombstones(rig, id)).length, 0, "no tombstone: user.deleted records that");
    assert.equal(
      rig.lines.at(-1),
      `Clerk has no user ${id} (410, nothing written: the user.deleted delivery records deletions). ` +
        "If every user gets this, CLERK_SECRET_KEY belongs to another Clerk instance than the session tokens.",
    );
  });
});

Deno.test("clerk-profile-sync answers 503 with Clerk's Retry-After when Clerk answers 429", async () => {
  await withRig({}, async (rig) => {
    const { id, token } = await signedUp(rig);
    rig.clerk.injectFault({ path: `/v1/users/${id}`, status: 429, retryAfterSeconds: 7 });
    const res = await rig.handle(rig.request(token));
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "7");
    assert.equal(res.headers.get("access-control-expose-headers"), "Retry-After");
    assert.deepEqual(await body(res), { error: "Clerk rate limit reached" });
    assert.equal(await storedProfile(rig.sql, id), undefined);
    assert.equal(
      rig.lines.at(-1),
      `Failed to sync profile for user ${id} (503): Clerk's rate limit reached ` +
        `(GET /v1/users/${id}: 429, Retry-After 7 s)`,
    );
  });
});

Deno.test("clerk-profile-sync answers 503 when Clerk answers 5xx, and the next call succeeds", async () => {
  await withRig({}, async (rig) => {
    const { id, token } = await signedUp(rig);
    rig.clerk.injectFault({ path: `/v1/users/${id}`, status: 500 });
    const res = await rig.handle(rig.request(token));
    assert.equal(res.status, 503);
    assert.deepEqual(await body(res), { error: "Clerk unavailable" });
    assert.match(
      rig.lines.at(-1) ?? "",
      /\(503\): Clerk's Backend API failed \(GET \/v1\/users\/.+: 500 /,
    );
    assert.equal((await body(await rig.handle(rig.request(token)))).status, "applied");
  });
});

Deno.test("clerk-profile-sync answers 503 when Clerk is unreachable, never reading it as a 404", async () => {
  await withRig({ clerkApiUrl: `http://127.0.0.1:${freePort()}`, mode: "jwt-key" }, async (rig) => {
    const { id, token } = await signedUp(rig);
    const res = await rig.handle(rig.request(token));
    assert.equal(res.status, 503);
    assert.deepEqual(await body(res), { error: "Clerk unavailable" });
    assert.match(
      rig.lines.at(-1) ?? "",
      /^Failed to sync profile for user .+ \(503\): Clerk's Backend API unreachable \(GET \/v1\/jwks: /,
    );
    assert.equal(await storedProfile(rig.sql, id), undefined);
  });
});

Deno.test("clerk-profile-sync answers 503 when Clerk answers later than its deadline", async () => {
  await withRig({ clerkTimeoutMs: 100 }, async (rig) => {
    const { id, token } = await signedUp(rig);
    rig.clerk.delayMs = 400;
    const res = await rig.handle(rig.request(token));
    assert.equal(res.status, 503);
    assert.deepEqual(await body(res), { error: "Clerk unavailable" });
    assert.match(rig.lines.at(-1) ?? "", /did not answer within 100 ms/);
    assert.equal(await storedProfile(rig.sql, id), undefined);
  });
});

Deno.test("clerk-profile-sync answers 503 database unavailable when the database cannot be reached", async () => {
  await withRig({ databaseUnreachable: true }, async (rig) => {
    const { id, token } = await signedUp(rig);
    const res = await rig.handle(rig.request(token));
    assert.equal(res.status, 503);
    assert.deepEqual(await body(res), { error: "database unavailable" });
    assert.match(
      rig.lines.at(-1) ?? "",
      new RegExp(`^Failed to sync profile for user ${id} \\(503\\): database unreachable`),
    );
    assert.equal(rig.clerkCalls(), 0, "Clerk is not called when the database cannot answer");
  });
});

Deno.test("clerk-profile-sync answers 502 and names the field when Clerk's user object is unusable", async () => {
  await withRig({}, async (rig) => {
    const { id, token } = await signedUp(rig, { updated_at: -5 });
    const res = await rig.handle(rig.request(token));
    assert.equal(res.status, 502);
    assert.deepEqual(await body(res), { error: "unexpected answer from Clerk" });
    assert.equal(
      rig.lines.at(-1),
      `Failed to sync profile for user ${id} (502): Clerk's user object is unusable: ` +
        "data.updated_at is not a valid timestamp (epoch milliseconds from 1970 to 9999)",
    );
  });
});

Deno.test("clerk-profile-sync answers 500 misconfigured when Clerk refuses CLERK_SECRET_KEY, naming it", async () => {
  await withRig({ secretKey: "sk_test_revoked_key" }, async (rig) => {
    const { token } = await signedUp(rig);
    const res = await rig.handle(rig.request(token));
    assert.equal(res.status, 500);
    assert.deepEqual(await body(res), { error: "function is misconfigured" });
    assert.match(
      rig.lines.at(-1) ?? "",
      /\(500\): configuration error in CLERK_SECRET_KEY: CLERK_SECRET_KEY was refused by Clerk's Backend API \(GET \/v1\/jwks: 401 /,
    );
    assert.ok(!rig.lines.join("\n").includes("sk_test_revoked_key"), "the key is never logged");
  });
});

Deno.test("createMisconfiguredHandler() answers 500 to every request, with CORS headers, and 204 to a preflight", async () => {
  const lines: string[] = [];
  const log: Logger = {
    info: (l) => lines.push(l),
    warn: (l) => lines.push(l),
    error: (l) => lines.push(l),
  };
  const handle = createMisconfiguredHandler(
    new ConfigError("CLERK_SECRET_KEY", "CLERK_SECRET_KEY is not set"),
    log,
  );
  const res = await handle(
    new Request("http://f.test/", { method: "POST", headers: { origin: APP_ORIGIN } }),
  );
  assert.equal(res.status, 500);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.deepEqual(await res.json(), { error: "function is misconfigured" });
  assert.deepEqual(lines, [
    "Failed to handle profile sync (500): configuration error in CLERK_SECRET_KEY",
  ]);
  const preflight = await handle(
    new Request("http://f.test/", { method: "OPTIONS", headers: { origin: APP_ORIGIN } }),
  );
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-methods"), "POST, OPTIONS");
});

Deno.test("clerk-profile-sync answers 405 with Allow: POST, OPTIONS to other methods", async () => {
  await withRig({}, async (rig) => {
    for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
      const res = await rig.handle(rig.request(await rig.token(rig.newUserId()), { method }));
      assert.equal(res.status, 405);
      assert.equal(res.headers.get("allow"), "POST, OPTIONS");
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      assert.deepEqual(await body(res), { error: "method not allowed" });
      assert.equal(
        rig.lines.at(-1),
        `Rejected ${method} request (405): only POST and OPTIONS are accepted`,
      );
    }
    assert.equal(rig.clerkCalls(), 0);
  });
});

Deno.test("clerk-profile-sync answers 401 token-missing without a bearer token", async () => {
  await withRig({}, async (rig) => {
    for (const authorization of [undefined, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"]) {
      const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
      const res = await rig.handle(rig.request(undefined, { headers }));
      assert.equal(res.status, 401, String(authorization));
      assert.deepEqual(await body(res), { error: "missing bearer token", reason: "token-missing" });
    }
    assert.equal(
      rig.lines.at(-1),
      "Rejected profile sync (401): token-missing: no bearer token in the Authorization header",
    );
    assert.equal(rig.clerkCalls(), 0);
  });
});

Deno.test("clerk-profile-sync answers 401 with the reason for a token that fails verification, and writes nothing", async () => {
  await withRig({}, async (rig) => {
    const { id } = await signedUp(rig);
    const expired = await rig.token(id, { issuedAt: Math.floor(Date.now() / 1000) - 600 });
    const res = await rig.handle(rig.request(expired));
    assert.equal(res.status, 401);
    assert.deepEqual(await body(res), { error: "invalid session token", reason: "token-expired" });
    assert.match(
      rig.lines.at(-1) ?? "",
      /^Rejected profile sync \(401\): token-expired: JWT is expired/,
    );
    assert.ok(!rig.lines.join("\n").includes(expired), "the token is never logged");
    assert.equal(await storedProfile(rig.sql, id), undefined);
    assert.equal(rig.clerkCalls(), 0);
  });
});

Deno.test("clerk-profile-sync ignores the body: a body naming another user or carrying profile data changes nothing", async () => {
  await withRig({}, async (rig) => {
    const victim = await signedUp(rig, { first_name: "Victim" });
    const caller = await signedUp(rig, { first_name: "Caller" });
    const forged = JSON.stringify({
      user_id: victim.id,
      sub: victim.id,
      first_name: "Mallory",
      email: "mallory@evil.example",
      public_metadata: { role: "admin" },
      clerk_updated_at: "2999-01-01T00:00:00Z",
    });
    const res = await rig.handle(rig.request(caller.token, {
      headers: { "content-type": "application/json" },
      body: forged,
    }));
    assert.equal(res.status, 200);
    const answer = await body(res);
    const profile = answer.profile as Record<string, unknown>;
    assert.equal(profile.user_id, caller.id);
    assert.equal(profile.first_name, "Caller");
    assert.notEqual(profile.email, "mallory@evil.example");
    assert.deepEqual(profile.public_metadata, caller.user.public_metadata);
    assert.equal(await storedProfile(rig.sql, victim.id), undefined, "the named user is untouched");
    assert.equal(rig.clerkCalls(`/v1/users/${victim.id}`), 0);
    const row = await storedProfile(rig.sql, caller.id);
    assert.equal(row.first_name, "Caller");
    assert.equal(row.clerk_updated_at.getTime(), caller.user.updated_at);
  });
});

Deno.test("clerk-profile-sync: another user's token never touches this user's row", async () => {
  await withRig({}, async (rig) => {
    const owner = await signedUp(rig, { first_name: "Owner" });
    await (await rig.handle(rig.request(owner.token))).body?.cancel();
    const before = await storedProfile(rig.sql, owner.id);
    const other = await signedUp(rig, { first_name: "Other" });
    const res = await rig.handle(
      rig.request(other.token, { body: JSON.stringify({ user_id: owner.id }) }),
    );
    assert.equal(((await body(res)).profile as { user_id: string }).user_id, other.id);
    assert.deepEqual(await storedProfile(rig.sql, owner.id), before);
  });
});

Deno.test("clerk-profile-sync escapes control characters in every value of its log lines", async () => {
  await withRig({ allowedOrigins: ["https://app.example.com"] }, async (rig) => {
    const forgedId = "user_ps\nSuccessfully synced profile for user user_admin";
    const res = await rig.handle(rig.request(await rig.token(forgedId)));
    assert.equal(res.status, 410, "Clerk has no such user");
    await rig.handle(
      new Request("http://function.test/", {
        method: "POST",
        headers: { origin: "https://evil.example\u001b[31m" },
      }),
    );
    for (const line of rig.lines) {
      // deno-lint-ignore no-control-regex -- control characters are what must be absent
      assert.doesNotMatch(line, /[\n\r\u001b]/, line);
    }
    assert.equal(
      rig.lines[0],
      "Profile sync requested by user_ps\\nSuccessfully synced profile for user user_admin",
    );
    assert.equal(
      rig.lines.at(-1),
      "Rejected profile sync (403): origin https://evil.example\\u001b[31m is not allowed",
    );
  });
});
