// End to end over the two commands a user runs: `npm run dev` (scripts/dev.ts) in one terminal,
// `npm run send -- user.created` (scripts/send.ts) in another, then SIGTERM to dev.
import assert from "node:assert/strict";
import postgres from "postgres";
import { freePort } from "../support/pg_cluster.ts";
import { runId } from "./support.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const KEYS = [
  "FUNCTION_URL",
  "DATABASE_URL",
  "SUPABASE_URL",
  "SUPABASE_SERVICE_ROLE_KEY",
  "CLERK_WEBHOOK_SECRET",
];

// What a fresh terminal has: none of the variables the commands read unless the test sets them.
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return { ...env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...extra };
}

function collectLines(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
  return (async () => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts);
    }
    if (rest) lines.push(rest);
  })();
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function refusesConnections(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return false;
  } catch {
    return true;
  }
}

Deno.test("npm run dev prints the five lines, npm run send reaches it, SIGTERM removes everything", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clerk-sync-dev-test-" });
  const statePath = `${dir}/dev-stack.env`;
  const port = freePort();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const dev = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--frozen", "scripts/dev.ts"],
    cwd: ROOT,
    clearEnv: true,
    env: cleanEnv({ PORT: String(port), CLERK_SYNC_DEV_STATE: statePath }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const pumps = [collectLines(dev.stdout, stdout), collectLines(dev.stderr, stderr)];
  let status: Deno.CommandStatus | undefined;
  try {
    await waitFor(
      "the CLERK_WEBHOOK_SECRET= line",
      () => stdout.some((l) => l.startsWith("CLERK_WEBHOOK_SECRET=")),
      60_000,
    );
    const printed = stdout.filter((l) => /^[A-Z_]+=/.test(l));
    assert.deepEqual(printed.map((l) => l.slice(0, l.indexOf("="))), KEYS);
    const values = Object.fromEntries(
      printed.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    assert.equal(values.FUNCTION_URL, `http://127.0.0.1:${port}/functions/v1/clerk-webhook`);
    assert.match(values.CLERK_WEBHOOK_SECRET, /^whsec_[A-Za-z0-9+/]{32}$/);
    assert.match(values.SUPABASE_URL, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(((await Deno.stat(statePath)).mode ?? 0) & 0o777, 0o600);

    // Another terminal, nothing exported: send finds the running dev stack.
    const userId = `user_dev${runId()}`;
    const send = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--frozen", "scripts/send.ts", "user.created", "--user-id", userId],
      cwd: ROOT,
      clearEnv: true,
      env: cleanEnv({ CLERK_SYNC_DEV_STATE: statePath }),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const sent = new TextDecoder().decode(send.stdout);
    assert.equal(send.code, 0, sent + new TextDecoder().decode(send.stderr));
    assert.match(sent, new RegExp(`^POST ${values.FUNCTION_URL} \\(npm run dev\\)$`, "m"));
    assert.match(sent, /^200 OK$/m);

    const guide = [
      `Webhook received: user.created for user: ${userId}`,
      `Syncing profile for ${userId} (Example Example)`,
      `Successfully synced profile for user ${userId}`,
    ];
    await waitFor(
      "the guide's three log lines",
      () => guide.every((l) => stdout.includes(l)),
      5000,
    );
    const sql = postgres(values.DATABASE_URL, { max: 1, onnotice: () => {} });
    try {
      const rows =
        await sql`select first_name, email from public.profiles where user_id = ${userId}`;
      assert.deepEqual(rows.map((r) => ({ ...r })), [
        { first_name: "Example", email: "example@example.org" },
      ]);
    } finally {
      await sql.end();
    }

    const dbPort = Number(new URL(values.DATABASE_URL).port);
    const apiPort = Number(new URL(values.SUPABASE_URL).port);
    dev.kill("SIGTERM");
    status = await dev.status;
    assert.equal(status.code, 0, stderr.join("\n"));
    await assert.rejects(Deno.stat(statePath), Deno.errors.NotFound);
    for (const p of [port, apiPort, dbPort]) assert.ok(await refusesConnections(p), `port ${p}`);
    assert.ok(stderr.includes("dev: stopped; the database is removed"), stderr.join("\n"));
  } finally {
    if (!status) {
      dev.kill("SIGTERM");
      await dev.status;
    }
    await Promise.all(pumps);
    await Deno.remove(dir, { recursive: true });
  }
});
