// End to end over the two commands a user runs: `npm run dev` (scripts/dev.ts) in one terminal,
// `npm run send -- user.created` (scripts/send.ts) in another, then SIGTERM to dev.
import assert from "node:assert/strict";
import { freePort } from "../support/pg_cluster.ts";
import { runCommand } from "../support/command.ts";
import { DEV_KEYS, runSend, startDev, waitFor } from "./dev_process.ts";
import { runId } from "./support.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function refusesConnections(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return false;
  } catch {
    return true;
  }
}

// The placeholder that .env.example tells people to replace.
async function envExampleSecret(): Promise<string> {
  const text = await Deno.readTextFile(`${ROOT}.env.example`);
  const line = text.split("\n").find((l) => l.startsWith("CLERK_WEBHOOK_SECRET="));
  assert.ok(line, ".env.example sets CLERK_WEBHOOK_SECRET");
  return line.slice("CLERK_WEBHOOK_SECRET=".length);
}

Deno.test("npm run dev prints its lines, npm run send reaches it, SIGTERM removes everything", async () => {
  const port = freePort();
  const dev = await startDev({ env: { PORT: String(port) } });
  try {
    const values = await dev.ready();
    assert.deepEqual(Object.keys(values), DEV_KEYS);
    assert.equal(values.FUNCTION_URL, `http://127.0.0.1:${port}/functions/v1/clerk-webhook`);
    assert.match(values.CLERK_WEBHOOK_SECRET, /^whsec_[A-Za-z0-9+/]{32}$/);
    assert.match(values.SUPABASE_URL, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(((await Deno.stat(dev.statePath)).mode ?? 0) & 0o777, 0o600);

    // Another terminal, nothing exported: send finds the running dev stack.
    const userId = `user_dev${runId()}`;
    const send = await runSend(["user.created", "--user-id", userId], {
      CLERK_SYNC_DEV_STATE: dev.statePath,
    });
    assert.equal(send.code, 0, send.stdout + send.stderr);
    assert.match(send.stdout, new RegExp(`^POST ${values.FUNCTION_URL} \\(npm run dev\\)$`, "m"));
    assert.match(send.stdout, /^200 OK$/m);

    const guide = [
      `Webhook received: user.created for user: ${userId}`,
      `Syncing profile for ${userId} (Example Example)`,
      `Successfully synced profile for user ${userId}`,
    ];
    await waitFor(
      "the guide's three log lines",
      () => guide.every((l) => dev.stdout.includes(l)),
      5000,
    );
    // Dev's readiness check leaves no trace in the function's log: only the delivery above.
    const noise = [...dev.stdout, ...dev.stderr].filter((l) => /^(Rejected|Failed)/.test(l));
    assert.deepEqual(noise, []);

    // The DATABASE_URL line, as printed, works with psql (the README's next step).
    const psql = await runCommand("psql", [
      "-X",
      "-w",
      "-At",
      values.DATABASE_URL,
      "-c",
      `select first_name || ' ' || email from public.profiles where user_id = '${userId}'`,
    ]);
    assert.equal(psql.code, 0, psql.stderr);
    assert.equal(psql.stdout, "Example example@example.org\n");

    const dbPort = Number(new URL(values.DATABASE_URL).port);
    const apiPort = Number(new URL(values.SUPABASE_URL).port);
    Deno.kill(dev.pid, "SIGTERM");
    const status = await dev.status;
    assert.equal(status.code, 0, dev.stderr.join("\n"));
    await assert.rejects(Deno.stat(dev.statePath), Deno.errors.NotFound);
    for (const p of [port, apiPort, dbPort]) assert.ok(await refusesConnections(p), `port ${p}`);
    assert.deepEqual(dev.postgresPids(), []);
    assert.deepEqual(dev.clusterDirs(), []);
    assert.ok(dev.stderr.includes("dev: stopped; the database is removed"), dev.stderr.join("\n"));
  } finally {
    await dev.dispose();
  }
});

Deno.test("npm run dev fails fast, with the function's reason, on the .env.example placeholder", async () => {
  const placeholder = await envExampleSecret();
  const dev = await startDev({ env: { CLERK_WEBHOOK_SECRET: placeholder } });
  try {
    const started = Date.now();
    const status = await Promise.race([
      dev.status,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("dev still runs after 25 s")), 25_000)
      ),
    ]);
    const output = `stdout:\n${dev.stdout.join("\n")}\nstderr:\n${dev.stderr.join("\n")}`;
    assert.equal(status.code, 1, output);
    assert.ok(Date.now() - started < 25_000);
    assert.ok(
      dev.stderr.some((l) =>
        l.startsWith("dev: clerk-webhook refused its configuration: CLERK_WEBHOOK_SECRET ")
      ),
      output,
    );
    assert.ok(!dev.stdout.some((l) => l.startsWith("FUNCTION_URL=")), "no URLs printed");
    assert.ok(!output.includes(placeholder), "the secret's value is not echoed");
    assert.deepEqual(dev.postgresPids(), [], output);
    assert.deepEqual(dev.clusterDirs(), [], output);
    await assert.rejects(Deno.stat(dev.statePath), Deno.errors.NotFound);
    assert.ok(dev.stderr.includes("dev: stopped; the database is removed"), output);
  } finally {
    await dev.dispose();
  }
});

Deno.test("npm run dev escapes control characters of a bad PORT in its error line", async () => {
  const dev = await startDev({ env: { PORT: "80\u001b[2J\u001b]0;owned\u0007" } });
  try {
    const status = await dev.status;
    assert.equal(status.code, 1);
    const output = [...dev.stdout, ...dev.stderr].join("\n");
    assert.ok(!output.includes("\u001b") && !output.includes("\u0007"), JSON.stringify(output));
    assert.ok(
      dev.stderr.includes(
        'dev: PORT must be a port number, got "80\\u001b[2J\\u001b]0;owned\\u0007"',
      ),
      output,
    );
  } finally {
    await dev.dispose();
  }
});
