// The function listens on PORT whatever its configuration, so whoever started it (npm run dev,
// these tests) finds it and reads why it refuses; a PORT that names no port falls back to 8000.
import assert from "node:assert/strict";
import { generateWebhookSecret, startLocalStack } from "../support/local_stack.ts";
import { freePort } from "../support/pg_cluster.ts";
import { functionDeno, functionRunArgs } from "../support/function_deno.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const PLACEHOLDER = "whsec_REPLACE_ME_with_your_endpoint_signing_secret";

function inherited(names: string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((n) => {
    const value = Deno.env.get(n);
    return value === undefined ? [] : [[n, value]];
  }));
}

function portIsFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "0.0.0.0", port }).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * The local addresses of the sockets listening on `port`, from /proc/net/tcp and tcp6 (Linux):
 * "127.0.0.1", "0.0.0.0", "::", ...
 */
function listeningAddresses(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const addresses: string[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of Deno.readTextFileSync(file).split("\n").slice(1)) {
      const [local, , state] = line.trim().split(/\s+/).slice(1, 4);
      if (state !== "0A" || !local?.endsWith(`:${hexPort}`)) continue; // 0A: LISTEN
      const hex = local.slice(0, local.indexOf(":"));
      addresses.push(
        hex.length === 8
          ? [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(".")
          : hex === "0".repeat(32)
          ? "::"
          : hex,
      );
    }
  }
  return addresses;
}

Deno.test("both functions of the local stack (npm run dev) listen on 127.0.0.1 only", async () => {
  const stack = await startLocalStack();
  try {
    for (const url of [stack.functionUrl, stack.profileSyncUrl]) {
      assert.deepEqual(listeningAddresses(Number(new URL(url).port)), ["127.0.0.1"], url);
    }
    // The stand-ins, for comparison: the whole stack is on loopback.
    assert.deepEqual(listeningAddresses(Number(new URL(stack.supabaseUrl).port)), ["127.0.0.1"]);
  } finally {
    await stack.close();
  }
});

Deno.test("clerk-webhook refusing its configuration listens on PORT all the same and answers 500", async () => {
  const stack = await startLocalStack({ functionEnv: { CLERK_WEBHOOK_SECRET: PLACEHOLDER } });
  try {
    await stack.waitForLog(/^Configuration error: CLERK_WEBHOOK_SECRET /);
    assert.equal(new URL(stack.functionUrl).port, stack.functionEnv.PORT);
    const response = await fetch(stack.functionUrl, { method: "POST", body: "{}" });
    await response.body?.cancel();
    assert.equal(response.status, 500);
    await stack.waitForLog(/^Failed to handle webhook \(500\)/);
    // The readiness check made no request: the only request the function logged is this one.
    assert.equal(
      stack.logs.filter((l) => /^(Failed|Rejected)/.test(l)).length,
      1,
      stack.logs.join("\n"),
    );
  } finally {
    await stack.close();
  }
});

Deno.test({
  name: "clerk-webhook on a PORT that is no port says so and listens on 8000",
  ignore: !portIsFree(8000),
  async fn() {
    // The test command runs this file in two passes side by side: one at a time on port 8000.
    const lock = await Deno.open("/tmp/clerk-sync-port-8000.lock", { create: true, write: true });
    await lock.lock(true);
    try {
      await fallsBackTo8000();
    } finally {
      lock.close();
    }
  },
});

async function fallsBackTo8000(): Promise<void> {
  const deno = functionDeno();
  const child = new Deno.Command(deno.path, {
    args: functionRunArgs("supabase/functions/clerk-webhook/index.ts", deno),
    cwd: ROOT,
    clearEnv: true,
    env: {
      ...inherited(["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"]),
      ...deno.env,
      PORT: "70000",
      CLERK_WEBHOOK_SECRET: generateWebhookSecret(),
      SUPABASE_URL: `http://127.0.0.1:${freePort()}`,
      SUPABASE_SERVICE_ROLE_KEY: "not-used-by-this-test",
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: 8000 })).close();
        break;
      } catch {
        if (Date.now() > deadline) throw new Error("nothing listens on 8000");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    const response = await fetch("http://127.0.0.1:8000/", { method: "GET" });
    await response.body?.cancel();
    assert.equal(response.status, 405, "the configured handler answers");
  } finally {
    child.kill("SIGTERM");
  }
  const { stderr } = await output;
  assert.match(
    new TextDecoder().decode(stderr),
    /^PORT "70000" is not a port number \(1-65535\); listening on 8000$/m,
  );
}
