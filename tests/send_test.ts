// scripts/send.ts: it posts only to this machine unless --allow-remote says otherwise (a made-up
// event signed with the real secret is genuine to a deployed function), and what it prints from
// outside (the answer, the arguments) has its control characters escaped.
import assert from "node:assert/strict";
import { generateWebhookSecret } from "./support/local_stack.ts";
import { runSend } from "./e2e/dev_process.ts";
import { isLoopbackUrl, remoteEffect } from "../scripts/send.ts";

/** A server on every interface that counts the requests it gets and answers with `body`. */
function countingServer(body: string) {
  const received: string[] = [];
  const server = Deno.serve({ hostname: "0.0.0.0", port: 0, onListen: () => {} }, async (req) => {
    received.push(await req.text());
    return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
  });
  return { received, port: server.addr.port, close: () => server.shutdown() };
}

// An address of this machine that is not loopback: a remote URL the test can still watch.
function externalAddress(): string | undefined {
  return Deno.networkInterfaces().find((i) => i.family === "IPv4" && !i.address.startsWith("127."))
    ?.address;
}

const env = (extra: Record<string, string> = {}) => ({
  CLERK_WEBHOOK_SECRET: generateWebhookSecret(),
  CLERK_SYNC_DEV_STATE: "/nonexistent/dev-stack.env",
  ...extra,
});

Deno.test("isLoopbackUrl() accepts 127.0.0.0/8, ::1 and localhost in any spelling", () => {
  for (
    const url of [
      "http://127.0.0.1:54321/functions/v1/clerk-webhook",
      "http://127.1.2.3/",
      "http://127.1:8000/",
      "http://2130706433/",
      "http://0x7f.0.0.1/",
      "http://localhost:8000/",
      "https://LOCALHOST/",
      "http://[::1]:8000/",
      "http://[0:0:0:0:0:0:0:1]/",
    ]
  ) {
    assert.ok(isLoopbackUrl(new URL(url)), url);
  }
});

Deno.test("isLoopbackUrl() refuses every other host", () => {
  for (
    const url of [
      "https://abcdefgh.supabase.co/functions/v1/clerk-webhook",
      "http://10.0.0.1/",
      "http://192.168.1.10:54321/",
      "http://0.0.0.0:8000/",
      "http://128.0.0.1/",
      "http://127.0.0.1.nip.io/",
      "http://localhost.example.com/",
      "http://[::ffff:127.0.0.1]/",
      "http://[::2]/",
    ]
  ) {
    assert.ok(!isLoopbackUrl(new URL(url)), url);
  }
});

Deno.test("remoteEffect() says what a made-up event would do to a real user", () => {
  assert.match(remoteEffect("user.deleted", "user_1"), /delete that user's profile/);
  assert.match(remoteEffect("user.deleted", "user_1"), /tombstone the id for good/);
  assert.match(remoteEffect("user.updated", "user_1"), /overwrite that user's profile/);
  assert.match(remoteEffect("user.created", "user_1"), /reconcile sees nothing to repair/);
  assert.match(remoteEffect("user.deleted", "user_\n1"), /^user\.deleted for user_\\n1 /);
});

Deno.test("npm run send refuses a URL off this machine (exit 2) and sends nothing", async () => {
  const server = countingServer('{"status":"applied"}');
  try {
    const host = externalAddress() ?? "192.0.2.1";
    const url = `http://${host}:${server.port}/functions/v1/clerk-webhook`;
    for (
      const [args, extra] of [
        [["user.deleted", "--url", url], {}],
        [["user.updated", "--user-id", "user_real"], { FUNCTION_URL: url }],
      ] as const
    ) {
      const sent = await runSend([...args], env(extra));
      assert.equal(sent.code, 2, sent.stdout + sent.stderr);
      assert.match(sent.stderr, new RegExp(`^refusing to send to ${url} \\(from `, "m"));
      assert.match(sent.stderr, /the function would (delete|create or overwrite) that user/);
      assert.match(sent.stderr, /--allow-remote/);
      assert.equal(sent.stdout, "");
    }
    assert.deepEqual(server.received, [], "nothing was sent");
  } finally {
    await server.close();
  }
});

Deno.test({
  name: "npm run send -- --allow-remote sends to a URL off this machine",
  ignore: externalAddress() === undefined,
  async fn() {
    const server = countingServer('{"status":"applied"}');
    try {
      const url = `http://${externalAddress()}:${server.port}/functions/v1/clerk-webhook`;
      const sent = await runSend(["user.created", "--url", url, "--allow-remote"], env());
      assert.equal(sent.code, 0, sent.stdout + sent.stderr);
      assert.equal(server.received.length, 1);
      assert.equal(JSON.parse(server.received[0]).type, "user.created");
    } finally {
      await server.close();
    }
  },
});

Deno.test("npm run send escapes control characters in the answer and in its arguments", async () => {
  const server = countingServer('{"status":"applied"}\n200 OK\u001b[2J\u001b]0;owned\u0007');
  try {
    const url = `http://127.0.0.1:${server.port}/functions/v1/clerk-webhook`;
    const userId = "user_\u001b[31mred";
    const sent = await runSend(["user.created", "--url", url, "--user-id", userId], env());
    assert.equal(sent.code, 0, sent.stdout + sent.stderr);
    const output = sent.stdout + sent.stderr;
    assert.ok(!output.includes("\u001b") && !output.includes("\u0007"), JSON.stringify(output));
    const lines = sent.stdout.split("\n");
    assert.match(lines[1], /^user\.created for user_\\u001b\[31mred, svix-id msg_\w+$/);
    assert.equal(lines[2], "200 OK");
    assert.equal(lines[3], String.raw`{"status":"applied"}\n200 OK\u001b[2J\u001b]0;owned\u0007`);
  } finally {
    await server.close();
  }
});
