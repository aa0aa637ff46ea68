// End to end at the HTTP edge of the real function: what arrives that is not a usable Clerk
// delivery gets the status table's answer, and no row changes. Requests that fetch cannot send
// (a header line twice, a body that stops) go over a raw TCP connection.
import assert from "node:assert/strict";
import { clerkEvent, clerkId, clerkUserPayload, svixHeaders } from "../support/clerk_payloads.ts";
import { startLocalStack } from "../support/local_stack.ts";
import { deliver, post, runId, snapshot, userDelivery, withSql } from "./support.ts";

const KIB = 1024;
const encoder = new TextEncoder();

/** What a raw HTTP/1.1 exchange returned. */
interface RawAnswer {
  status: number;
  text: string;
}

/**
 * Sends `head` (the request line and header lines, without the blank line) and `body` over a new
 * TCP connection and reads one response; the connection is closed afterwards either way.
 */
async function rawHttp(url: string, head: string[], body = new Uint8Array()): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    await conn.write(encoder.encode(`${head.join("\r\n")}\r\n\r\n`));
    if (body.byteLength > 0) await conn.write(body);
    let received = new Uint8Array();
    const buffer = new Uint8Array(16 * KIB);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      received = new Uint8Array([...received, ...buffer.subarray(0, n)]);
      const text = new TextDecoder().decode(received);
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) continue;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      if (received.byteLength >= end + 4 + length) break;
    }
    const text = new TextDecoder().decode(received);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    return { status, text: text.slice(text.indexOf("\r\n\r\n") + 4) };
  } finally {
    conn.close();
  }
}

/** The request line and headers of a POST to `url` with the given header lines. */
function requestHead(url: string, headers: string[]): string[] {
  const { host, pathname } = new URL(url);
  return [`POST ${pathname} HTTP/1.1`, `host: ${host}`, ...headers];
}

function headerLines(headers: Record<string, string>): string[] {
  return Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
}

Deno.test("local stack: bad input at the HTTP edge gets 400/401/405/408/413/422 and changes no row", async (t) => {
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

      // Started first, answered at the end: the function waits 10 s for the rest of the body.
      const stalledHead = requestHead(url, [
        ...headerLines(svixHeaders(secret, update.body)),
        `content-length: ${encoder.encode(update.body).byteLength}`,
      ]);
      const stalled = rawHttp(url, stalledHead, encoder.encode(update.body).subarray(0, -1));

      await t.step("GET: 405 with Allow: POST", async () => {
        const response = await fetch(url);
        await response.body?.cancel();
        assert.equal(response.status, 405);
        assert.equal(response.headers.get("allow"), "POST");
      });

      await t.step("a validly signed body over 256 KiB: 413 (declared length)", async () => {
        const user = clerkUserPayload({
          id: userId,
          updatedAt: Date.now(),
          publicMetadata: { padding: "x".repeat(256 * KIB) },
        });
        const body = JSON.stringify(clerkEvent("user.updated", user, Date.now()));
        // Refused unread: like the streamed one below, on a connection of its own.
        const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
        try {
          const answer = await post(url, { headers: svixHeaders(secret, body), body, client });
          assert.equal(answer.status, 413, answer.text);
          assert.deepEqual(answer.body, { error: "body exceeds 262144 bytes" });
        } finally {
          client.close();
        }
      });

      await t.step(
        "a declared length over 256 KiB: 413 before a byte of the body is sent",
        async () => {
          const head = requestHead(url, [
            ...headerLines(svixHeaders(secret, "unused")),
            `content-length: ${1024 * KIB}`,
          ]);
          const answer = await rawHttp(url, head);
          assert.equal(answer.status, 413, answer.text);
        },
      );

      await t.step("a body over 256 KiB streamed without Content-Length: 413", async () => {
        let sent = 0;
        const chunk = encoder.encode("x".repeat(64 * KIB));
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent > 1024 * KIB) return controller.close();
            sent += chunk.byteLength;
            controller.enqueue(chunk);
          },
        });
        const headers = svixHeaders(secret, "unused");
        // Answered before the body ends, the connection cannot carry another request: a client
        // of its own keeps it out of the pool the next steps' requests are sent through.
        const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
        try {
          const answer = await post(url, { headers, body, client });
          assert.equal(answer.status, 413, answer.text);
        } finally {
          client.close();
        }
      });

      await t.step("binary garbage with svix headers: 400 (not UTF-8)", async () => {
        const garbage = crypto.getRandomValues(new Uint8Array(4096));
        garbage[0] = 0xff; // never valid in UTF-8, so never a byte order mark either
        const headers = {
          ...svixHeaders(secret, "something else"),
          "content-type": "application/octet-stream",
        };
        const answer = await post(url, { headers, body: garbage });
        assert.equal(answer.status, 400, answer.text);
        assert.deepEqual(answer.body, { error: "body is not valid UTF-8" });
      });

      await t.step("the signed body behind a byte order mark: 400", async () => {
        const body = new Uint8Array([0xef, 0xbb, 0xbf, ...encoder.encode(update.body)]);
        const answer = await post(url, { headers: svixHeaders(secret, update.body), body });
        assert.equal(answer.status, 400, answer.text);
        assert.deepEqual(answer.body, { error: "body starts with a byte order mark" });
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
        assert.match(expired.text, /timestamp outside the 5-minute tolerance/);
      });

      await t.step("12,000 signatures in svix-signature: 400", async () => {
        const headers = svixHeaders(secret, update.body);
        headers["svix-signature"] += ` ${Array(12_000).fill("v1,x").join(" ")}`;
        const answer = await post(url, { headers, body: update.body });
        assert.equal(answer.status, 400, answer.text);
        assert.deepEqual(answer.body, {
          error: "svix-signature header is longer than 1024 bytes",
        });
      });

      await t.step("six signatures, one of them right: 400", async () => {
        const headers = svixHeaders(secret, update.body);
        const others = Array.from({ length: 5 }, (_, i) => `v1,${btoa(`not-it-${i}`)}`);
        headers["svix-signature"] = [...others, headers["svix-signature"]].join(" ");
        const answer = await post(url, { headers, body: update.body });
        assert.equal(answer.status, 400, answer.text);
        assert.deepEqual(answer.body, {
          error: "svix-signature header has more than 5 signatures",
        });
      });

      await t.step("a signed svix-timestamp with junk after it: 400", async () => {
        const headers = svixHeaders(secret, update.body);
        headers["svix-timestamp"] += "junk";
        const answer = await post(url, { headers, body: update.body });
        assert.equal(answer.status, 400, answer.text);
        assert.match(answer.text, /svix-timestamp header is malformed or repeated/);
      });

      await t.step("a svix header sent twice: 400", async () => {
        const headers = svixHeaders(secret, update.body);
        for (const name of ["svix-id", "svix-timestamp", "svix-signature"]) {
          const lines = headerLines(headers);
          lines.push(`${name}: ${headers[name]}`); // Deno.serve joins the two: "<v>, <v>"
          lines.push(`content-length: ${encoder.encode(update.body).byteLength}`);
          const answer = await rawHttp(url, requestHead(url, lines), encoder.encode(update.body));
          assert.equal(answer.status, 400, `${name}: ${answer.text}`);
          assert.match(answer.text, new RegExp(`${name} header is malformed or repeated`));
        }
      });

      await t.step("a svix-id over 255 characters: 400", async () => {
        const msgId = `msg_${"a".repeat(252)}`;
        const headers = svixHeaders(secret, update.body, { msgId });
        const answer = await post(url, { headers, body: update.body });
        assert.equal(answer.status, 400, answer.text);
        assert.deepEqual(answer.body, { error: "svix-id header is longer than 255 characters" });
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

      await t.step(
        "a signed updated_at PostgreSQL cannot store: 422, logged with the field",
        async () => {
          const user = clerkUserPayload({ id: userId, updatedAt: 8.64e15 });
          const body = JSON.stringify(clerkEvent("user.updated", user, Date.now()));
          const answer = await post(url, { headers: svixHeaders(secret, body), body });
          assert.equal(answer.status, 422, answer.text);
          await stack.waitForLog(
            new RegExp(
              `^Rejected webhook user\\.updated for user ${userId} \\(422\\): ` +
                "data\\.updated_at is not a valid timestamp",
            ),
          );
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

      await t.step("a body that stops one byte short: 408 after the 10 s deadline", async () => {
        const answer = await stalled;
        assert.equal(answer.status, 408, answer.text);
        assert.match(answer.text, /body not received within 10000 ms/);
      });

      await t.step("no row, delivery log entry or tombstone changed", async () => {
        assert.deepEqual(await snapshot(sql, prefix), before);
      });

      await t.step("the same update, signed properly, still applies", async () => {
        const answer = await deliver(stack, update);
        assert.equal(answer.status, 200, answer.text);
        assert.equal(answer.body.status, "applied");
      });

      await t.step("a name that forges a log line is logged escaped, stored as sent", async () => {
        const forged = `${prefix}_b`;
        const name = "Eve\nSuccessfully synced profile for user user_admin\u001b[31m";
        const user = clerkUserPayload({ id: forged, updatedAt: Date.now(), firstName: name });
        const body = JSON.stringify(clerkEvent("user.created", user, Date.now()));
        const answer = await post(url, { headers: svixHeaders(secret, body), body });
        assert.equal(answer.status, 200, answer.text);
        await stack.waitForLog(new RegExp(`^Successfully synced profile for user ${forged}$`));
        assert.ok(stack.logs.some((line) => line.includes("(Eve\\nSuccessfully synced")));
        assert.ok(
          !stack.logs.some((line) =>
            line.startsWith("Successfully synced profile for user user_admin")
          ),
        );
        assert.ok(!stack.logs.some((line) => line.includes("\u001b")));
        const [row] = await sql`select first_name from public.profiles where user_id = ${forged}`;
        assert.equal(row.first_name, name);
      });
    });
  } finally {
    await stack.close();
  }
});
