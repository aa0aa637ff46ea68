// clerk-profile-sync under concurrency and with a misconfigured key pair: one Clerk call per
// user however many calls arrive at once (in both key modes), the instance check, and a webhook
// write racing a sync on visit. Over the rig's real chain (Clerk API stand-in, PostgREST
// stand-in, PostgreSQL).
import assert from "node:assert/strict";
import { type Rig, storedProfile, withRig } from "./support/profile_sync_rig.ts";

async function burst(rig: Rig, token: string, calls: number) {
  const answers = await Promise.all(
    Array.from({ length: calls }, () => rig.handle(rig.request(token))),
  );
  return await Promise.all(
    answers.map(async (res) => ({ status: res.status, body: await res.json() })),
  );
}

for (const mode of ["jwt-key", "secret-key"] as const) {
  Deno.test(`clerk-profile-sync (${mode}): 50 concurrent calls of one user make at most 2 Clerk API requests, and all get the profile`, async () => {
    await withRig({ mode }, async (rig) => {
      const id = rig.newUserId();
      rig.putUser(id);
      const answers = await burst(rig, await rig.token(id), 50);
      assert.deepEqual(answers.map((a) => a.status), Array(50).fill(200));
      for (const { body } of answers) {
        assert.ok(["applied", "recent"].includes(body.status), body.status);
        assert.equal(body.profile.user_id, id);
      }
      assert.ok(rig.clerkCalls() <= 2, `${rig.clerkCalls()} Clerk API requests`);
      assert.equal(rig.clerkCalls(`/v1/users/${id}`), 1);
      assert.equal(
        rig.lines.filter((l) => l === `Successfully synced profile for user ${id}`).length,
        1,
        "one write",
      );
      assert.ok(await storedProfile(rig.sql, id));
    });
  });
}

Deno.test("clerk-profile-sync: 50 concurrent calls while Clerk answers 429 make one Clerk request, all 503 with Retry-After", async () => {
  await withRig({}, async (rig) => {
    const id = rig.newUserId();
    rig.putUser(id);
    rig.clerk.injectFault({ path: `/v1/users/${id}`, status: 429, retryAfterSeconds: 4 });
    // A Clerk slow enough that every call arrives while the first one's request is in flight.
    rig.clerk.delayMs = 300;
    const token = await rig.token(id);
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => rig.handle(rig.request(token))),
    );
    assert.deepEqual(answers.map((r) => r.status), Array(50).fill(503));
    assert.deepEqual(answers.map((r) => r.headers.get("retry-after")), Array(50).fill("4"));
    await Promise.all(answers.map((r) => r.body?.cancel()));
    assert.equal(rig.clerkCalls(`/v1/users/${id}`), 1);
    // The failure is not kept: the next call asks again.
    rig.clerk.delayMs = 0;
    assert.equal((await rig.handle(rig.request(token))).status, 200);
  });
});

Deno.test("clerk-profile-sync: concurrent calls of different users each get their own profile", async () => {
  await withRig({}, async (rig) => {
    const ids = Array.from({ length: 5 }, () => rig.newUserId());
    ids.forEach((id) => rig.putUser(id));
    const answers = await Promise.all(
      ids.map(async (id) => await (await rig.handle(rig.request(await rig.token(id)))).json()),
    );
    assert.deepEqual(answers.map((a) => a.profile.user_id), ids);
    for (const id of ids) assert.equal(rig.clerkCalls(`/v1/users/${id}`), 1);
  });
});

Deno.test("clerk-profile-sync answers 500 when CLERK_JWT_KEY and CLERK_SECRET_KEY belong to different instances, names both, and keeps refusing", async () => {
  await withRig({ foreignJwtKey: true }, async (rig) => {
    const id = rig.newUserId();
    rig.putUser(id);
    // A token of the JWT key's instance: it verifies, but Clerk (the secret key's) knows no user.
    const { OTHER_INSTANCE_KEY } = await import("./support/profile_sync_rig.ts");
    const token = await rig.token(id, {}, OTHER_INSTANCE_KEY);
    const first = await rig.handle(rig.request(token));
    assert.equal(first.status, 500);
    assert.deepEqual(await first.json(), { error: "function is misconfigured" });
    const mismatch = rig.lines.filter((l) => l.includes("belong to different Clerk instances"));
    assert.equal(mismatch.length, 1);
    assert.match(
      mismatch[0],
      /^Failed to sync profile for user .+ \(500\): configuration error in CLERK_JWT_KEY and CLERK_SECRET_KEY: CLERK_JWT_KEY and CLERK_SECRET_KEY belong to different Clerk instances/,
    );
    const second = await rig.handle(rig.request(token));
    assert.equal(second.status, 500);
    await second.body?.cancel();
    assert.equal(rig.clerkCalls("/v1/jwks"), 1, "the verdict is kept for the isolate");
    assert.equal(rig.clerkCalls(`/v1/users/${id}`), 0, "never read as a deleted user");
    assert.equal(await storedProfile(rig.sql, id), undefined);
  });
});

Deno.test("clerk-profile-sync answers 503 when the instance check cannot reach Clerk, and checks again on the next request", async () => {
  await withRig({}, async (rig) => {
    const id = rig.newUserId();
    rig.putUser(id);
    rig.clerk.injectFault({ path: "/v1/jwks", status: 503 });
    const token = await rig.token(id);
    const first = await rig.handle(rig.request(token));
    assert.equal(first.status, 503);
    assert.deepEqual(await first.json(), { error: "Clerk unavailable" });
    assert.match(
      rig.lines.at(-1) ?? "",
      /\(503\): Clerk's Backend API failed \(GET \/v1\/jwks: 503 /,
    );
    const second = await rig.handle(rig.request(token));
    assert.equal(second.status, 200);
    assert.equal((await second.json()).status, "applied");
    assert.equal(rig.clerkCalls("/v1/jwks"), 2);
  });
});

Deno.test("clerk-profile-sync: a newer webhook write landing while Clerk answers is kept (unchanged), never undone", async () => {
  await withRig({}, async (rig) => {
    const id = rig.newUserId();
    const user = rig.putUser(id, { first_name: "FromClerk" });
    rig.clerk.onGetUser = async () => {
      await rig.sql`select public.sync_clerk_user(${"msg_race_" + id}, 'user.updated', ${id},
        ${new Date(user.updated_at + 5000).toISOString()},
        ${rig.sql.json({ first_name: "FromWebhook" })})`;
    };
    const res = await rig.handle(rig.request(await rig.token(id)));
    const answer = await res.json();
    assert.equal(answer.status, "unchanged");
    assert.equal(answer.profile.first_name, "FromWebhook");
    assert.equal((await storedProfile(rig.sql, id)).first_name, "FromWebhook");
  });
});
