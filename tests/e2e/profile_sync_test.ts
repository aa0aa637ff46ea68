// End to end over the real clerk-profile-sync entrypoint on the local stack: session tokens
// minted for the stack's Clerk API stand-in, POSTed over HTTP as a browser does, the answers and
// the rows read back with SQL, the webhook beside it. The sign-up race, tombstones, Clerk's 404
// and 429, keys of two Clerk instances, a reload storm in both key modes, and callers who try to
// reach another user's row.
import assert from "node:assert/strict";
import {
  clerkDeletedPayload,
  clerkEvent,
  clerkId,
  clerkUserPayload,
} from "../support/clerk_payloads.ts";
import { generateSigningKey, mintSessionToken } from "../support/clerk_session.ts";
import { EXAMPLE_USER_ID, type LocalStack, startLocalStack } from "../support/local_stack.ts";
import { type Answer, deliver, post, runId, snapshot, withSql } from "./support.ts";
import { startDev } from "./dev_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const decoder = new TextDecoder();

/** Asks clerk-profile-sync for the token's user, as supabase-js `functions.invoke` does. */
async function syncOnVisit(url: string, token: string, body = ""): Promise<Answer> {
  return await post(url, { headers: { authorization: `Bearer ${token}` }, body });
}

/** A Clerk user (the API's user object) whose names carry `version`. */
function clerkUser(id: string, updatedAt: number, version: string) {
  return clerkUserPayload({
    id,
    createdAt: 1_700_000_000_000,
    updatedAt,
    firstName: `First ${version}`,
    lastName: "Last",
    email: `${id.toLowerCase()}@example.com`,
  });
}

/** The stand-in's requests for one user's object. */
function userCalls(stack: LocalStack, userId: string): number {
  return stack.clerk!.requests.filter((r) => r.path === `/v1/users/${userId}`).length;
}

Deno.test("clerk-profile-sync on the local stack: sync on visit beside the webhook", async (t) => {
  const stack = await startLocalStack();
  const prefix = `user_visit${runId()}`;
  const clerk = stack.clerk!;
  const key = stack.clerkSigningKey!;
  const url = stack.profileSyncUrl;
  try {
    await withSql(stack.databaseUrl, async (sql) => {
      await t.step(
        "the sign-up race: the visit writes the row, the late webhook is stale",
        async () => {
          const userId = `${prefix}_race`;
          const signedUpAt = Date.now() - 5_000;
          const user = clerkUser(userId, signedUpAt, "v1");
          clerk.put(user);

          const visit = await syncOnVisit(url, await mintSessionToken(key, userId));
          assert.equal(visit.status, 200, visit.text);
          assert.equal(visit.body.status, "applied", visit.text);
          const profile = visit.body.profile as Record<string, unknown>;
          assert.equal(profile.user_id, userId);
          assert.equal(profile.first_name, "First v1");
          assert.equal(profile.email, `${userId.toLowerCase()}@example.com`);
          await stack.profileSync.waitForLog(new RegExp(`^Profile sync requested by ${userId}$`));
          await stack.profileSync.waitForLog(
            new RegExp(`^Successfully synced profile for user ${userId}$`),
          );
          const [row] = (await snapshot(sql, userId)).profiles;
          assert.equal(row.first_name, "First v1");
          assert.equal(row.clerk_updated_ms, signedUpAt);

          // Clerk's user.created delivery arrives afterwards with the same data: nothing to write.
          const created = {
            msgId: clerkId("msg"),
            body: JSON.stringify(clerkEvent("user.created", user, signedUpAt)),
          };
          const late = await deliver(stack, created);
          assert.equal(late.status, 200, late.text);
          assert.equal(late.body.status, "stale", late.text);

          // A newer user.updated applies, and the next visit (within the interval) reads it back.
          const updated = clerkUser(userId, signedUpAt + 1000, "v2");
          const update = await deliver(stack, {
            msgId: clerkId("msg"),
            body: JSON.stringify(clerkEvent("user.updated", updated, signedUpAt + 1000)),
          });
          assert.equal(update.body.status, "applied", update.text);
          const again = await syncOnVisit(url, await mintSessionToken(key, userId));
          assert.equal(again.status, 200, again.text);
          assert.equal(again.body.status, "recent", again.text);
          assert.equal((again.body.profile as Record<string, unknown>).first_name, "First v2");
          assert.equal(userCalls(stack, userId), 1, "Clerk asked once");
        },
      );

      await t.step(
        "a visit never undoes a newer webhook write: unchanged, the newer row kept",
        async () => {
          const userId = `${prefix}_newer`;
          const at = Date.now() - 10_000;
          clerk.put(clerkUser(userId, at, "old")); // what Clerk's API still answers
          const newer = clerkUser(userId, at + 2000, "new");
          const delivered = await deliver(stack, {
            msgId: clerkId("msg"),
            body: JSON.stringify(clerkEvent("user.updated", newer, at + 2000)),
          });
          assert.equal(delivered.body.status, "applied", delivered.text);

          const visit = await syncOnVisit(url, await mintSessionToken(key, userId));
          assert.equal(visit.status, 200, visit.text);
          assert.equal(visit.body.status, "unchanged", visit.text);
          assert.equal((visit.body.profile as Record<string, unknown>).first_name, "First new");
          const [row] = (await snapshot(sql, userId)).profiles;
          assert.equal(row.first_name, "First new");
          assert.equal(row.clerk_updated_ms, at + 2000);
        },
      );

      await t.step("a tombstoned user: 410, no row, Clerk not asked", async () => {
        const userId = `${prefix}_gone`;
        const at = Date.now() - 3_000;
        clerk.put(clerkUser(userId, at, "v1")); // the deletion has not reached the API
        const deleted = await deliver(stack, {
          msgId: clerkId("msg"),
          body: JSON.stringify(clerkEvent("user.deleted", clerkDeletedPayload(userId), at)),
        });
        assert.equal(deleted.body.status, "deleted", deleted.text);

        const visit = await syncOnVisit(url, await mintSessionToken(key, userId));
        assert.equal(visit.status, 410, visit.text);
        assert.deepEqual(visit.body, { status: "deleted" });
        const state = await snapshot(sql, userId);
        assert.deepEqual(state.profiles, []);
        assert.deepEqual(state.tombstones, [{ user_id: userId, deleted_ms: at }]);
        assert.equal(userCalls(stack, userId), 0);
      });

      await t.step(
        "Clerk answers 404: 410, nothing written, a log line naming the likely cause",
        async () => {
          const userId = `${prefix}_unknown`;
          const visit = await syncOnVisit(url, await mintSessionToken(key, userId));
          assert.equal(visit.status, 410, visit.text);
          assert.deepEqual(visit.body, { status: "deleted" });
          const state = await snapshot(sql, userId);
          assert.deepEqual(state, { profiles: [], events: [], tombstones: [] });
          assert.equal(userCalls(stack, userId), 1);
          const line = await stack.profileSync.waitForLog(
            new RegExp(`${userId}.*CLERK_SECRET_KEY`),
          );
          assert.doesNotMatch(line, new RegExp(clerk.secretKey));
        },
      );

      await t.step(
        "Clerk answers 429: 503 with Clerk's Retry-After, nothing written; then 200",
        async () => {
          const userId = `${prefix}_limited`;
          clerk.put(clerkUser(userId, Date.now() - 1000, "v1"));
          clerk.injectFault({ path: `/v1/users/${userId}`, status: 429, retryAfterSeconds: 7 });
          const token = await mintSessionToken(key, userId);
          const response = await fetch(url, {
            method: "POST",
            headers: { authorization: `Bearer ${token}` },
          });
          const text = await response.text();
          assert.equal(response.status, 503, text);
          assert.equal(response.headers.get("retry-after"), "7");
          assert.deepEqual((await snapshot(sql, userId)).profiles, []);

          const retried = await syncOnVisit(url, token);
          assert.equal(retried.status, 200, retried.text);
          assert.equal(retried.body.status, "applied", retried.text);
        },
      );

      await t.step(
        "another user's token, and whatever the body says, never touch this row",
        async () => {
          const owner = `${prefix}_owner`;
          const other = `${prefix}_other`;
          const at = Date.now() - 2000;
          clerk.put(clerkUser(owner, at, "owner"), clerkUser(other, at, "other"));
          const mine = await syncOnVisit(url, await mintSessionToken(key, owner));
          assert.equal(mine.body.status, "applied", mine.text);
          const before = await sql`select * from public.profiles where user_id = ${owner}`;

          const forged = JSON.stringify({
            user_id: owner,
            sub: owner,
            first_name: "Mallory",
            profile: { user_id: owner, first_name: "Mallory" },
          });
          const theirs = await syncOnVisit(url, await mintSessionToken(key, other), forged);
          assert.equal(theirs.status, 200, theirs.text);
          assert.equal((theirs.body.profile as Record<string, unknown>).user_id, other);
          assert.equal((theirs.body.profile as Record<string, unknown>).first_name, "First other");
          const after = await sql`select * from public.profiles where user_id = ${owner}`;
          assert.deepEqual(after.map((r) => ({ ...r })), before.map((r) => ({ ...r })));
          assert.equal(
            userCalls(stack, owner),
            1,
            "only the owner's own visit asked Clerk for them",
          );
        },
      );

      await t.step("50 concurrent visits of one user: at most 2 Clerk calls, all 200", async () => {
        const userId = `${prefix}_storm`;
        clerk.put(clerkUser(userId, Date.now() - 1000, "v1"));
        const token = await mintSessionToken(key, userId);
        const before = clerk.requests.length;
        const answers = await Promise.all(
          Array.from({ length: 50 }, () => syncOnVisit(url, token)),
        );
        assert.deepEqual(answers.map((a) => a.status), Array(50).fill(200));
        for (const answer of answers) {
          assert.equal((answer.body.profile as Record<string, unknown>).user_id, userId);
        }
        assert.ok(clerk.requests.length - before <= 2, `${clerk.requests.length - before} calls`);
        assert.equal((await snapshot(sql, userId)).profiles.length, 1);
      });

      await t.step(
        "only CLERK_SECRET_KEY (JWKS): 50 concurrent visits on a cold isolate, at most 2 Clerk calls",
        async () => {
          await stack.profileSync.stop();
          await stack.profileSync.start({ CLERK_JWT_KEY: undefined });
          const userId = `${prefix}_jwks`;
          clerk.put(clerkUser(userId, Date.now() - 1000, "v1"));
          const token = await mintSessionToken(key, userId);
          const before = clerk.requests.length;
          const answers = await Promise.all(
            Array.from({ length: 50 }, () => syncOnVisit(url, token)),
          );
          assert.deepEqual(answers.map((a) => a.status), Array(50).fill(200), answers[0].text);
          const calls = clerk.requests.slice(before).map((r) => r.path);
          assert.ok(calls.length <= 2, calls.join(", "));
          assert.ok(calls.includes("/v1/jwks"), calls.join(", "));
        },
      );

      await t.step(
        "keys of two Clerk instances: 500 and one line naming both variables, nothing written",
        async () => {
          const otherInstance = await generateSigningKey();
          await stack.profileSync.stop();
          await stack.profileSync.start({ CLERK_JWT_KEY: otherInstance.pem });
          const userId = `${prefix}_mixed`;
          clerk.put(clerkUser(userId, Date.now() - 1000, "v1"));
          // A token of the instance CLERK_JWT_KEY belongs to: it verifies, but the secret key's
          // instance (the stand-in's JWKS) does not hold that key.
          const token = await mintSessionToken(otherInstance, userId);
          for (let i = 0; i < 2; i++) {
            const answer = await syncOnVisit(url, token);
            assert.equal(answer.status, 500, answer.text);
            assert.doesNotMatch(answer.text, /BEGIN PUBLIC KEY|sk_test_/);
          }
          const line = await stack.profileSync.waitForLog(
            /CLERK_JWT_KEY.*CLERK_SECRET_KEY|CLERK_SECRET_KEY.*CLERK_JWT_KEY/,
          );
          assert.doesNotMatch(line, /BEGIN PUBLIC KEY|sk_test_/);
          assert.equal(userCalls(stack, userId), 0, "no user read with mismatched keys");
          assert.deepEqual((await snapshot(sql, userId)).profiles, []);
        },
      );
    });
  } finally {
    await stack.close();
  }
});

Deno.test("npm run dev serves clerk-profile-sync; npm run token + curl by hand syncs the example user", async () => {
  const dev = await startDev();
  try {
    const values = await dev.ready();
    assert.match(
      values.PROFILE_SYNC_URL,
      /^http:\/\/127\.0\.0\.1:\d+\/functions\/v1\/clerk-profile-sync$/,
    );
    assert.match(values.CLERK_API_URL, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(
      dev.stdout.some((l) => l.includes(`$(npm run -s token -- ${EXAMPLE_USER_ID})`)),
      dev.stdout.join("\n"),
    );
    // The private signing key is in the state file (mode 0600), never on the terminal.
    const state = await Deno.readTextFile(dev.statePath);
    assert.match(state, /^CLERK_SESSION_SIGNING_KEY=\{/m);
    assert.ok(![...dev.stdout, ...dev.stderr].some((l) => l.includes("privateJwk")));

    const token = await new Deno.Command("npm", {
      args: ["run", "-s", "token", "--", EXAMPLE_USER_ID],
      cwd: ROOT,
      env: { CLERK_SYNC_DEV_STATE: dev.statePath, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(token.code, 0, decoder.decode(token.stderr));
    const jwt = decoder.decode(token.stdout).trim();
    assert.match(jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/);

    const curl = await new Deno.Command("curl", {
      args: ["-sS", "-X", "POST", "-H", `Authorization: Bearer ${jwt}`, values.PROFILE_SYNC_URL],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const answer = JSON.parse(decoder.decode(curl.stdout));
    assert.equal(answer.status, "applied", decoder.decode(curl.stdout));
    assert.equal(answer.profile.user_id, EXAMPLE_USER_ID);
    assert.equal(`${answer.profile.first_name} ${answer.profile.last_name}`, "Example Example");
  } finally {
    await dev.dispose();
  }
});

Deno.test("npm run dev with a bad CLERK_SECRET_KEY in the environment fails fast, naming it", async () => {
  const bogus = "not-a-clerk-key-\u001b[2J";
  const dev = await startDev({ env: { CLERK_SECRET_KEY: bogus } });
  try {
    const status = await dev.status;
    const output = `stdout:\n${dev.stdout.join("\n")}\nstderr:\n${dev.stderr.join("\n")}`;
    assert.equal(status.code, 1, output);
    const refusal = dev.stderr.find((l) =>
      l.startsWith("dev: clerk-profile-sync refused its configuration: CLERK_SECRET_KEY ")
    );
    assert.ok(refusal, output);
    assert.match(refusal, /CLERK_SECRET_KEY comes from your environment/);
    assert.ok(!output.includes("not-a-clerk-key"), "the value is not echoed");
    assert.ok(!dev.stdout.some((l) => l.startsWith("PROFILE_SYNC_URL=")), output);
    assert.deepEqual(dev.postgresPids(), [], output);
    await assert.rejects(Deno.stat(dev.statePath), Deno.errors.NotFound);
  } finally {
    await dev.dispose();
  }
});
