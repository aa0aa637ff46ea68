// End to end over the real entrypoint: `npm run send`, every delivery order, concurrent
// redeliveries and a shuffled load, sent over HTTP to the function process and read back with
// SQL from the throwaway database behind the PostgREST stand-in.
import assert from "node:assert/strict";
import { clerkId } from "../support/clerk_payloads.ts";
import { startLocalStack } from "../support/local_stack.ts";
import {
  deliver,
  type Delivery,
  expectedRow,
  mapConcurrent,
  runId,
  shuffled,
  snapshot,
  userDelivery,
  withSql,
} from "./support.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest])
  );
}

// What sync_clerk_user answers for each delivery of a sequence: deletion wins, newer wins.
function expectedOutcomes(sequence: readonly Delivery[]): string[] {
  let deleted = false;
  let stored: number | null = null;
  return sequence.map((d) => {
    if (d.type === "user.deleted") {
      deleted = true;
      return "deleted";
    }
    if (deleted || (stored !== null && d.at <= stored)) return "stale";
    stored = d.at;
    return "applied";
  });
}

Deno.test("local stack: the real function syncs users end to end, in any order and under load", async (t) => {
  const stack = await startLocalStack();
  const run = runId();
  const prefix = `user_e2e${run}`;
  try {
    await withSql(stack.databaseUrl, async (sql) => {
      await t.step(
        "npm run send -- user.created logs the guide's three lines and writes the row",
        async () => {
          const userId = `${prefix}_send`;
          const output = await new Deno.Command(Deno.execPath(), {
            args: ["run", "-A", "--frozen", "scripts/send.ts", "user.created", "--user-id", userId],
            cwd: ROOT,
            env: {
              FUNCTION_URL: stack.functionUrl,
              CLERK_WEBHOOK_SECRET: stack.webhookSecret,
              CLERK_SYNC_DEV_STATE: `${ROOT}supabase/.temp/no-such-dev-state-${run}.env`,
            },
            stdout: "piped",
            stderr: "piped",
          }).output();
          const stdout = new TextDecoder().decode(output.stdout);
          assert.equal(output.code, 0, stdout + new TextDecoder().decode(output.stderr));
          assert.match(stdout, /^200 OK$/m);
          assert.match(stdout, new RegExp(`"status":"applied","user_id":"${userId}"`));

          await stack.waitForLog(
            new RegExp(`^Webhook received: user\\.created for user: ${userId}$`),
          );
          await stack.waitForLog(
            new RegExp(`^Syncing profile for ${userId} \\(Example Example\\)$`),
          );
          await stack.waitForLog(new RegExp(`^Successfully synced profile for user ${userId}$`));
          const rows = await sql`
          select email, first_name, last_name from public.profiles where user_id = ${userId}`;
          assert.deepEqual(rows.map((r) => ({ ...r })), [
            { email: "example@example.org", first_name: "Example", last_name: "Example" },
          ]);
        },
      );

      const base = Date.now() - 60_000;
      const kinds = [
        {
          name: "created, updated, deleted in all 6 orders: deleted stays deleted",
          types: ["created", "updated", "deleted"],
        },
        {
          name: "created, updated, updated in all 6 orders: the newest state wins",
          types: ["created", "updated", "updated"],
        },
      ] as const;
      for (const kind of kinds) {
        await t.step(
          kind.name,
          async () => {
            const orders = permutations([0, 1, 2]);
            assert.equal(orders.length, 6);
            for (const [n, order] of orders.entries()) {
              const userId = `${prefix}_${kind.types[2]}${n}`;
              const events = kind.types.map((type, i) =>
                userDelivery(`user.${type}`, userId, base + i * 1000, clerkId("msg"), `v${i}`)
              );
              const sequence = order.map((i) => events[i]);
              const outcomes = [];
              for (const delivery of sequence) {
                const answer = await deliver(stack, delivery);
                assert.equal(answer.status, 200, answer.text);
                outcomes.push(answer.body.status);
              }
              const label = `order ${order.join(",")}`;
              assert.deepEqual(outcomes, expectedOutcomes(sequence), label);

              const state = await snapshot(sql, userId);
              assert.equal(state.events.length, 3, label);
              if (kind.types[2] === "deleted") {
                assert.deepEqual(state.profiles, [], label);
                assert.deepEqual(state.tombstones, [{ user_id: userId, deleted_ms: events[2].at }]);
              } else {
                assert.deepEqual(state.profiles, [expectedRow(events[2])], label);
                assert.deepEqual(state.tombstones, [], label);
              }
            }
          },
        );
      }

      await t.step(
        "20 concurrent deliveries of one svix-id: one applied, 19 duplicate, one event row",
        async () => {
          const userId = `${prefix}_dup`;
          const delivery = userDelivery("user.created", userId, Date.now(), clerkId("msg"));
          const answers = await Promise.all(
            Array.from({ length: 20 }, () => deliver(stack, delivery)),
          );
          assert.deepEqual(answers.map((a) => a.status), Array(20).fill(200));
          const statuses = answers.map((a) => String(a.body.status)).sort();
          assert.deepEqual(statuses, ["applied", ...Array(19).fill("duplicate")]);
          const state = await snapshot(sql, userId);
          assert.deepEqual(state.events, [{
            svix_id: delivery.msgId,
            event_type: "user.created",
            user_id: userId,
            outcome: "applied",
          }]);
          assert.deepEqual(state.profiles, [expectedRow(delivery)]);
        },
      );

      await t.step(
        "500 events for 50 users, shuffled, at concurrency 16: the table is the newest state",
        async () => {
          const loadPrefix = `${prefix}_load`;
          const start = Date.now() - 3_600_000;
          const all: Delivery[] = [];
          const newest = new Map<string, Delivery>();
          for (let u = 0; u < 50; u++) {
            const userId = `${loadPrefix}${String(u).padStart(2, "0")}`;
            // Every fifth user is deleted at the end; the others get a tenth update.
            for (let i = 0; i < 10; i++) {
              const type = i === 0
                ? "user.created"
                : i === 9 && u % 5 === 0
                ? "user.deleted"
                : "user.updated";
              const delivery = userDelivery(type, userId, start + i * 1000 + u, clerkId("msg"));
              all.push(delivery);
              newest.set(userId, delivery);
            }
          }
          const seed = Number(Deno.env.get("E2E_SEED") ?? Math.floor(Math.random() * 2 ** 31));
          const label = `seed ${seed} (rerun with E2E_SEED=${seed})`;
          const order = shuffled(all, seed);
          const answers = await mapConcurrent(order, 16, (delivery) => deliver(stack, delivery));

          const errors = answers.filter((a) => a.status !== 200);
          assert.deepEqual(errors, [], label);
          const counts: Record<string, number> = {};
          for (const a of answers) {
            counts[String(a.body.status)] = (counts[String(a.body.status)] ?? 0) + 1;
          }
          assert.equal(counts.duplicate ?? 0, 0, label);
          assert.equal(counts.deleted, 10, label);
          assert.equal((counts.applied ?? 0) + (counts.stale ?? 0), 490, label);

          const state = await snapshot(sql, loadPrefix);
          const live = [...newest.values()].filter((d) => d.type !== "user.deleted");
          const gone = [...newest.values()].filter((d) => d.type === "user.deleted");
          assert.deepEqual(state.profiles, live.map(expectedRow), label);
          assert.deepEqual(
            state.tombstones,
            gone.map((d) => ({ user_id: d.userId, deleted_ms: d.at })),
            label,
          );
          assert.equal(state.events.length, 500, label);
        },
      );
    });
  } finally {
    await stack.close();
  }
});
