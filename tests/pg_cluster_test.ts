// The throwaway clusters (tests, npm run dev, benchmarks) let in only who holds the cluster's
// password: no `trust`, over TCP or the socket, and nobody else can enter the data and socket
// directory. The URLs they hand out carry that password and work as they are with psql. The
// Supabase mirror leaves the roles as the platform has them (tests/support/supabase_mirror.sql).
import assert from "node:assert/strict";
import postgres from "postgres";
import {
  applyMirror,
  type DefaultPrivileges,
  type PgCluster,
  startCluster,
} from "./support/pg_cluster.ts";
import { runCommand } from "./support/command.ts";

const asRoot = Deno.uid() === 0;

/** Runs psql (never prompting, no ~/.pgpass, no PGPASSWORD), as `user` when given. */
async function psql(args: string[], user?: string): Promise<{ code: number; output: string }> {
  const argv = ["psql", "-X", "-w", "-At", ...args, "-c", "select current_user"];
  const [command, rest] = user
    ? ["runuser", ["-u", user, "--", ...argv]]
    : [argv[0], argv.slice(1)];
  const { code, stdout, stderr } = await runCommand(command, rest, {
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", PGPASSFILE: "/dev/null" },
  });
  return { code, output: stdout + stderr };
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
    const bare = `postgresql://supabase_admin@127.0.0.1:${cluster.port}/postgres`;
    const wrong = `postgresql://supabase_admin:wrong@127.0.0.1:${cluster.port}/postgres`;
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
        "supabase_admin",
      ], "postgres");
      assert.notEqual(local.code, 0, local.output);
      assert.match(local.output, /no password supplied|password authentication failed/);
    }
    // With the password, the URL works as it is.
    const ok = await psql([cluster.adminUrl]);
    assert.deepEqual(ok, { code: 0, output: "supabase_admin\n" });
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

/** The mirror's roles and defaults on a fresh cluster in `mode`, read as `postgres`. */
async function mirrored(mode: DefaultPrivileges) {
  const cluster = await startCluster({ migrate: false, defaultPrivileges: mode });
  try {
    await applyMirror(cluster);
    const sql = postgres(cluster.url, { max: 1, onnotice: () => {} });
    try {
      const roles = await sql`
        select rolname, rolsuper, rolinherit, rolcreatedb, rolcreaterole, rolreplication,
          rolbypassrls, rolcanlogin, coalesce(rolconfig, '{}') as config
        from pg_roles
        where rolname in ('supabase_admin', 'postgres', 'anon', 'authenticated', 'service_role',
          'authenticator')
        order by rolname`;
      const [self] = await sql`
        select current_user as name, current_setting('search_path') as search_path,
          (select pg_get_userbyid(datdba) from pg_database
            where datname = current_database()) as database_owner,
          pg_has_role('service_role', 'member') as member_of_service_role`;
      // What a table and a function that `postgres` creates in public grant the API roles.
      await sql`create table public.mirror_probe (id integer)`;
      await sql`create function public.mirror_probe() returns integer language sql as 'select 1'`;
      const [created] = await sql`
        select
          array(select a.grantee::regrole::text
                from pg_class c, aclexplode(c.relacl) a
                where c.oid = 'public.mirror_probe'::regclass and a.grantee <> c.relowner
                  and a.privilege_type = 'SELECT'
                order by 1) as tables,
          array(select a.grantee::regrole::text
                from pg_proc p, aclexplode(p.proacl) a
                where p.oid = 'public.mirror_probe()'::regprocedure
                  and a.grantee not in (0, p.proowner)
                order by 1) as functions`;
      const refused = await sql`create extension plpgsql_check with schema extensions`
        .then(() => null, (error: { code?: string }) => error.code);
      return { roles, self, created, refused };
    } finally {
      await sql.end();
    }
  } finally {
    await cluster.destroy();
  }
}

Deno.test("the mirror makes supabase_admin the superuser and postgres a demoted owner, as the platform", async () => {
  const [none, legacy] = await Promise.all([mirrored("none"), mirrored("legacy")]);
  const role = (name: string) => none.roles.find((r) => r.rolname === name);
  assert.equal(role("supabase_admin")?.rolsuper, true);
  assert.deepEqual(
    { ...role("postgres"), config: undefined },
    {
      rolname: "postgres",
      rolsuper: false,
      rolinherit: true,
      rolcreatedb: true,
      rolcreaterole: true,
      rolreplication: true,
      rolbypassrls: true,
      rolcanlogin: true,
      config: undefined,
    },
  );
  for (const api of ["anon", "authenticated", "service_role"]) {
    assert.equal(role(api)?.rolinherit, true, `${api} is INHERIT`);
    assert.equal(role(api)?.rolcanlogin, false, `${api} is NOLOGIN`);
  }
  assert.equal(role("service_role")?.rolbypassrls, true);
  assert.equal(role("authenticator")?.rolinherit, false);
  assert.deepEqual(role("authenticator")?.config, ["statement_timeout=8s", "lock_timeout=8s"]);
  assert.deepEqual(role("anon")?.config, ["statement_timeout=3s"]);
  assert.deepEqual(role("authenticated")?.config, ["statement_timeout=8s"]);
  assert.deepEqual(none.self, {
    name: "postgres",
    search_path: '"$user", public, extensions',
    database_owner: "postgres",
    member_of_service_role: true,
  });
  assert.equal(none.refused, "42501", "postgres cannot create an untrusted extension");
  // Default privileges: none for new projects, ALL to the API roles on legacy ones.
  assert.deepEqual(none.created, { tables: [], functions: [] });
  assert.deepEqual(legacy.created, {
    tables: ["anon", "authenticated", "service_role"],
    functions: ["anon", "authenticated", "service_role"],
  });
});
