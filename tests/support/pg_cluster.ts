/**
 * Throwaway PostgreSQL 15 clusters for tests, the local stack and benchmarks: a fresh data
 * directory (mode 0700, also the socket directory), a free port on 127.0.0.1, password
 * authentication (scram-sha-256, one random password per cluster for every login role), and the
 * Supabase mirror plus this project's migrations applied with `supabase db push`.
 *
 * Every helper program (initdb, pg_ctl, psql, the Supabase CLI) runs in a session of its own, as
 * the postmaster does (pg_ctl starts it with setsid()): a Ctrl-C, which the terminal sends to the
 * whole foreground process group, must not kill a `pg_ctl stop` half-way and leave the server
 * running. The caller decides what a signal means (scripts/dev.ts stops and destroys).
 */

const PG_BIN = Deno.env.get("PG_BIN") ?? "/usr/lib/postgresql/15/bin";
const ROOT = new URL("../../", import.meta.url).pathname;
const MIRROR_SQL = `${ROOT}tests/support/supabase_mirror.sql`;

/** A running (or stopped) throwaway cluster. */
export interface PgCluster {
  /** Superuser connection URL (the `postgres` role, as migrations run on Supabase). */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Connection URL for another role of the cluster (for example `authenticator`). */
  urlFor(role: string): string;
  /** Stops the server, keeping the data directory (for fault tests). */
  stop(): Promise<void>;
  /** Starts the server again on the same port. */
  start(): Promise<void>;
  /** Stops the server and removes the data directory; throws, keeping it, if the server runs on. */
  destroy(): Promise<void>;
}

/** Options of {@linkcode startCluster}. */
export interface StartOptions {
  /** Port to listen on; a free one when omitted. */
  port?: number;
  /** Apply the Supabase mirror and the migrations (default true). */
  migrate?: boolean;
}

/** Starts a throwaway cluster, with the Supabase mirror and migrations applied by default. */
export async function startCluster(options: StartOptions = {}): Promise<PgCluster> {
  const port = options.port ?? freePort();
  const dataDir = await Deno.makeTempDir({ prefix: "clerk-sync-pg-" });
  const asPostgres = Deno.uid() === 0;
  const pgdata = `${dataDir}/data`;
  // With `trust`, any local user could connect as the superuser (and run programs as the OS user
  // through `copy ... from program`); a password known only to this process closes that.
  const password = randomPassword();
  const serverOptions = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dataDir}`,
    "-c unix_socket_permissions=0700",
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c max_connections=200",
  ].join(" ");

  async function start(): Promise<void> {
    await run(`${PG_BIN}/pg_ctl`, [
      "start",
      "-w",
      "-t",
      "30",
      "-D",
      pgdata,
      "-l",
      `${dataDir}/server.log`,
      "-o",
      serverOptions,
    ], { asPostgres });
  }

  async function stop(): Promise<void> {
    await run(`${PG_BIN}/pg_ctl`, ["stop", "-w", "-m", "fast", "-D", pgdata], {
      asPostgres,
      allowFailure: true,
    });
  }

  // pg_ctl status exits 0 only while a postmaster runs on the data directory.
  async function running(): Promise<boolean> {
    const code = await run(`${PG_BIN}/pg_ctl`, ["status", "-D", pgdata], {
      asPostgres,
      allowFailure: true,
    });
    return code === 0;
  }

  // Never removes the data directory under a running server (it would keep running, unseen).
  async function destroy(): Promise<void> {
    await stop();
    if (await running()) {
      await run(`${PG_BIN}/pg_ctl`, ["stop", "-w", "-m", "immediate", "-D", pgdata], {
        asPostgres,
        allowFailure: true,
      });
      if (await running()) {
        throw new Error(`PostgreSQL on ${pgdata} did not stop; its directory is kept`);
      }
    }
    await Deno.remove(dataDir, { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  try {
    if (asPostgres) await run("chown", ["postgres:postgres", dataDir]);
    const pwfile = `${dataDir}/pwfile`;
    await Deno.writeTextFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (asPostgres) await run("chown", ["postgres:postgres", pwfile]);
    await run(`${PG_BIN}/initdb`, [
      "-D",
      pgdata,
      "-U",
      "postgres",
      "--auth=scram-sha-256",
      `--pwfile=${pwfile}`,
      "--encoding=UTF8",
      "--locale=C.UTF-8",
      "--no-sync",
    ], { asPostgres });
    await Deno.remove(pwfile);
    await start();
  } catch (error) {
    await destroy().catch(() => {});
    throw error;
  }

  const urlFor = (role: string) => `postgresql://${role}:${password}@127.0.0.1:${port}/postgres`;
  const cluster: PgCluster = {
    url: urlFor("postgres"),
    port,
    dataDir,
    urlFor,
    start,
    stop,
    destroy,
  };
  if (options.migrate ?? true) {
    try {
      await migrate(cluster.url);
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
  }
  return cluster;
}

/**
 * Applies the Supabase mirror with psql, gives its login role `authenticator` the password of
 * `url`, then applies the migrations with `supabase db push`. The password travels in
 * PGPASSWORD and on stdin, never on a command line that `ps` shows.
 */
export async function migrate(url: string): Promise<void> {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = "";
  const bare = parsed.toString();
  const env = { PGPASSWORD: password };
  await run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", bare, "-f", MIRROR_SQL], {
    env,
  });
  await run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", bare], {
    env,
    stdin: `alter role authenticator password '${password.replaceAll("'", "''")}';\n`,
  });
  await run(`${ROOT}node_modules/.bin/supabase`, [
    "db",
    "push",
    "--db-url",
    `${bare}?sslmode=disable`,
    "--yes",
    "--workdir",
    ROOT,
  ], { env });
}

/** A TCP port that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

// URL-safe, so it can sit in a connection URL unescaped.
function randomPassword(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

interface RunOptions {
  asPostgres?: boolean;
  allowFailure?: boolean;
  env?: Record<string, string>;
  stdin?: string;
}

// Resolves with the exit code; throws on failure unless `allowFailure`.
async function run(command: string, args: string[], options: RunOptions = {}): Promise<number> {
  const argv = options.asPostgres
    ? ["runuser", "-u", "postgres", "--", command, ...args]
    : [command, ...args];
  const child = new Deno.Command("setsid", {
    args: ["--wait", ...argv],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { PGCONNECT_TIMEOUT: "10", ...options.env },
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  if (!output.success && !options.allowFailure) {
    const text = new TextDecoder().decode(output.stderr) + new TextDecoder().decode(output.stdout);
    throw new Error(`${command} ${args[0] ?? ""} failed (exit ${output.code}):\n${text.trim()}`);
  }
  return output.code;
}
