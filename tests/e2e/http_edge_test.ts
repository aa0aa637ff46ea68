// End to end at the HTTP edge of the real function: what arrives that is not a usable Clerk
// delivery gets the status table's answer, and no row changes.
import assert from "node:assert/strict";
import { clerkEvent, clerkId, clerkUserPayload, svixHeaders } from "../support/clerk_payloads.ts";
import { startLocalStack } from "../support/local_stack.ts";
import { deliver, post, runId, snapshot, userDelivery, withSql } from "./support.ts";

const MIB = 1024 * 1024;

Deno.test("local stack: bad input at the HTTP edge gets 405/413/401/422/400 and changes no row", async (t) => {
  const stack = await startLocalStack();
  const prefix = `user_edge${runId()}`;
  const userId = `${prefix}_a`;
  const url = stack.functionUrl;
  const secret = stack.webhookSecret;
  // A newer update of the stored user: had any bad request been applied, the row would change.
  const update = userDelivery("user.updated", userId, Date.now(), clerkId("msg"), "newer");
  try {
    await withSql(stack.databaseUrl, async (sql) => {
      const created = userDelivery("user.created", userId, Date.now() - 60_000, clerkId("msg"));
      assert.equal((await deliver(stack, created)).status, 200);
      const before = await snapshot(sql, prefix);

      await t.step("GET: 405 with Allow: POST", async () => {
        const response = await fetch(url);
        await response.body?.cancel();
        assert.equal(response.status, 405);
        assert.equal(response.headers.get("allow"), "POST");
      });

      await t.step("a validly signed body over 1 MiB: 413 (declared length)", async () => {
        const user = clerkUserPayload({
          id: userId,
          updatedAt: Date.now(),
          publicMetadata: { padding: "x".repeat(MIB) },
        });
        const body = JSON.stringify(clerkEvent("user.updated", user, Date.now()));
        const answer = await post(url, { headers: svixHeaders(secret, body), body });
        assert.equal(answer.status, 413, answer.text);
      });

      await t.step("a body over 1 MiB streamed without Content-Length: 413", async () => {
        let sent = 0;
        const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent > 2 * MIB) return controller.close();
            sent += chunk.byteLength;
            controller.enqueue(chunk);
          },
        });
        const headers = svixHeaders(secret, "unused");
        const answer = await post(url, { headers, body });
        assert.equal(answer.status, 413, answer.text);
      });

      await t.step("binary garbage with svix headers: 401", async () => {
        const garbage = crypto.getRandomValues(new Uint8Array(4096));
        const headers = {
          ...svixHeaders(secret, "something else"),
          "content-type": "application/octet-stream",
        };
        const answer = await post(url, { headers, body: garbage });
        assert.equal(answer.status, 401, answer.text);
      });

      await t.step("a wrong secret or an expired timestamp: 401", async () => {
        const other = "whsec_" + btoa("another endpoint's secret!");
        const wrong = await post(url, {
          headers: svixHeaders(other, update.body),
          body: update.body,
        });
        assert.equal(wrong.status, 401, wrong.text);
        const old = new Date(Date.now() - 10 * 60_000);
        const headers = svixHeaders(secret, update.body, { timestamp: old });
        const expired = await post(url, { headers, body: update.body });
        assert.equal(expired.status, 401, expired.text);
        assert.match(expired.text, /timestamp/);
      });

      await t.step(
        "a valid signature on invalid JSON or on an event without data.id: 422",
        async () => {
          for (const body of ["{not json", '{"type":"user.updated","data":{"first_name":"x"}}']) {
            const answer = await post(url, { headers: svixHeaders(secret, body), body });
            assert.equal(answer.status, 422, `${body}: ${answer.text}`);
          }
        },
      );

      await t.step("svix headers with empty or blank values: 400", async () => {
        for (const name of ["svix-id", "svix-timestamp", "svix-signature"]) {
          for (const value of ["", "   "]) {
            const headers = svixHeaders(secret, update.body, { headers: { [name]: value } });
            const answer = await post(url, { headers, body: update.body });
            assert.equal(answer.status, 400, `${name}="${value}": ${answer.text}`);
            assert.match(answer.text, new RegExp(name));
          }
        }
        const none = await post(url, {
          headers: { "content-type": "application/json" },
          body: update.body,
        });
        assert.equal(none.status, 400, none.text);
      });

      await t.step("no row, delivery log entry or tombstone changed", async () => {
        assert.deepEqual(await snapshot(sql, prefix), before);
      });

      await t.step("the same update, signed properly, still applies", async () => {
        const answer = await deliver(stack, update);
        assert.equal(answer.status, 200, answer.text);
        assert.equal(answer.body.status, "applied");
      });
    });
  } finally {
    await stack.close();
  }
});
