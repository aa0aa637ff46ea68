// `npm run token` (scripts/token.ts): the session token it prints for a running dev's Clerk
// stand-in key verifies with @clerk/backend against that key, and it refuses, printing nothing on
// stdout, when there is no dev or dev talks to the developer's own Clerk instance.
import assert from "node:assert/strict";
import { verifyToken } from "@clerk/backend";
import { generateSigningKey } from "./support/clerk_session.ts";
import { exportSessionKey, SESSION_KEY, writeDevState } from "../scripts/dev_state.ts";
import { cleanEnv, type CommandResult, runCommand } from "./support/command.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const USER_ID = "user_29w83sxmDNGwOuEthce5gg56FcC";

/** Runs scripts/token.ts with `state` as dev's state file (nothing of the developer's CLERK_*). */
function token(state: string, args: string[] = [USER_ID]): Promise<CommandResult> {
  return runCommand(Deno.execPath(), ["run", "-A", "--frozen", "scripts/token.ts", ...args], {
    cwd: ROOT,
    env: cleanEnv({ CLERK_SYNC_DEV_STATE: state }),
  });
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clerk-sync-token-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("npm run token prints a session token that verifies with the dev stand-in's key", async () => {
  await withDir(async (dir) => {
    const key = await generateSigningKey();
    const state = `${dir}/dev-stack.env`;
    await writeDevState(state, ["DEV_PID=1", `${SESSION_KEY}=${await exportSessionKey(key)}`]);
    assert.equal((await Deno.stat(state)).mode! & 0o777, 0o600);

    const run = await token(state, [USER_ID, "--ttl", "120", "--azp", "http://localhost:5173"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const claims = await verifyToken(run.stdout.trim(), {
      jwtKey: key.pem,
      authorizedParties: ["http://localhost:5173"],
    });
    assert.equal(claims.sub, USER_ID);
    assert.equal(claims.exp - claims.iat, 120);

    const other = await generateSigningKey();
    await assert.rejects(verifyToken(run.stdout.trim(), { jwtKey: other.pem }));
  });
});

Deno.test("npm run token refuses without a running dev, with dev on your own Clerk, and bad usage", async () => {
  await withDir(async (dir) => {
    const missing = await token(`${dir}/none.env`);
    assert.deepEqual([missing.code, missing.stdout], [2, ""]);
    assert.match(missing.stderr, /no running npm run dev found/);

    // Dev started with CLERK_SECRET_KEY (or ...) set writes no stand-in key.
    await writeDevState(`${dir}/own.env`, ["DEV_PID=1", "PROFILE_SYNC_URL=http://127.0.0.1:1/"]);
    const own = await token(`${dir}/own.env`);
    assert.deepEqual([own.code, own.stdout], [2, ""]);
    assert.match(own.stderr, /your own Clerk instance/);

    for (const args of [[], ["not-a-user\u001b[2J"], [USER_ID, "--ttl", "0"]]) {
      const bad = await token(`${dir}/none.env`, args);
      assert.deepEqual([bad.code, bad.stdout], [2, ""], args.join(" "));
      assert.ok(!bad.stderr.includes("\u001b"), JSON.stringify(bad.stderr));
    }
  });
});
