/**
 * Throwaway PostgreSQL 15 clusters for tests, the local stack and benchmarks: a fresh data
 * directory, a free port on 127.0.0.1, trust authentication on loopback only, and the
 * Supabase mirror plus this project's migrations applied with `supabase db push`.
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
  /** Stops the server and removes the data directory. */
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
  if (asPostgres) await run("chown", ["postgres:postgres", dataDir]);
  const pgdata = `${dataDir}/data`;
  await run(`${PG_BIN}/initdb`, [
    "-D",
    pgdata,
    "-U",
    "postgres",
    "--auth=trust",
    "--encoding=UTF8",
    "--locale=C.UTF-8",
    "--no-sync",
  ], asPostgres);

  const serverOptions = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dataDir}`,
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
    ], asPostgres);
  }

  async function stop(): Promise<void> {
    await run(`${PG_BIN}/pg_ctl`, ["stop", "-w", "-m", "fast", "-D", pgdata], asPostgres, true);
  }

  const urlFor = (role: string) => `postgresql://${role}@127.0.0.1:${port}/postgres`;
  await start();
  const cluster: PgCluster = {
    url: urlFor("postgres"),
    port,
    dataDir,
    urlFor,
    start,
    stop,
    async destroy() {
      await stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
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

/** Applies the Supabase mirror with psql, then the migrations with `supabase db push`. */
export async function migrate(url: string): Promise<void> {
  await run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", MIRROR_SQL]);
  await run(`${ROOT}node_modules/.bin/supabase`, [
    "db",
    "push",
    "--db-url",
    `${url}?sslmode=disable`,
    "--yes",
    "--workdir",
    ROOT,
  ]);
}

/** A TCP port that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function run(
  command: string,
  args: string[],
  asPostgres = false,
  allowFailure = false,
): Promise<void> {
  const [cmd, argv] = asPostgres
    ? ["runuser", ["-u", "postgres", "--", command, ...args]]
    : [command, args];
  const output = await new Deno.Command(cmd, {
    args: argv,
    stdout: "piped",
    stderr: "piped",
    env: { PGCONNECT_TIMEOUT: "10" },
  }).output();
  if (!output.success && !allowFailure) {
    const text = new TextDecoder().decode(output.stderr) + new TextDecoder().decode(output.stdout);
    throw new Error(`${command} ${args[0] ?? ""} failed (exit ${output.code}):\n${text.trim()}`);
  }
}
