// End to end under faults: the database going away mid-run, a database call slower than Svix
// waits, and a service key the API refuses. The function answers 503 (retry later) or 500, never
// hangs, writes nothing half-way, and the retried deliveries apply once the fault is gone.
import assert from "node:assert/strict";
import postgres from "postgres";
import { clerkId } from "../support/clerk_payloads.ts";
import { signJwt } from "../support/jwt.ts";
import { type LocalStack, startLocalStack } from "../support/local_stack.ts";
import {
  type Answer,
  deliver,
  type Delivery,
  expectedRow,
  mapConcurrent,
  runId,
  snapshot,
  userDelivery,
  withSql,
} from "./support.ts";

// Svix waits this long for an answer before it counts the attempt as failed.
const SVIX_TIMEOUT_MS = 15_000;

/** Delivers with a client-side limit, so a hang fails the test instead of stalling it. */
async function deliverWithin(stack: LocalStack, delivery: Delivery): Promise<Answer> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("no answer within 15 s")), SVIX_TIMEOUT_MS);
  });
  try {
    return await Promise.race([deliver(stack, delivery), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("local stack: the database stopped mid-run gets 503s, nothing half-written, nothing lost", async (t) => {
  const stack = await startLocalStack();
  const prefix = `user_down${runId()}`;
  try {
    await t.step(
      "deliveries while the database is down: 503 at once, nothing written",
      async () => {
        const base = Date.now() - 60_000;
        const users = Array.from({ length: 5 }, (_, i) => `${prefix}_p${i}`);
        for (const userId of users) {
          const answer = await deliver(
            stack,
            userDelivery("user.created", userId, base, clerkId("msg")),
          );
          assert.equal(answer.status, 200, answer.text);
        }
        const before = await withSql(stack.databaseUrl, (sql) => snapshot(sql, prefix));
        const pending = [
          ...users.map((u) => userDelivery("user.updated", u, base + 1000, clerkId("msg"))),
          ...users.map((_, i) =>
            userDelivery("user.created", `${prefix}_n${i}`, base + 1000, clerkId("msg"))
          ),
          userDelivery("user.deleted", users[0], base + 2000, clerkId("msg")),
        ];

        await stack.cluster.stop();
        const down = await mapConcurrent(pending, 4, (d) => deliverWithin(stack, d));
        for (const answer of down) {
          assert.equal(answer.status, 503, answer.text);
          assert.deepEqual(answer.body, { error: "database unavailable" });
          assert.ok(answer.ms < 5000, `503 took ${answer.ms} ms`);
        }
        await stack.waitForLog(
          /Failed to sync user\.\w+ for user \S+ \(503\): database unavailable/,
        );
        await stack.cluster.start();

        await withSql(stack.databaseUrl, async (sql) => {
          assert.deepEqual(await snapshot(sql, prefix), before, "nothing was written");
          // Svix retries the same messages: every one applies now.
          const retried = await mapConcurrent(pending, 1, (d) => deliverWithin(stack, d));
          assert.deepEqual(
            retried.map((a) => [a.status, a.body.status]),
            [...Array(10).fill([200, "applied"]), [200, "deleted"]],
          );
          const after = await snapshot(sql, prefix);
          assert.deepEqual(after.profiles, pending.slice(1, 10).map(expectedRow).sort(byUser));
          assert.equal(after.events.length, 5 + pending.length);
        });
      },
    );

    await t.step(
      "the database stopped while deliveries are in flight: 200 or 503, consistent, replay completes",
      async () => {
        const base = Date.now() - 30_000;
        const deliveries: Delivery[] = [];
        for (let u = 0; u < 40; u++) {
          const userId = `${prefix}_m${String(u).padStart(2, "0")}`;
          deliveries.push(userDelivery("user.created", userId, base, clerkId("msg"), "c"));
          deliveries.push(userDelivery("user.updated", userId, base + 1000, clerkId("msg"), "u"));
        }
        // Two users' calls are stuck inside the database (their lock is held elsewhere) when it
        // stops: those transactions are killed half-way through.
        const stuck = [`${prefix}_m00`, `${prefix}_m01`];
        const locker = postgres(stack.databaseUrl, { max: 1, onnotice: () => {} });
        const held = await locker.reserve();
        await held`begin`;
        await held`select clerk_sync.lock_users(${stuck}::text[])`;
        let answered = 0;
        let stopping: Promise<void> | undefined;
        const answers = await mapConcurrent(deliveries, 8, async (delivery) => {
          // Once the stop has begun, later deliveries wait for it: they meet a database that is
          // down, while the ones in flight meet it going down.
          if (stopping) await stopping;
          const answer = await deliverWithin(stack, delivery);
          if (++answered === 20) stopping = stack.cluster.stop();
          return answer;
        });
        await stopping;
        await locker.end({ timeout: 1 }).catch(() => {});
        const statuses = new Set(answers.map((a) => a.status));
        assert.ok([...statuses].every((s) => s === 200 || s === 503), [...statuses].join(","));
        assert.ok(answers.filter((a) => a.status === 503).length >= 40, "the rest met it down");
        assert.ok(answers.every((a) => a.ms < 5000), "every answer came at once");
        deliveries.forEach((d, i) => {
          if (stuck.includes(d.userId)) assert.equal(answers[i].status, 503, "killed in flight");
        });
        await stack.cluster.start();

        await withSql(stack.databaseUrl, async (sql) => {
          const mid = `${prefix}_m`;
          const state = await snapshot(sql, mid);
          const recorded = new Set(state.events.map((e) => e.svix_id));
          // A 200 was committed; a 503 may or may not have been (the answer can be lost).
          deliveries.forEach((d, i) => {
            if (answers[i].status === 200) assert.ok(recorded.has(d.msgId), d.msgId);
          });
          // Nothing half-way: each user's row is exactly the newest of its recorded events.
          const rows = new Map<string, Delivery>();
          for (const d of deliveries) {
            const current = rows.get(d.userId);
            if (recorded.has(d.msgId) && (!current || current.at < d.at)) rows.set(d.userId, d);
          }
          assert.deepEqual(state.profiles, [...rows.values()].map(expectedRow).sort(byUser));

          // Svix retries every delivery that did not get a 2xx: all of them succeed now.
          const failed = deliveries.filter((_, i) => answers[i].status !== 200);
          const retried = await mapConcurrent(failed, 8, (d) => deliverWithin(stack, d));
          assert.ok(retried.every((a) => a.status === 200), JSON.stringify(retried));
          const final = await snapshot(sql, mid);
          assert.equal(final.events.length, deliveries.length, "every delivery recorded once");
          assert.deepEqual(
            final.profiles,
            deliveries.filter((d) => d.type === "user.updated").map(expectedRow).sort(byUser),
          );
        });
      },
    );
  } finally {
    await stack.close();
  }
});

Deno.test("local stack: a slow database call gets 503 in time, and a refused service key gets 500", async (t) => {
  const stack = await startLocalStack();
  const prefix = `user_slow${runId()}`;
  try {
    await withSql(stack.databaseUrl, async (sql) => {
      await t.step(
        "a call blocked for over 10 s: 503 at 8 s, cancelled by the server and rolled back; the retry applies",
        async () => {
          assert.equal(stack.functionEnv.SYNC_DB_TIMEOUT_MS, undefined, "the default timeout");
          const userId = `${prefix}_x`;
          const delivery = userDelivery("user.created", userId, Date.now(), clerkId("msg"));
          // Hold the user's lock from another session: sync_clerk_user waits for it.
          const holder = await sql.reserve();
          try {
            await holder`begin`;
            await holder`select clerk_sync.lock_users(array[${userId}::text])`;
            const started = Date.now();
            const answer = await deliverWithin(stack, delivery);
            assert.equal(answer.status, 503, answer.text);
            assert.deepEqual(answer.body, { error: "database unavailable" });
            assert.ok(answer.ms >= 7900 && answer.ms < 12_000, `answered after ${answer.ms} ms`);
            // The function's SYNC_DB_TIMEOUT_MS and the server's limit are both 8 s: whichever
            // ends the call first (authenticator's statement_timeout, which starts before the lock
            // wait's lock_timeout, so 57014), the answer is 503.
            await stack.waitForLog(
              new RegExp(
                `user ${userId} \\(503\\): (database call timed out after 8000 ms|` +
                  "database unavailable \\(HTTP 500, (57014|55P03): )",
              ),
            );
            // Keep the lock past 10 s, then let it go.
            await new Promise((resolve) => setTimeout(resolve, 10_500 - (Date.now() - started)));
          } finally {
            await holder`commit`;
            holder.release();
          }
          // On the platform the abandoned call does not run on: authenticator's statement_timeout
          // and lock_timeout (8 s; supabase/postgres migrations 20221028101028 and
          // 20231130133139) cancel it and its transaction rolls back. Had it waited for the lock,
          // it would have applied at 10.5 s and the retry would be a duplicate.
          for (let i = 0; i < 40; i++) {
            const [{ busy }] = await sql`
              select count(*)::int as busy from pg_stat_activity
               where application_name = 'postgrest-stand-in' and state <> 'idle'`;
            if (busy === 0) break;
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          const left = await snapshot(sql, userId);
          assert.deepEqual([left.profiles, left.events], [[], []], "nothing was written");
          const retry = await deliver(stack, delivery);
          assert.equal(retry.status, 200, retry.text);
          assert.equal(retry.body.status, "applied");
          assert.deepEqual((await snapshot(sql, userId)).profiles, [expectedRow(delivery)]);
        },
      );

      const otherProjectKey = await signJwt(
        { role: "service_role", iss: "supabase", exp: Math.floor(Date.now() / 1000) + 3600 },
        "another project's JWT secret, 32+ characters",
      );
      const unknownSecretKey = `sb_secret_${runId()}${runId()}`;
      const wrongKeys = [
        {
          name: "a service_role JWT signed with another project's secret",
          key: otherProjectKey,
          env: { SUPABASE_SERVICE_ROLE_KEY: otherProjectKey },
        },
        {
          name: "the anon key in SUPABASE_SERVICE_ROLE_KEY",
          key: stack.anonKey,
          env: { SUPABASE_SERVICE_ROLE_KEY: stack.anonKey },
        },
        {
          name: "an unknown sb_secret_ key in SUPABASE_SECRET_KEYS",
          key: unknownSecretKey,
          env: { SUPABASE_SECRET_KEYS: JSON.stringify({ default: unknownSecretKey }) },
        },
      ];
      for (const wrong of wrongKeys) {
        await t.step(
          `${wrong.name}: 500, a log line says the key was rejected, never the key`,
          async () => {
            await stack.stopFunction();
            const firstLine = stack.logs.length;
            await stack.startFunction(wrong.env);
            const userId = `${prefix}_k${firstLine}`;
            const answer = await deliver(
              stack,
              userDelivery("user.created", userId, Date.now(), clerkId("msg")),
            );
            assert.equal(answer.status, 500, answer.text);
            assert.deepEqual(answer.body, { error: "internal error" });
            const line = await stack.waitForLog(
              new RegExp(
                `Failed to sync user\\.created for user ${userId} \\(500\\): .*` +
                  "the service key was rejected",
              ),
            );
            assert.match(line, /SUPABASE_SERVICE_ROLE_KEY/);
            const written = [...stack.logs.slice(firstLine), answer.text].join("\n");
            for (
              const secret of [wrong.key, stack.serviceRoleKey, stack.secretKey, stack.jwtSecret]
            ) {
              assert.ok(!written.includes(secret), "a key appears in the logs or the answer");
            }
            assert.deepEqual((await snapshot(sql, userId)).events, []);
          },
        );
      }

      await t.step("the right sb_secret_ key in SUPABASE_SECRET_KEYS: 200", async () => {
        await stack.stopFunction();
        await stack.startFunction({
          SUPABASE_SECRET_KEYS: JSON.stringify({ default: stack.secretKey }),
        });
        await stack.waitForLog(/service key from SUPABASE_SECRET_KEYS/);
        const delivery = userDelivery("user.created", `${prefix}_ok`, Date.now(), clerkId("msg"));
        const answer = await deliver(stack, delivery);
        assert.equal(answer.status, 200, answer.text);
        assert.equal(answer.body.status, "applied");
      });
    });
  } finally {
    await stack.close();
  }
});

function byUser(a: { user_id: string }, b: { user_id: string }): number {
  return a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0;
}
