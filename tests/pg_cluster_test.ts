// The throwaway clusters (tests, npm run dev, benchmarks) let in only who holds the cluster's
// password: no `trust`, over TCP or the socket, and nobody else can enter the data and socket
// directory. The URLs they hand out carry that password and work as they are with psql.
import assert from "node:assert/strict";
import { type PgCluster, startCluster } from "./support/pg_cluster.ts";

const decoder = new TextDecoder();
const asRoot = Deno.uid() === 0;

/** Runs psql (never prompting, no ~/.pgpass, no PGPASSWORD), as `user` when given. */
async function psql(args: string[], user?: string): Promise<{ code: number; output: string }> {
  const argv = ["psql", "-X", "-w", "-At", ...args, "-c", "select current_user"];
  const [command, rest] = user
    ? ["runuser", ["-u", user, "--", ...argv]]
    : [argv[0], argv.slice(1)];
  const output = await new Deno.Command(command, {
    args: rest,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", PGPASSFILE: "/dev/null" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    output: decoder.decode(output.stdout) + decoder.decode(output.stderr),
  };
}

async function withCluster(fn: (cluster: PgCluster) => Promise<void>): Promise<void> {
  const cluster = await startCluster({ migrate: false });
  try {
    await fn(cluster);
  } finally {
    await cluster.destroy();
  }
}

Deno.test("startCluster() refuses a connection without the cluster's password", async () => {
  await withCluster(async (cluster) => {
    const bare = `postgresql://postgres@127.0.0.1:${cluster.port}/postgres`;
    const wrong = `postgresql://postgres:wrong@127.0.0.1:${cluster.port}/postgres`;
    for (const url of [bare, wrong]) {
      const refused = await psql([url]);
      assert.notEqual(refused.code, 0, refused.output);
      assert.match(refused.output, /no password supplied|password authentication failed/);
    }
    // The socket refuses too, even to the OS user that owns the cluster (no `trust`, no `peer`).
    if (asRoot) {
      const local = await psql([
        "-h",
        cluster.dataDir,
        "-p",
        String(cluster.port),
        "-U",
        "postgres",
      ], "postgres");
      assert.notEqual(local.code, 0, local.output);
      assert.match(local.output, /no password supplied|password authentication failed/);
    }
    // With the password, the URL works as it is (the DATABASE_URL line of npm run dev).
    const ok = await psql([cluster.url]);
    assert.deepEqual(ok, { code: 0, output: "postgres\n" });
  });
});

Deno.test("startCluster() keeps its data and socket directory closed to other users", async () => {
  await withCluster(async (cluster) => {
    const mode = (await Deno.stat(cluster.dataDir)).mode ?? 0;
    assert.equal(mode & 0o077, 0, `mode ${(mode & 0o777).toString(8)}`);
    const socket = `${cluster.dataDir}/.s.PGSQL.${cluster.port}`;
    assert.equal(((await Deno.stat(socket)).mode ?? 0) & 0o077, 0);
    if (asRoot) {
      const entered = await new Deno.Command("runuser", {
        args: ["-u", "nobody", "--", "ls", cluster.dataDir],
        stdout: "null",
        stderr: "null",
      }).output();
      assert.notEqual(entered.code, 0, "nobody listed the directory");
      const viaSocket = await psql(["-h", cluster.dataDir, "-p", String(cluster.port)], "nobody");
      assert.notEqual(viaSocket.code, 0, viaSocket.output);
      assert.match(viaSocket.output, /Permission denied|No such file/);
    }
    // The password never shows on a command line (`ps` shows those to every user).
    const password = decodeURIComponent(new URL(cluster.url).password);
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      let cmdline = "";
      try {
        cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      } catch {
        continue;
      }
      assert.ok(!cmdline.includes(password), `the password is in the argv of ${entry.name}`);
    }
  });
});
