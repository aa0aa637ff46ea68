import assert from "node:assert/strict";
import postgres from "postgres";
import { createClient } from "@supabase/supabase-js";
import { freePort, startCluster } from "./support/pg_cluster.ts";
import { roleJwt, secretJwk, signJws, signJwt, verifyJwt } from "./support/jwt.ts";
import { forgedToken, generateSigningKey, mintSessionToken } from "./support/clerk_session.ts";
import {
  configMaxRows,
  createPostgrestStandIn,
  type GatewayFault,
  type PostgrestStandIn,
  type PostgrestStandInOptions,
  statusForSqlState,
} from "./support/postgrest_stand_in.ts";
import { databaseUrl, roleUrl } from "./support/test_database.ts";

const JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";
const SECRET_KEY = "sb_secret_standin_test_key";
const RUN = crypto.randomUUID().slice(0, 8);
let serial = 0;

function uniqueId(prefix: string): string {
  serial += 1;
  return `${prefix}_standin_${RUN}_${serial}`;
}

async function withStandIn(
  fn: (standIn: PostgrestStandIn) => Promise<void>,
  options: Partial<PostgrestStandInOptions> = {},
): Promise<void> {
  const standIn = createPostgrestStandIn({
    jwtSecret: JWT_SECRET,
    secretKeys: [SECRET_KEY],
    ...options,
    databaseUrl: options.databaseUrl ?? roleUrl("authenticator"),
  });
  try {
    await fn(standIn);
  } finally {
    await standIn.close();
  }
}

async function withSql<T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(databaseUrl(), { max: 2, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

function rpc(
  fn: string,
  body: unknown,
  headers: Record<string, string> = {},
  init: RequestInit = {},
): Request {
  return new Request(`http://stand-in.local/rest/v1/rpc/${fn}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
}

function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}`, apikey: token };
}

function syncArgs(userId = uniqueId("user"), eventType = "user.created") {
  return {
    p_svix_id: uniqueId("msg"),
    p_event_type: eventType,
    p_user_id: userId,
    p_occurred_at: "2026-01-01T00:00:00.000Z",
    p_profile: { email: "ada@example.com", first_name: "Ada", public_metadata: { plan: "pro" } },
  };
}

async function expectError(
  response: Response,
  status: number,
  code: string | null,
  message?: string | RegExp,
): Promise<Record<string, unknown>> {
  const body = await response.json();
  assert.equal(response.status, status, JSON.stringify(body));
  assert.deepEqual(Object.keys(body).sort(), ["code", "details", "hint", "message"]);
  assert.equal(body.code, code);
  if (typeof message === "string") assert.equal(body.message, message);
  if (message instanceof RegExp) assert.match(body.message, message);
  return body;
}

// A schema of this test file's own, with functions covering each PostgREST behaviour.
async function withFixtureSchema(fn: (schema: string) => Promise<void>): Promise<void> {
  const schema = `standin_${RUN}_${++serial}`;
  await withSql(async (sql) => {
    await sql.unsafe(`
      create schema ${schema};
      grant usage on schema ${schema} to anon, authenticated, service_role;
      create sequence ${schema}.counter;
      grant usage on sequence ${schema}.counter to anon, authenticated, service_role;
      create function ${schema}.whoami() returns jsonb language sql stable as $$
        select jsonb_build_object(
          'role', current_user,
          'claims', auth.jwt(),
          'method', current_setting('request.method', true),
          'path', current_setting('request.path', true),
          'header', current_setting('request.headers', true)::jsonb ->> 'x-test',
          'cookie', current_setting('request.cookies', true)::jsonb ->> 'session',
          'cookie_header', current_setting('request.headers', true)::jsonb -> 'cookie',
          'statement_timeout', current_setting('statement_timeout'),
          'lock_timeout', current_setting('lock_timeout'),
          'log_min_duration_statement', current_setting('log_min_duration_statement'),
          'read_only', current_setting('transaction_read_only'))
      $$;
      create function ${schema}.add_them(a integer, b integer default 1) returns integer
        language sql immutable as $$ select a + b $$;
      create function ${schema}.numbers() returns setof integer
        language sql stable as $$ select generate_series(1, 3) $$;
      create function ${schema}.many(n integer) returns table(i integer, label text)
        language sql stable as $$ select i, 'n' || i from generate_series(1, n) as i $$;
      create function ${schema}.raise_code(code text) returns void language plpgsql as $$
        begin raise exception using errcode = code, message = 'raised ' || code; end $$;
      create table ${schema}.locked(id integer primary key);
      grant select, update on ${schema}.locked to anon, authenticated, service_role;
      insert into ${schema}.locked values (1);
      create function ${schema}.touch_locked() returns text language sql as $$
        update ${schema}.locked set id = id where id = 1 returning 'touched' $$;
      create function ${schema}.noop() returns void language sql as $$ select $$;
      create function ${schema}.just_fail() returns void language plpgsql as $$
        begin
          raise exception 'I refuse!' using detail = 'Pretty simple', hint = 'Nothing to do.';
        end $$;
      create function ${schema}.conflict() returns void language plpgsql as $$
        begin raise exception using errcode = 'unique_violation', message = 'already there'; end $$;
      create function ${schema}.slow() returns void language sql
        set statement_timeout = '50ms' as $$ select pg_sleep(2) $$;
      create function ${schema}.nap(seconds float8) returns text language sql
        as $$ select pg_sleep(seconds)::text || 'rested' $$;
      create function ${schema}.sneaky_write() returns bigint language sql stable
        as $$ select nextval('${schema}.counter') $$;
      create function ${schema}.pick(a integer) returns text language sql as $$ select 'int' $$;
      create table ${schema}.people(id integer primary key, name text, team text, nickname text);
      grant select on ${schema}.people to anon, authenticated, service_role;
      insert into ${schema}.people values
        (1, 'Ada', 'red', null), (2, 'Grace', 'blue', 'Amazing'), (3, 'Alan', 'red', null);
      create view ${schema}.session as select current_user::text as role,
        current_setting('transaction_read_only') as read_only, auth.jwt() as claims;
      grant select on ${schema}.session to anon, authenticated, service_role;
      create function ${schema}.pick(a text) returns text language sql as $$ select 'text' $$;
    `);
  });
  try {
    await fn(schema);
  } finally {
    await withSql((sql) => sql.unsafe(`drop schema ${schema} cascade`));
  }
}

Deno.test("signJwt() tokens verify with the secret and not with another", async () => {
  const token = await signJwt({ role: "service_role", sub: "x" }, JWT_SECRET);
  const verified = await verifyJwt(token, JWT_SECRET);
  assert.deepEqual(verified, { ok: true, claims: { role: "service_role", sub: "x" } });
  const other = await verifyJwt(token, "another-secret-of-at-least-32-characters!!");
  // PostgREST's ErrorSpec "error on jwt encoded with wrong secret".
  assert.deepEqual(other, {
    ok: false,
    code: "PGRST301",
    message: "No suitable key or wrong key type",
    details: "None of the keys was able to decode the JWT",
  });
});

Deno.test("verifyJwt() applies PostgREST's 30 s clock skew to exp, nbf and iat", async () => {
  const now = 1_800_000_000;
  const at = async (claims: Record<string, unknown>) =>
    await verifyJwt(await signJwt(claims, JWT_SECRET), JWT_SECRET, now);
  assert.equal((await at({ exp: now - 10 })).ok, true);
  assert.deepEqual(await at({ exp: now - 31 }), {
    ok: false,
    code: "PGRST303",
    message: "JWT expired",
    details: null,
  });
  const message = async (claims: Record<string, unknown>) => {
    const verified = await at(claims);
    return verified.ok ? "ok" : verified.message;
  };
  assert.equal(await message({ nbf: now + 29, iat: now + 29 }), "ok");
  assert.equal(await message({ nbf: now + 40 }), "JWT not yet valid");
  assert.equal(await message({ iat: now + 40 }), "JWT issued at future");
  assert.equal(await message({ exp: "tomorrow" }), "The JWT 'exp' claim must be a number");
  assert.equal(await message({ exp: null, nbf: null, iat: null }), "ok");
  // Auth/Jwt.hs checks exp, nbf, iat, aud in that order and answers the first failure.
  assert.equal(await message({ exp: now - 60, nbf: "soon" }), "JWT expired");
  assert.equal(
    await message({ nbf: "soon", iat: now + 40 }),
    "The JWT 'nbf' claim must be a number",
  );
  // A fraction is no bounded integer: PostgREST counts it as 0, so such an `exp` has passed.
  assert.equal(await message({ exp: now + 600.5 }), "JWT expired");
  assert.equal(await message({ aud: ["authenticated", "anything"] }), "ok");
  assert.equal(
    await message({ aud: { invalid: "value" } }),
    "The JWT 'aud' claim must be a string or an array of strings",
  );
  assert.equal(
    await message({ aud: ["ok", 1] }),
    "The JWT 'aud' claim must be a string or an array of strings",
  );
});

Deno.test("statusForSqlState() follows PostgREST's SQLSTATE to HTTP table", () => {
  const cases: [string, boolean, number][] = [
    ["42501", false, 401],
    ["42501", true, 403],
    ["42883", true, 404],
    ["22023", true, 400],
    ["P0001", true, 400],
    ["P0002", true, 500],
    ["23505", true, 409],
    ["23503", true, 409],
    ["57014", true, 500],
    ["55P03", true, 500],
    ["57P01", true, 503],
    ["57P02", true, 500],
    ["57P03", true, 500],
    ["08006", true, 503],
    ["53300", true, 503],
    ["53400", true, 500],
    ["PT402", true, 402],
    ["PT4O2", true, 500],
    ["PTABC", true, 500],
    ["XX000", true, 500],
  ];
  for (const [code, authed, status] of cases) {
    assert.equal(statusForSqlState(code, "", authed), status, code);
  }
  assert.equal(statusForSqlState("22023", 'role "x" does not exist', true), 401);
});

Deno.test("createPostgrestStandIn() lets service_role call sync_clerk_user", async () => {
  await withStandIn(async (standIn) => {
    const args = syncArgs();
    const token = await roleJwt("service_role", JWT_SECRET);
    const headers = { ...bearer(token), Prefer: "return=minimal" };
    const response = await standIn.handler(rpc("sync_clerk_user", args, headers));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/json; charset=utf-8");
    assert.equal(await response.json(), "applied");
    const rows = await withSql((sql) =>
      sql`select email, first_name, public_metadata from public.profiles
          where user_id = ${args.p_user_id}`
    );
    assert.deepEqual([...rows], [{
      email: "ada@example.com",
      first_name: "Ada",
      public_metadata: { plan: "pro" },
    }]);
  });
});

Deno.test("createPostgrestStandIn() treats a configured sb_secret_ key as service_role", async () => {
  await withStandIn(async (standIn) => {
    const asBearer = await standIn.handler(rpc("sync_clerk_user", syncArgs(), bearer(SECRET_KEY)));
    assert.equal(await asBearer.json(), "applied");
    const asApikey = await standIn.handler(
      rpc("sync_clerk_user", syncArgs(), { apikey: SECRET_KEY }),
    );
    assert.equal(await asApikey.json(), "applied");
    const unknown = await standIn.handler(
      rpc("sync_clerk_user", syncArgs(), bearer("sb_secret_not_this_one")),
    );
    await expectError(unknown, 401, null, "Invalid API key");
  });
});

Deno.test("createPostgrestStandIn() answers anon 401 with SQLSTATE 42501", async () => {
  await withStandIn(async (standIn) => {
    const response = await standIn.handler(rpc("sync_clerk_user", syncArgs()));
    assert.equal(response.headers.get("www-authenticate"), "Bearer");
    const body = await expectError(response, 401, "42501");
    assert.match(String(body.message), /permission denied for function sync_clerk_user/);
    const anonToken = await roleJwt("anon", JWT_SECRET);
    const withToken = await standIn.handler(rpc("sync_clerk_user", syncArgs(), bearer(anonToken)));
    await expectError(withToken, 401, "42501");
  });
});

Deno.test("createPostgrestStandIn() answers an authenticated user 403 with 42501", async () => {
  await withStandIn(async (standIn) => {
    const token = await roleJwt("authenticated", JWT_SECRET, { sub: uniqueId("user") });
    const response = await standIn.handler(rpc("sync_clerk_user", syncArgs(), bearer(token)));
    await expectError(response, 403, "42501");
  });
});

Deno.test("createPostgrestStandIn() rejects a bad JWT with 401 PGRST301", async () => {
  await withStandIn(async (standIn) => {
    const forged = await signJwt({ role: "service_role" }, "not-the-project-secret-at-all-32+");
    const response = await standIn.handler(rpc("sync_clerk_user", syncArgs(), bearer(forged)));
    const body = await expectError(response, 401, "PGRST301", "No suitable key or wrong key type");
    assert.equal(body.details, "None of the keys was able to decode the JWT");
    assert.equal(
      response.headers.get("www-authenticate"),
      'Bearer error="invalid_token", error_description="No suitable key or wrong key type"',
    );
    // PostgREST's ErrorSpec "when token is complete but random characters".
    const random = await standIn.handler(rpc(
      "sync_clerk_user",
      syncArgs(),
      bearer("quifquirndsjagnrgniur.fonvoienqhhdj.iuqvnvhojah"),
    ));
    await expectError(random, 401, "PGRST301", "JWT cryptographic operation failed");
    const malformed = await standIn.handler(
      rpc("sync_clerk_user", syncArgs(), bearer("not-a-jwt")),
    );
    await expectError(malformed, 401, "PGRST301", "Expected 3 parts in JWT; got 1");
    const empty = await standIn.handler(
      rpc("sync_clerk_user", syncArgs(), { Authorization: "Bearer " }),
    );
    await expectError(empty, 401, "PGRST301", "Empty JWT is sent in Authorization header");
  });
});

Deno.test("createPostgrestStandIn() rejects an expired JWT with 401 PGRST303", async () => {
  await withStandIn(async (standIn) => {
    const expired = await roleJwt("service_role", JWT_SECRET, {}, -120);
    const response = await standIn.handler(rpc("sync_clerk_user", syncArgs(), bearer(expired)));
    await expectError(response, 401, "PGRST303", "JWT expired");
  });
});

Deno.test("createPostgrestStandIn() answers a role that does not exist with 401", async () => {
  await withStandIn(async (standIn) => {
    const token = await roleJwt(`ghost_${RUN}`, JWT_SECRET);
    const response = await standIn.handler(rpc("sync_clerk_user", syncArgs(), bearer(token)));
    await expectError(response, 401, "22023", `role "ghost_${RUN}" does not exist`);
  });
});

Deno.test("createPostgrestStandIn() answers an unknown function 404 PGRST202", async () => {
  await withStandIn(async (standIn) => {
    const token = await roleJwt("service_role", JWT_SECRET);
    const unknown = await standIn.handler(rpc("no_such_fn", { b: 1, a: 2 }, bearer(token)));
    const body = await expectError(
      unknown,
      404,
      "PGRST202",
      "Could not find the function public.no_such_fn(a, b) in the schema cache",
    );
    assert.equal(
      body.details,
      "Searched for the function public.no_such_fn with parameters a, b or with a single " +
        "unnamed json/jsonb parameter, but no matches were found in the schema cache.",
    );
    const wrongArgs = await standIn.handler(
      rpc("sync_clerk_user", { p_user: "x" }, bearer(token)),
    );
    const hinted = await expectError(wrongArgs, 404, "PGRST202");
    assert.equal(
      hinted.hint,
      "Perhaps you meant to call the function public.sync_clerk_user(p_event_type, " +
        "p_instance_id, p_occurred_at, p_profile, p_svix_id, p_user_id)",
    );
    const noArgs = await standIn.handler(rpc("no_such_fn", {}, bearer(token)));
    await expectError(
      noArgs,
      404,
      "PGRST202",
      "Could not find the function public.no_such_fn without parameters in the schema cache",
    );
  });
});

Deno.test("createPostgrestStandIn() passes the function's 22023 on as 400", async () => {
  await withStandIn(async (standIn) => {
    const token = await roleJwt("service_role", JWT_SECRET);
    const args = { ...syncArgs(), p_event_type: "user.banned" };
    const response = await standIn.handler(rpc("sync_clerk_user", args, bearer(token)));
    await expectError(response, 400, "22023", "unsupported event type: user.banned");
  });
});

Deno.test("createPostgrestStandIn() refuses what is not a JSON object call", async () => {
  await withStandIn(async (standIn) => {
    const token = await roleJwt("service_role", JWT_SECRET);
    await expectError(
      await standIn.handler(rpc("sync_clerk_user", "[1, 2]", bearer(token))),
      400,
      "PGRST102",
    );
    await expectError(
      await standIn.handler(rpc("sync_clerk_user", "{not json", bearer(token))),
      400,
      "PGRST102",
      "Empty or invalid json",
    );
    const table = new Request("http://stand-in.local/rest/v1/profiles", {
      method: "HEAD",
      headers: bearer(token),
    });
    await expectError(await standIn.handler(table), 404, "PGRST125");
    const get = new Request("http://stand-in.local/rest/v1/rpc/sync_clerk_user", {
      headers: bearer(token),
    });
    const getResponse = await standIn.handler(get);
    assert.equal(getResponse.headers.get("allow"), "POST");
    await expectError(getResponse, 405, "PGRST101", "Cannot use the GET method on RPC");
    const otherSchema = rpc("sync_clerk_user", syncArgs(), {
      ...bearer(token),
      "Content-Profile": "clerk_sync",
    });
    const schemaBody = await expectError(
      await standIn.handler(otherSchema),
      406,
      "PGRST106",
      "Invalid schema: clerk_sync",
    );
    assert.equal(schemaBody.hint, "Only the following schemas are exposed: public");
  });
});

Deno.test("createPostgrestStandIn() answers 503 PGRST002 when it never reached the database", async () => {
  const closedPort = `postgresql://authenticator@127.0.0.1:${freePort()}/postgres`;
  await withStandIn(async (standIn) => {
    const token = await roleJwt("service_role", JWT_SECRET);
    const response = await standIn.handler(rpc("sync_clerk_user", syncArgs(), bearer(token)));
    // Without a schema cache PostgREST cannot even plan the call (Error.hs NoSchemaCacheError).
    const body = await expectError(
      response,
      503,
      "PGRST002",
      "Could not query the database for the schema cache. Retrying.",
    );
    assert.equal(body.details, null);
    const table = await standIn.handler(
      tableRequest("DELETE", "profiles?user_id=eq.x", { headers: bearer(token) }),
    );
    await expectError(table, 503, "PGRST002");
  }, { databaseUrl: closedPort });
});

// The stand-in's database URL with server settings given at connection (they override the
// role's own, as a client's startup options do): a shorter server limit than the platform's 8 s.
function withServerSettings(settings: Record<string, string>): string {
  const url = new URL(roleUrl("authenticator"));
  for (const [name, value] of Object.entries(settings)) url.searchParams.set(name, value);
  return url.toString();
}

Deno.test("createPostgrestStandIn() runs service_role under authenticator's 8 s statement and lock timeouts", async () => {
  await withFixtureSchema(async (schema) => {
    await withStandIn(async (standIn) => {
      const seen = await (await standIn.handler(rpc("whoami", {}, bearer(SECRET_KEY)))).json();
      assert.equal(seen.role, "service_role");
      assert.equal(seen.statement_timeout, "8s");
      assert.equal(seen.lock_timeout, "8s");
    }, { schema });
  });
});

Deno.test("createPostgrestStandIn() answers a lock wait the server cancels 500 55P03, rolled back", async () => {
  await withFixtureSchema(async (schema) => {
    await withSql(async (sql) => {
      const holder = await sql.reserve();
      try {
        await holder`begin`;
        await holder.unsafe(`select * from ${schema}.locked for update`);
        await withStandIn(async (standIn) => {
          const started = performance.now();
          const response = await standIn.handler(rpc("touch_locked", {}, bearer(SECRET_KEY)));
          await expectError(response, 500, "55P03", "canceling statement due to lock timeout");
          assert.ok(performance.now() - started < 5000, "the server's limit, not the lock holder");
        }, { schema, databaseUrl: withServerSettings({ lock_timeout: "200ms" }) });
        await withStandIn(async (standIn) => {
          const response = await standIn.handler(rpc("touch_locked", {}, bearer(SECRET_KEY)));
          await expectError(response, 500, "57014", "canceling statement due to statement timeout");
        }, { schema, databaseUrl: withServerSettings({ statement_timeout: "200ms" }) });
      } finally {
        await holder`rollback`;
        holder.release();
      }
    });
  });
});

Deno.test("createPostgrestStandIn() answers 504 PGRST003 when no pool connection frees up in time", async () => {
  await withFixtureSchema(async (schema) => {
    await withStandIn(async (standIn) => {
      await (await standIn.handler(rpc("nap", { seconds: 0 }))).text();
      const busy = standIn.handler(rpc("nap", { seconds: 1.5 }));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = performance.now();
      const waited = await standIn.handler(rpc("nap", { seconds: 0 }));
      const ms = performance.now() - started;
      await expectError(
        waited,
        504,
        "PGRST003",
        "Timed out acquiring connection from connection pool.",
      );
      assert.ok(ms >= 250 && ms < 1300, `gave up after ${ms} ms`);
      assert.equal(await (await busy).json(), "rested");
      assert.equal(await (await standIn.handler(rpc("nap", { seconds: 0 }))).json(), "rested");
    }, { schema, poolSize: 1, poolAcquisitionTimeoutMs: 300 });
  });
});

Deno.test("createPostgrestStandIn() sets role, claims and request settings like PostgREST", async () => {
  await withFixtureSchema(async (schema) => {
    await withStandIn(async (standIn) => {
      const sub = uniqueId("user");
      const token = await roleJwt("authenticated", JWT_SECRET, { sub });
      const response = await standIn.handler(rpc("whoami", {}, {
        ...bearer(token),
        "X-Test": "hello",
        Cookie: "session=abc; theme=dark",
      }));
      assert.equal(response.status, 200);
      const seen = await response.json();
      assert.equal(seen.role, "authenticated");
      assert.equal(seen.claims.sub, sub);
      assert.equal(seen.claims.role, "authenticated");
      assert.equal(seen.method, "POST");
      assert.equal(seen.path, "/rpc/whoami");
      assert.equal(seen.header, "hello");
      assert.equal(seen.cookie, "abc");
      assert.equal(seen.statement_timeout, "8s", "the impersonated role's settings apply");
      assert.equal(seen.read_only, "on", "a STABLE function runs READ ONLY");

      const anon = await (await standIn.handler(rpc("whoami", {}))).json();
      assert.equal(anon.role, "anon");
      assert.deepEqual(anon.claims, { role: "anon" });
      assert.equal(anon.statement_timeout, "3s");
    }, { schema });
  });
});

// A superuser connection: supabase_admin where the cluster has it (as on the platform), else
// DATABASE_URL's role.
async function withSuperuser<T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const [{ admin }] = await withSql((sql) =>
    sql`select exists(select from pg_roles where rolname = 'supabase_admin' and rolsuper) as admin`
  );
  const sql = postgres(admin ? roleUrl("supabase_admin") : databaseUrl(), {
    max: 1,
    onnotice: () => {},
  });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

Deno.test("createPostgrestStandIn() sets the role's settings before the role, so GRANT SET ON PARAMETER to authenticator works", async () => {
  await withFixtureSchema(async (schema) => {
    const role = `standin_role_${RUN}`;
    await withSuperuser((sql) =>
      sql.unsafe(`
        create role ${role} nologin;
        grant ${role} to authenticator;
        grant usage on schema ${schema}, auth to ${role};
        alter role ${role} set log_min_duration_statement = '12345';
        alter role ${role} set statement_timeout = '7s';
        grant set on parameter log_min_duration_statement to authenticator;`)
    );
    try {
      await withStandIn(async (standIn) => {
        const token = await roleJwt(role, JWT_SECRET);
        const response = await standIn.handler(rpc("whoami", {}, bearer(token)));
        assert.equal(response.status, 200, await response.clone().text());
        const seen = await response.json();
        assert.equal(seen.role, role);
        assert.equal(seen.statement_timeout, "7s");
        assert.equal(seen.log_min_duration_statement, "12345ms");
      }, { schema });
    } finally {
      await withSuperuser((sql) =>
        sql.unsafe(`
          revoke set on parameter log_min_duration_statement from authenticator;
          drop owned by ${role};
          drop role ${role};`)
      );
    }
  });
});

Deno.test("createPostgrestStandIn() leaves the Cookie header out of request.headers, as PostgREST does", async () => {
  await withFixtureSchema(async (schema) => {
    await withStandIn(async (standIn) => {
      const response = await standIn.handler(rpc("whoami", {}, {
        "X-Test": "hello",
        Cookie: "session=abc; theme=dark",
      }));
      const seen = await response.json();
      assert.equal(seen.header, "hello");
      assert.equal(seen.cookie, "abc", "cookies arrive as request.cookies");
      assert.equal(seen.cookie_header, null);
    }, { schema });
  });
});

Deno.test("createPostgrestStandIn() returns at most db-max-rows rows of a set-returning call", async () => {
  assert.equal(configMaxRows(), 1000, "supabase/config.toml [api] max_rows");
  await withFixtureSchema(async (schema) => {
    await withStandIn(async (standIn) => {
      const rows = await (await standIn.handler(rpc("many", { n: 1001 }))).json();
      assert.equal(rows.length, 1000);
      assert.deepEqual(rows[999], { i: 1000, label: "n1000" });
    }, { schema });
    await withStandIn(async (standIn) => {
      assert.deepEqual(await (await standIn.handler(rpc("many", { n: 5 }))).json(), [
        { i: 1, label: "n1" },
        { i: 2, label: "n2" },
      ]);
      assert.deepEqual(await (await standIn.handler(rpc("numbers", {}))).json(), [1, 2]);
      assert.equal(await (await standIn.handler(rpc("add_them", { a: 2 }))).json(), 3);
    }, { schema, maxRows: 2 });
    await withStandIn(async (standIn) => {
      const rows = await (await standIn.handler(rpc("many", { n: 1001 }))).json();
      assert.equal(rows.length, 1001);
    }, { schema, maxRows: null });
  });
});

Deno.test("createPostgrestStandIn() answers 520 and 502 as the gateway does: an HTML page", async () => {
  const faults: (GatewayFault | null)[] = [520, 502, null];
  await withStandIn(async (standIn) => {
    const supabase = createClient("https://abcdefghij.supabase.co", SECRET_KEY, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      global: { fetch: (input, init) => standIn.handler(new Request(input, init)) },
    });
    const userId = uniqueId("user");
    const args = { ...syncArgs(userId), p_event_type: "user.created" };
    for (
      const [status, title] of [[520, "Web server is returning an unknown error"], [
        502,
        "Bad gateway",
      ]] as const
    ) {
      const answer = await supabase.rpc("sync_clerk_user", args);
      assert.equal(answer.status, status);
      assert.equal(answer.data, null);
      assert.equal(answer.error?.code, undefined, "not a PostgREST body: supabase-js has no code");
      assert.match(
        answer.error?.message ?? "",
        new RegExp(
          `^<!DOCTYPE html>[\\s\\S]*<title>abcdefghij\\.supabase\\.co \\| ${status}: ${title}</title>`,
        ),
      );
    }
    const passed = await supabase.rpc("sync_clerk_user", args);
    assert.deepEqual([passed.status, passed.data], [200, "applied"], "the call went through");
  }, { gatewayFault: () => faults.shift() ?? null });
});

Deno.test("createPostgrestStandIn() shapes results as PostgREST does", async () => {
  await withFixtureSchema(async (schema) => {
    await withStandIn(async (standIn) => {
      const call = async (fn: string, args: unknown) => await standIn.handler(rpc(fn, args));
      assert.equal(await (await call("add_them", { a: 2 })).json(), 3, "defaults apply");
      assert.equal(await (await call("add_them", { a: 2, b: 5 })).json(), 7);
      assert.deepEqual(await (await call("numbers", {})).json(), [1, 2, 3]);
      const voided = await call("noop", {});
      assert.equal(voided.status, 204);
      assert.equal(await voided.text(), "");
      await expectError(await call("add_them", { b: 1 }), 404, "PGRST202");
      await expectError(await call("pick", { a: 1 }), 300, "PGRST203");
    }, { schema });
  });
});

Deno.test("createPostgrestStandIn() maps raised SQLSTATEs to PostgREST's statuses", async () => {
  await withFixtureSchema(async (schema) => {
    await withStandIn(async (standIn) => {
      const token = await roleJwt("service_role", JWT_SECRET);
      const call = async (fn: string) => await standIn.handler(rpc(fn, {}, bearer(token)));
      const raised = await expectError(await call("just_fail"), 400, "P0001", "I refuse!");
      assert.equal(raised.details, "Pretty simple");
      assert.equal(raised.hint, "Nothing to do.");
      await expectError(await call("conflict"), 409, "23505", "already there");
      await expectError(await call("slow"), 500, "57014", /statement timeout/);
      await expectError(await call("sneaky_write"), 405, "25006", /read-only transaction/);
      const raise = async (code: string) =>
        await standIn.handler(rpc("raise_code", { code }, bearer(token)));
      // Raised by a function, these are server errors like any other: only 57P01 is 503.
      await expectError(await raise("57P01"), 503, "57P01", "raised 57P01");
      for (const code of ["57P02", "57P03", "55P03", "53400", "PTABC"]) {
        await expectError(await raise(code), 500, code, `raised ${code}`);
      }
      await expectError(await raise("53300"), 503, "53300");
      await expectError(await raise("PT418"), 418, "PT418");
    }, { schema });
  });
});

Deno.test("createPostgrestStandIn() rejects like fetch when the request is aborted", async () => {
  await withFixtureSchema(async (schema) => {
    await withStandIn(async (standIn) => {
      const controller = new AbortController();
      const pending = standIn.handler(rpc("nap", { seconds: 0.3 }, {}, {
        signal: controller.signal,
      }));
      controller.abort(new DOMException("gave up", "AbortError"));
      await assert.rejects(pending, (error: Error) => error.name === "AbortError");
      const finished = await standIn.handler(rpc("nap", { seconds: 0 }));
      assert.equal(await finished.json(), "rested");
    }, { schema });
  });
});

Deno.test("createPostgrestStandIn() answers 503 while the database restarts", async () => {
  const cluster = await startCluster();
  const standIn = createPostgrestStandIn({
    databaseUrl: cluster.urlFor("authenticator"),
    jwtSecret: JWT_SECRET,
    secretKeys: [SECRET_KEY],
  });
  try {
    const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`
        create function public.nap(seconds float8) returns text language sql
          as $$ select pg_sleep(seconds)::text || 'rested' $$;
        grant execute on function public.nap(float8) to service_role;`);
      const inFlight = standIn.handler(rpc("nap", { seconds: 30 }, bearer(SECRET_KEY)));
      for (let i = 0; i < 100; i++) {
        const [{ running }] = await admin`
          select count(*)::int as running from pg_stat_activity
           where application_name = 'postgrest-stand-in' and query like '%nap%'
             and state = 'active'`;
        if (running > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await admin.end();
      await cluster.stop();
      const cut = await inFlight;
      assert.equal(cut.status, 503, await cut.clone().text());
      assert.match(String((await cut.json()).code), /^(57P01|PGRST001)$/);
    } finally {
      await admin.end();
    }

    const down = await standIn.handler(rpc("nap", { seconds: 0 }, bearer(SECRET_KEY)));
    await expectError(down, 503, "PGRST000");

    await cluster.start();
    const back = await standIn.handler(rpc("nap", { seconds: 0 }, bearer(SECRET_KEY)));
    assert.equal(await back.json(), "rested");
  } finally {
    await standIn.close();
    await cluster.destroy();
  }
});

// A request to a table route, as supabase-js sends it (`Content-Profile` and JSON for writes).
function tableRequest(
  method: "POST" | "DELETE" | "PATCH",
  path: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
): Request {
  return new Request(`http://stand-in.local/rest/v1/${path}`, {
    method,
    headers: {
      "Content-Type": "application/json",
      "Content-Profile": "public",
      ...options.headers,
    },
    body: options.body === undefined
      ? undefined
      : typeof options.body === "string"
      ? options.body
      : JSON.stringify(options.body),
  });
}

function profileRow(userId: string, firstName = "Ada") {
  return {
    user_id: userId,
    email: "ada@example.com",
    first_name: firstName,
    public_metadata: { plan: "pro" },
    clerk_updated_at: "2026-01-01T00:00:00.000Z",
  };
}

async function profileNames(ids: string[]): Promise<Record<string, string | null>> {
  const rows = await withSql((sql) =>
    sql`select user_id, first_name from public.profiles where user_id = any(${ids})`
  );
  return Object.fromEntries(rows.map((r) => [r.user_id, r.first_name]));
}

Deno.test("createPostgrestStandIn() upserts a row: 201 when inserted, 200 when merged", async () => {
  await withStandIn(async (standIn) => {
    const id = uniqueId("user");
    const headers = { ...bearer(SECRET_KEY), Prefer: "resolution=merge-duplicates" };
    const inserted = await standIn.handler(
      tableRequest("POST", "profiles", { body: profileRow(id), headers }),
    );
    assert.equal(inserted.status, 201);
    assert.equal(await inserted.text(), "", "return=minimal is the default: no body");
    assert.equal(inserted.headers.get("content-range"), "*/*");
    assert.equal(inserted.headers.get("preference-applied"), "resolution=merge-duplicates");

    const merged = await standIn.handler(tableRequest("POST", "profiles?on_conflict=user_id", {
      body: profileRow(id, "Grace"),
      headers: { ...headers, Prefer: "resolution=merge-duplicates, return=minimal" },
    }));
    assert.equal(merged.status, 200, await merged.clone().text());
    assert.equal(await merged.text(), "");
    assert.deepEqual(await profileNames([id]), { [id]: "Grace" });
    const [row] = await withSql((sql) =>
      sql`select email, public_metadata, clerk_updated_at from public.profiles where user_id = ${id}`
    );
    assert.deepEqual(row.public_metadata, { plan: "pro" });
    assert.equal(row.clerk_updated_at.toISOString(), "2026-01-01T00:00:00.000Z");
  });
});

Deno.test("createPostgrestStandIn() inserts without resolution and answers a duplicate 409", async () => {
  await withStandIn(async (standIn) => {
    const id = uniqueId("user");
    const post = (firstName: string, prefer?: string) =>
      standIn.handler(tableRequest("POST", "profiles", {
        body: profileRow(id, firstName),
        headers: { ...bearer(SECRET_KEY), ...(prefer ? { Prefer: prefer } : {}) },
      }));
    const first = await post("Ada");
    assert.equal(first.status, 201);
    await first.body?.cancel();
    await expectError(await post("Grace"), 409, "23505", /duplicate key value/);
    const ignored = await post("Grace", "resolution=ignore-duplicates");
    assert.equal(ignored.status, 201);
    await ignored.body?.cancel();
    assert.deepEqual(await profileNames([id]), { [id]: "Ada" }, "ignore-duplicates keeps the row");
  });
});

Deno.test("createPostgrestStandIn() deletes only the rows its filter matches (204)", async () => {
  await withStandIn(async (standIn) => {
    const [gone, kept, alsoGone] = [uniqueId("user"), uniqueId("user"), uniqueId("user")];
    await withSql((sql) =>
      sql`insert into public.profiles (user_id, first_name, clerk_updated_at)
          select id, 'Ada', now() from unnest(${[gone, kept, alsoGone]}::text[]) as id`
    );
    const deleted = await standIn.handler(
      tableRequest("DELETE", `profiles?user_id=eq.${gone}`, { headers: bearer(SECRET_KEY) }),
    );
    assert.equal(deleted.status, 204);
    assert.equal(await deleted.text(), "");
    assert.deepEqual(await profileNames([gone, kept, alsoGone]), {
      [kept]: "Ada",
      [alsoGone]: "Ada",
    });

    const returned = await standIn.handler(tableRequest(
      "DELETE",
      `profiles?user_id=in.(${alsoGone},nobody)&first_name=not.is.null`,
      { headers: { ...bearer(SECRET_KEY), Prefer: "return=representation" } },
    ));
    assert.equal(returned.status, 200);
    const rows = await returned.json();
    assert.deepEqual(rows.map((r: { user_id: string }) => r.user_id), [alsoGone]);
    assert.deepEqual(await profileNames([gone, kept, alsoGone]), { [kept]: "Ada" });
  });
});

Deno.test("createPostgrestStandIn() returns written rows with Prefer: return=representation", async () => {
  await withStandIn(async (standIn) => {
    const ids = [uniqueId("user"), uniqueId("user")];
    const response = await standIn.handler(tableRequest("POST", "profiles?select=*", {
      body: ids.map((id) => profileRow(id)),
      headers: {
        ...bearer(SECRET_KEY),
        Prefer: "resolution=merge-duplicates,return=representation",
      },
    }));
    assert.equal(response.status, 201);
    assert.equal(response.headers.get("content-type"), "application/json; charset=utf-8");
    const rows = await response.json();
    assert.deepEqual(rows.map((r: { user_id: string }) => r.user_id).sort(), [...ids].sort());
    assert.equal(rows[0].phone, null, "every column comes back");
  });
});

Deno.test("createPostgrestStandIn() answers an unknown column 400 PGRST204, writing nothing", async () => {
  await withStandIn(async (standIn) => {
    const id = uniqueId("user");
    const response = await standIn.handler(tableRequest("POST", "profiles", {
      body: { ...profileRow(id), nickname: "ada" },
      headers: { ...bearer(SECRET_KEY), Prefer: "resolution=merge-duplicates" },
    }));
    await expectError(
      response,
      400,
      "PGRST204",
      "Could not find the 'nickname' column of 'profiles' in the schema cache",
    );
    const badFilter = await standIn.handler(
      tableRequest("DELETE", "profiles?nickname=eq.ada", { headers: bearer(SECRET_KEY) }),
    );
    await expectError(badFilter, 400, "42703", /column profiles.nickname does not exist/);
    assert.deepEqual(await profileNames([id]), {});
  });
});

Deno.test("createPostgrestStandIn() writes a table in one transaction per request", async () => {
  await withStandIn(async (standIn) => {
    const id = uniqueId("user");
    const response = await standIn.handler(tableRequest("POST", "profiles", {
      body: [profileRow(id), profileRow("")],
      headers: { ...bearer(SECRET_KEY), Prefer: "resolution=merge-duplicates" },
    }));
    await expectError(response, 400, "23514", /profiles_user_id_check/);
    assert.deepEqual(await profileNames([id]), {}, "the valid row was rolled back with the other");
  });
});

Deno.test("createPostgrestStandIn() does not let anon or a user write profiles", async () => {
  await withStandIn(async (standIn) => {
    const id = uniqueId("user");
    const upsert = (headers: Record<string, string>) =>
      standIn.handler(tableRequest("POST", "profiles", {
        body: profileRow(id),
        headers: { ...headers, Prefer: "resolution=merge-duplicates" },
      }));
    const anon = await expectError(await upsert({}), 401, "42501");
    assert.match(String(anon.message), /permission denied for table profiles/);
    const anonToken = await roleJwt("anon", JWT_SECRET);
    await expectError(await upsert(bearer(anonToken)), 401, "42501");
    const userToken = await roleJwt("authenticated", JWT_SECRET, { sub: id });
    await expectError(await upsert(bearer(userToken)), 403, "42501");
    assert.deepEqual(await profileNames([id]), {});

    await withSql((sql) =>
      sql`insert into public.profiles (user_id, first_name, clerk_updated_at)
          values (${id}, 'Ada', now())`
    );
    const anonDelete = await standIn.handler(
      tableRequest("DELETE", `profiles?user_id=eq.${id}`, { headers: bearer(anonToken) }),
    );
    await expectError(anonDelete, 401, "42501");
    assert.deepEqual(await profileNames([id]), { [id]: "Ada" });
  });
});

Deno.test("createPostgrestStandIn() refuses a DELETE without a filter as safeupdate does", async () => {
  await withStandIn(async (standIn) => {
    const id = uniqueId("user");
    await withSql((sql) =>
      sql`insert into public.profiles (user_id, first_name, clerk_updated_at)
          values (${id}, 'Ada', now())`
    );
    const response = await standIn.handler(
      tableRequest("DELETE", "profiles", { headers: bearer(SECRET_KEY) }),
    );
    await expectError(response, 400, "21000", "DELETE requires a WHERE clause");
    assert.deepEqual(await profileNames([id]), { [id]: "Ada" });
  });
});

Deno.test("createPostgrestStandIn() answers what it does not serve on tables", async () => {
  await withStandIn(async (standIn) => {
    const headers = bearer(SECRET_KEY);
    await expectError(
      await standIn.handler(tableRequest("POST", "no_such_table", { body: {}, headers })),
      404,
      "PGRST205",
      "Could not find the table 'public.no_such_table' in the schema cache",
    );
    await expectError(
      await standIn.handler(tableRequest("DELETE", "profiles?user_id=like.user_*", { headers })),
      400,
      "PGRST100",
      "failed to parse filter (like.user_*)",
    );
    await expectError(
      await standIn.handler(tableRequest("DELETE", "profiles?user_id=eq.x&limit=1", { headers })),
      400,
      "PGRST100",
    );
    await expectError(
      await standIn.handler(tableRequest("POST", "profiles", { body: "[1]", headers })),
      400,
      "PGRST102",
      "Empty or invalid json",
    );
    await expectError(
      await standIn.handler(tableRequest("POST", "profiles", {
        body: [{ user_id: "a" }, { user_id: "b", email: "b@example.com" }],
        headers,
      })),
      400,
      "PGRST102",
      "All object keys must match",
    );
    await expectError(
      await standIn.handler(tableRequest("PATCH", "profiles?user_id=eq.x", { body: {}, headers })),
      404,
      "PGRST125",
    );
  });
});

Deno.test("createPostgrestStandIn() serves supabase-js .upsert() and .delete().eq()", async () => {
  await withStandIn(async (standIn) => {
    const supabase = createClient("http://stand-in.local", SECRET_KEY, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      global: { fetch: (input, init) => standIn.handler(new Request(input, init)) },
    });
    const id = uniqueId("user");
    const created = await supabase.from("profiles").upsert(profileRow(id));
    assert.equal(created.error, null);
    assert.equal(created.status, 201);
    const updated = await supabase.from("profiles").upsert(profileRow(id, "Grace"), {
      onConflict: "user_id",
    });
    assert.equal(updated.error, null);
    assert.equal(updated.status, 200);
    assert.deepEqual(await profileNames([id]), { [id]: "Grace" });
    const deleted = await supabase.from("profiles").delete().eq("user_id", id);
    assert.equal(deleted.error, null);
    assert.equal(deleted.status, 204);
    assert.deepEqual(await profileNames([id]), {});
    const unknown = await supabase.from("profiles").upsert({ ...profileRow(id), nickname: "x" });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.error?.code, "PGRST204");
  });
});

// ---- Third-party auth (Supabase's Clerk integration) and reads ----

const CLERK = await generateSigningKey();

/** An RSA key pair for `hash`, and its public JWK with `kid` and no `alg`. */
async function rsaKey(hash: "SHA-384" | "SHA-512", kid: string) {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash,
    },
    true,
    ["sign", "verify"],
  );
  const { n, e } = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const jwk: JsonWebKey & { kid: string } = { kty: "RSA", n, e, kid, use: "sig" };
  return { privateKey: pair.privateKey, jwk };
}

function sessionClaims(sub: string): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { sub, iat: now, nbf: now - 5, exp: now + 60, role: "authenticated" };
}

function refusal(verified: Awaited<ReturnType<typeof verifyJwt>>) {
  return verified.ok ? "ok" : `${verified.code} ${verified.message} | ${verified.details}`;
}

function read(
  path: string,
  headers: Record<string, string> = {},
  schema = "public",
): Request {
  return new Request(`http://stand-in.local/rest/v1/${path}`, {
    method: "GET",
    headers: { "Accept-Profile": schema, ...headers },
  });
}

// A stand-in of a project whose third-party auth trusts the CLERK instance.
function withClerk(
  fn: (standIn: PostgrestStandIn) => Promise<void>,
  options: Partial<PostgrestStandInOptions> = {},
): Promise<void> {
  return withStandIn(fn, { thirdPartyKeys: [CLERK.jwk], ...options });
}

Deno.test("verifyJwt() accepts a Clerk session token signed by a trusted instance key (RS256)", async () => {
  const keys = [CLERK.jwk, secretJwk(JWT_SECRET)];
  const token = await mintSessionToken(CLERK, "user_2verify");
  const verified = await verifyJwt(token, keys);
  assert.equal(verified.ok, true, refusal(verified));
  assert.equal(verified.ok && verified.claims.sub, "user_2verify");
  assert.equal(verified.ok && verified.claims.role, "authenticated");
  assert.equal(refusal(await verifyJwt(await roleJwt("anon", JWT_SECRET), keys)), "ok");
  assert.equal(
    refusal(await verifyJwt(token, JWT_SECRET)),
    "PGRST301 No suitable key or wrong key type | No suitable key was found to decode the JWT",
    "without third-party keys, only the secret is trusted",
  );
});

Deno.test("verifyJwt() verifies RS384 and RS512 with a key whose alg allows them", async () => {
  for (const [alg, hash] of [["RS384", "SHA-384"], ["RS512", "SHA-512"]] as const) {
    const unpinned = await rsaKey(hash, `ins_${alg}_a`);
    const pinned = { ...unpinned, jwk: { ...unpinned.jwk, kid: `ins_${alg}_b`, alg } };
    // Clerk's JWKS pins its keys to RS256: jose-jwt's algCompatible then refuses other algs.
    const pinnedOther = {
      ...unpinned,
      jwk: { ...unpinned.jwk, kid: `ins_${alg}_c`, alg: "RS256" },
    };
    const keys = [unpinned.jwk, pinned.jwk, pinnedOther.jwk];
    const sign = (key: { privateKey: CryptoKey; jwk: { kid: string } }) =>
      signJws({ alg, kid: key.jwk.kid, typ: "JWT" }, sessionClaims("user_2rs"), key.privateKey);
    assert.equal(refusal(await verifyJwt(await sign(unpinned), keys)), "ok", `${alg} no alg`);
    assert.equal(refusal(await verifyJwt(await sign(pinned), keys)), "ok", `${alg} pinned`);
    assert.equal(
      refusal(await verifyJwt(await sign(pinnedOther), keys)),
      "PGRST301 No suitable key or wrong key type | No suitable key was found to decode the JWT",
      `${alg} with a key pinned to RS256`,
    );
  }
});

Deno.test("verifyJwt() picks keys by kid, alg and type as PostgREST (jose-jwt) does", async () => {
  const other = await generateSigningKey();
  const sameKid = await generateSigningKey(CLERK.kid);
  const keys = [CLERK.jwk, other.jwk, secretJwk(JWT_SECRET)];
  const noSuitable =
    "PGRST301 No suitable key or wrong key type | No suitable key was found to decode the JWT";
  const noneVerifies =
    "PGRST301 No suitable key or wrong key type | None of the keys was able to decode the JWT";

  const untrusted = await mintSessionToken(await generateSigningKey(), "user_2kid");
  assert.equal(refusal(await verifyJwt(untrusted, keys)), noSuitable, "an unknown kid");
  const impostor = await mintSessionToken(sameKid, "user_2kid");
  assert.equal(refusal(await verifyJwt(impostor, keys)), noneVerifies, "a trusted kid, wrong key");
  // PostgREST#3598: without a kid, every key that fits is tried.
  const withoutKid = await mintSessionToken(other, "user_2kid", { header: { kid: undefined } });
  assert.equal(refusal(await verifyJwt(withoutKid, keys)), "ok", "no kid, the second key fits");
  const nullKid = await mintSessionToken(other, "user_2kid", { header: { kid: null } });
  assert.equal(refusal(await verifyJwt(nullKid, keys)), "ok", "a null kid is no kid");
  // The secret's JWK has no kid: an HS256 token naming one finds no key.
  const hsWithKid = await signJws({ alg: "HS256", kid: CLERK.kid }, sessionClaims("u"), JWT_SECRET);
  assert.equal(refusal(await verifyJwt(hsWithKid, keys)), noSuitable, "HS256 with a kid");
  const hs384 = await signJws({ alg: "HS384" }, sessionClaims("u"), JWT_SECRET);
  assert.equal(refusal(await verifyJwt(hs384, keys)), "ok", "the secret has no alg: HS384 too");
  const hsWithRsaKey = await forgedToken("HS256", "user_2kid", CLERK.kid);
  assert.equal(refusal(await verifyJwt(hsWithRsaKey, keys)), noSuitable, "HS256 for an RSA kid");
  const encryptionKey = { ...CLERK.jwk, use: "enc" };
  const token = await mintSessionToken(CLERK, "user_2kid");
  assert.equal(refusal(await verifyJwt(token, [encryptionKey])), noSuitable, "use: enc");
});

Deno.test("verifyJwt() refuses what does not decode as PostgREST does", async () => {
  const keys = [CLERK.jwk, secretJwk(JWT_SECRET)];
  const b64 = (value: unknown) =>
    btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  const cryptoFailed = "PGRST301 JWT cryptographic operation failed | null";
  // PostgREST's ErrorSpec "when token with algorithm 'none' is used".
  assert.equal(
    refusal(await verifyJwt(await forgedToken("none", "user_2x", CLERK.kid), keys)),
    "PGRST301 Wrong or unsupported encoding algorithm | " +
      "JWT is unsecured but expected 'alg' was not 'none'",
  );
  const [, payload, signature] = (await mintSessionToken(CLERK, "user_2x")).split(".");
  for (
    const header of [
      { alg: "PS256", kid: CLERK.kid },
      { alg: "RS256", kid: 7 },
      { alg: "RS256", typ: ["JWT"] },
      { alg: "RSA-OAEP", enc: "A256GCM" },
      ["RS256"],
    ]
  ) {
    const token = `${b64(header)}.${payload}.${signature}`;
    assert.equal(refusal(await verifyJwt(token, keys)), cryptoFailed, JSON.stringify(header));
  }
  assert.equal(
    refusal(await verifyJwt(`${b64({ alg: "RS256" })}=.${payload}.${signature}`, keys)),
    cryptoFailed,
  );
  assert.equal(
    refusal(await verifyJwt(`a.b`, keys)),
    "PGRST301 Expected 3 parts in JWT; got 2 | null",
  );
  assert.equal(
    refusal(await verifyJwt("", keys)),
    "PGRST301 Empty JWT is sent in Authorization header | null",
  );
  const notObject = await signJws(
    { alg: "HS256" },
    [1] as unknown as Record<string, unknown>,
    JWT_SECRET,
  );
  assert.equal(refusal(await verifyJwt(notObject, keys)), "PGRST303 Parsing claims failed | null");
});

Deno.test("createPostgrestStandIn() runs a trusted Clerk session token as its role claim", async () => {
  await withFixtureSchema(async (schema) => {
    await withClerk(async (standIn) => {
      const token = await mintSessionToken(CLERK, "user_2clerkRole", {
        claims: { o: { id: "org_1" } },
      });
      const seen = await (await standIn.handler(rpc("whoami", {}, bearer(token)))).json();
      assert.equal(seen.role, "authenticated");
      assert.equal(seen.claims.sub, "user_2clerkRole");
      assert.deepEqual(seen.claims.o, { id: "org_1" });
      assert.equal(seen.claims.iss, "https://clerk.local.test");

      const viewed = await standIn.handler(read("session", bearer(token), schema));
      assert.equal(viewed.status, 200);
      const [session] = await viewed.json();
      assert.equal(session.role, "authenticated");
      assert.equal(session.read_only, "on", "a read runs in a READ ONLY transaction");
      assert.equal(session.claims.sub, "user_2clerkRole");

      // The project's own HS256 tokens keep working beside the third-party key.
      const service = await roleJwt("service_role", JWT_SECRET);
      const asService = await (await standIn.handler(rpc("whoami", {}, bearer(service)))).json();
      assert.equal(asService.role, "service_role");
    }, { schema });
  });
});

Deno.test("createPostgrestStandIn() runs a Clerk token without the role claim as anon, as PostgREST does", async () => {
  await withFixtureSchema(async (schema) => {
    await withClerk(async (standIn) => {
      // The Clerk instance is not set up for Supabase: its tokens carry no `role`.
      const token = await mintSessionToken(CLERK, "user_2noRole", { claims: { role: undefined } });
      const seen = await (await standIn.handler(rpc("whoami", {}, bearer(token)))).json();
      assert.equal(seen.role, "anon");
      assert.equal(seen.claims.role, "anon", "request.jwt.claims gets the role PostgREST used");
      assert.equal(seen.claims.sub, "user_2noRole");
      const numeric = await mintSessionToken(CLERK, "user_2numRole", { claims: { role: 7 } });
      await expectError(
        await standIn.handler(rpc("whoami", {}, bearer(numeric))),
        401,
        "22023",
        'role "7" does not exist',
      );
    }, { schema });
  });
  await withClerk(async (standIn) => {
    const token = await mintSessionToken(CLERK, "user_2noRole", { claims: { role: undefined } });
    const organizations = await standIn.handler(read("organizations", bearer(token)));
    assert.equal(organizations.headers.get("www-authenticate"), "Bearer");
    await expectError(organizations, 401, "42501", "permission denied for table organizations");
  });
});

Deno.test("createPostgrestStandIn() refuses untrusted and out-of-time Clerk tokens 401 with WWW-Authenticate", async () => {
  await withClerk(async (standIn) => {
    const now = Math.floor(Date.now() / 1000);
    const ask = (token: string) => standIn.handler(read("profiles?select=user_id", bearer(token)));
    const expectRefusal = async (
      token: string,
      code: string,
      message: string,
      details: string | null = null,
    ) => {
      const response = await ask(token);
      const body = await expectError(response, 401, code, message);
      assert.equal(body.details, details);
      assert.equal(
        response.headers.get("www-authenticate"),
        `Bearer error="invalid_token", error_description="${message}"`,
      );
    };
    const otherInstance = await generateSigningKey();
    await expectRefusal(
      await mintSessionToken(otherInstance, "user_2other"),
      "PGRST301",
      "No suitable key or wrong key type",
      "No suitable key was found to decode the JWT",
    );
    await expectRefusal(
      await mintSessionToken(await generateSigningKey(CLERK.kid), "user_2forged"),
      "PGRST301",
      "No suitable key or wrong key type",
      "None of the keys was able to decode the JWT",
    );
    // Clerk's tokens live 60 s; PostgREST allows 30 s of skew past `exp`.
    await expectRefusal(
      await mintSessionToken(CLERK, "user_2late", { issuedAt: now - 100 }),
      "PGRST303",
      "JWT expired",
    );
    const withinSkew = await ask(
      await mintSessionToken(CLERK, "user_2skew", { issuedAt: now - 80 }),
    );
    assert.equal(withinSkew.status, 200, await withinSkew.clone().text());
    assert.deepEqual(await withinSkew.json(), []);
    await expectRefusal(
      await mintSessionToken(CLERK, "user_2early", { issuedAt: now + 100 }),
      "PGRST303",
      "JWT not yet valid",
    );
    await expectRefusal(
      await mintSessionToken(CLERK, "user_2future", {
        issuedAt: now + 100,
        claims: { nbf: undefined },
      }),
      "PGRST303",
      "JWT issued at future",
    );
  });
});

Deno.test("createPostgrestStandIn() trusts only the third-party key types it models", () => {
  assert.throws(
    () =>
      createPostgrestStandIn({
        databaseUrl: "postgresql://authenticator@127.0.0.1:1/postgres",
        jwtSecret: JWT_SECRET,
        thirdPartyKeys: [{ kty: "EC", crv: "P-256", x: "x", y: "y" }],
      }),
    /only RSA public keys are modelled, got kty "EC"/,
  );
});

Deno.test("createPostgrestStandIn() reads a table: select, filters, order, limit and offset", async () => {
  await withFixtureSchema(async (schema) => {
    await withStandIn(async (standIn) => {
      const get = (path: string) => standIn.handler(read(path, bearer(SECRET_KEY), schema));
      const all = await get("people?order=id.asc");
      assert.equal(all.status, 200);
      assert.equal(all.headers.get("content-type"), "application/json; charset=utf-8");
      assert.equal(all.headers.get("content-range"), "0-2/*");
      assert.deepEqual(await all.json(), [
        { id: 1, name: "Ada", team: "red", nickname: null },
        { id: 2, name: "Grace", team: "blue", nickname: "Amazing" },
        { id: 3, name: "Alan", team: "red", nickname: null },
      ]);

      const shaped = await get("people?select=name,squad:team&team=eq.red&order=name.desc");
      assert.deepEqual(await shaped.json(), [
        { name: "Alan", squad: "red" },
        { name: "Ada", squad: "red" },
      ]);
      const page = await get("people?select=id&order=id.desc&limit=1&offset=1");
      assert.equal(page.headers.get("content-range"), "1-1/*");
      assert.deepEqual(await page.json(), [{ id: 2 }]);
      const nulls = await get("people?select=id&order=nickname.desc.nullslast,id.asc");
      assert.deepEqual(await nulls.json(), [{ id: 2 }, { id: 1 }, { id: 3 }]);
      const filtered = await get("people?select=id&id=in.(1,3)&nickname=is.null&id=not.eq.3");
      assert.deepEqual(await filtered.json(), [{ id: 1 }]);
      const typed = await get("people?select=id&id=gt.2");
      assert.deepEqual(await typed.json(), [{ id: 3 }], "values are read as the column's type");
      const none = await get("people?id=eq.99");
      assert.equal(none.headers.get("content-range"), "*/*");
      assert.deepEqual(await none.json(), []);
      const ignored = await get("people?select=id&order=id.asc&limit=many");
      assert.deepEqual(await ignored.json(), [{ id: 1 }, { id: 2 }, { id: 3 }], "readMaybe");
      const stripped = await standIn.handler(read(
        "people?select=id,nickname&id=lt.3&order=id.asc",
        { ...bearer(SECRET_KEY), Accept: "application/vnd.pgrst.array+json;nulls=stripped" },
        schema,
      ));
      assert.equal(
        stripped.headers.get("content-type"),
        "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8",
      );
      assert.deepEqual(await stripped.json(), [{ id: 1 }, { id: 2, nickname: "Amazing" }]);
    }, { schema });
  });
});

Deno.test("createPostgrestStandIn() answers an unknown column in a read 400 42703, as PostgREST does", async () => {
  await withFixtureSchema(async (schema) => {
    await withStandIn(async (standIn) => {
      const get = (path: string) => standIn.handler(read(path, bearer(SECRET_KEY), schema));
      // PostgREST's QuerySpec "fails in some reasonable way when selecting fields that don't exist".
      const message = "column people.banana does not exist";
      await expectError(await get("people?select=id,banana"), 400, "42703", message);
      await expectError(await get("people?banana=eq.1"), 400, "42703", message);
      await expectError(await get("people?order=banana.asc"), 400, "42703", message);
      await expectError(await get("people?select=x:banana"), 400, "42703", message);
    }, { schema });
  });
});

Deno.test("createPostgrestStandIn() answers one object for application/vnd.pgrst.object+json, else 406 PGRST116", async () => {
  await withFixtureSchema(async (schema) => {
    await withStandIn(async (standIn) => {
      const single = (path: string, accept = "application/vnd.pgrst.object+json") =>
        standIn.handler(read(path, { ...bearer(SECRET_KEY), Accept: accept }, schema));
      const one = await single("people?id=eq.1");
      assert.equal(one.status, 200);
      assert.equal(
        one.headers.get("content-type"),
        "application/vnd.pgrst.object+json; charset=utf-8",
      );
      assert.deepEqual(await one.json(), { id: 1, name: "Ada", team: "red", nickname: null });
      const stripped = await single(
        "people?id=eq.1",
        "application/vnd.pgrst.object+json;nulls=stripped",
      );
      assert.deepEqual(await stripped.json(), { id: 1, name: "Ada", team: "red" });
      for (const [path, count] of [["people?id=eq.9", 0], ["people?team=eq.red", 2]] as const) {
        const body = await expectError(
          await single(path),
          406,
          "PGRST116",
          "Cannot coerce the result to a single JSON object",
        );
        assert.equal(body.details, `The result contains ${count} rows`);
      }
      // The first acceptable type wins, by q then order (wai's parseHttpAccept).
      const preferred = await single(
        "people?id=eq.1",
        "text/csv, application/vnd.pgrst.object+json;q=0.9, application/json;q=0.5",
      );
      assert.deepEqual(await preferred.json(), { id: 1, name: "Ada", team: "red", nickname: null });
    }, { schema });
  });
});

Deno.test("createPostgrestStandIn() caps reads at db-max-rows", async () => {
  await withFixtureSchema(async (schema) => {
    await withStandIn(async (standIn) => {
      const ids = async (path: string) =>
        (await (await standIn.handler(read(path, bearer(SECRET_KEY), schema))).json())
          .map((row: { id: number }) => row.id);
      assert.deepEqual(await ids("people?select=id&order=id"), [1, 2]);
      assert.deepEqual(await ids("people?select=id&order=id&limit=5"), [1, 2]);
      assert.deepEqual(await ids("people?select=id&order=id&limit=1"), [1]);
      assert.deepEqual(await ids("people?select=id&order=id&offset=1"), [2, 3]);
      assert.deepEqual(await ids("people?select=id&limit=0"), []);
      await expectError(
        await standIn.handler(read("people?limit=-1", bearer(SECRET_KEY), schema)),
        416,
        "PGRST103",
        "Requested range not satisfiable",
      );
    }, { schema, maxRows: 2 });
  });
});

Deno.test("createPostgrestStandIn() reads as the caller's role: grants and RLS decide", async () => {
  await withClerk(async (standIn) => {
    const [mine, theirs] = [uniqueId("user"), uniqueId("user")];
    await withSql((sql) =>
      sql`insert into public.profiles (user_id, first_name, clerk_updated_at)
          select id, 'Ada', now() from unnest(${[mine, theirs]}::text[]) as id`
    );
    const path = `profiles?select=user_id&user_id=in.(${mine},${theirs})&order=user_id`;
    const asMe = await standIn.handler(read(path, bearer(await mintSessionToken(CLERK, mine))));
    assert.deepEqual(await asMe.json(), [{ user_id: mine }], "RLS: her own profile only");
    const asService = await standIn.handler(read(path, bearer(SECRET_KEY)));
    assert.equal((await asService.json()).length, 2, "service_role bypasses RLS");
    const anon = await standIn.handler(read("organizations"));
    assert.equal(anon.headers.get("www-authenticate"), "Bearer");
    await expectError(anon, 401, "42501", "permission denied for table organizations");
  });
});

Deno.test("createPostgrestStandIn() answers reads it cannot serve as PostgREST does", async () => {
  await withStandIn(async (standIn) => {
    const get = (path: string, headers: Record<string, string> = {}, schema?: string) =>
      standIn.handler(read(path, { ...bearer(SECRET_KEY), ...headers }, schema));
    await expectError(
      await get("no_such_table"),
      404,
      "PGRST205",
      "Could not find the table 'public.no_such_table' in the schema cache",
    );
    await expectError(
      await get("profiles", { Accept: "text/csv" }),
      406,
      "PGRST107",
      "None of these media types are available: text/csv",
    );
    const otherSchema = await expectError(
      await get("profiles", {}, "clerk_sync"),
      406,
      "PGRST106",
      "Invalid schema: clerk_sync",
    );
    assert.equal(otherSchema.hint, "Only the following schemas are exposed: public");
    for (
      const path of [
        "profiles?select=*,organization_memberships(*)",
        "profiles?select=public_metadata->plan",
        "profiles?select=user_id::int",
        "profiles?or=(user_id.eq.a,user_id.eq.b)",
        "profiles?order=user_id.sideways",
        "profiles?user_id=like.user_*",
        "profiles?select=user_id,,email",
      ]
    ) {
      await expectError(await get(path), 400, "PGRST100");
    }
  });
});

Deno.test("createPostgrestStandIn() serves supabase-js reads with a Clerk session token (accessToken)", async () => {
  await withClerk(async (standIn) => {
    const [mine, theirs] = [uniqueId("user"), uniqueId("user")];
    await withSql((sql) =>
      sql`insert into public.profiles (user_id, first_name, email, clerk_updated_at)
          select id, 'Ada', id || '@example.com', now()
            from unnest(${[mine, theirs]}::text[]) as id`
    );
    const fetch = (input: RequestInfo | URL, init?: RequestInit) =>
      standIn.handler(new Request(input, init));
    const anonKey = await roleJwt("anon", JWT_SECRET);
    const token = await mintSessionToken(CLERK, mine);
    const supabase = createClient("http://stand-in.local", anonKey, {
      accessToken: () => Promise.resolve(token),
      global: { fetch },
    });
    const profiles = await supabase.from("profiles").select("*");
    assert.equal(profiles.error, null);
    assert.deepEqual(profiles.data?.map((p) => p.user_id), [mine]);
    const one = await supabase.from("profiles").select("user_id, email").eq("user_id", mine)
      .single();
    assert.deepEqual([one.status, one.data], [200, {
      user_id: mine,
      email: `${mine}@example.com`,
    }]);
    const hidden = await supabase.from("profiles").select("*").eq("user_id", theirs).maybeSingle();
    assert.deepEqual([hidden.status, hidden.data, hidden.error], [200, null, null]);
    const missing = await supabase.from("profiles").select("*").eq("user_id", theirs).single();
    assert.equal(missing.status, 406);
    assert.equal(missing.error?.code, "PGRST116");
    assert.equal(missing.error?.details, "The result contains 0 rows");

    const service = createClient("http://stand-in.local", SECRET_KEY, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      global: { fetch },
    });
    const both = await service.from("profiles").select("user_id")
      .in("user_id", [mine, theirs]).order("user_id", { ascending: false }).limit(2);
    assert.deepEqual(both.data, [mine, theirs].sort().reverse().map((user_id) => ({ user_id })));
    // postgrest-js 2.119.1's maybeSingle() asks for an array and refuses two rows itself.
    const two = await service.from("profiles").select("user_id").in("user_id", [mine, theirs])
      .maybeSingle();
    assert.equal(two.status, 406);
    assert.equal(two.error?.code, "PGRST116");
    const expired = createClient("http://stand-in.local", anonKey, {
      accessToken: () =>
        mintSessionToken(CLERK, mine, { issuedAt: Math.floor(Date.now() / 1000) - 600 }),
      global: { fetch },
    });
    const refused = await expired.from("profiles").select("*");
    assert.equal(refused.status, 401);
    assert.equal(refused.error?.code, "PGRST303");
  });
});

Deno.test("createPostgrestStandIn() passes a user's Clerk token next to a publishable key, as the gateway does", async () => {
  const publishable = "sb_publishable_stand_in_test";
  await withClerk(async (standIn) => {
    const mine = uniqueId("user");
    await withSql((sql) =>
      sql`insert into public.profiles (user_id, clerk_updated_at) values (${mine}, now())`
    );
    const fetch = (input: RequestInfo | URL, init?: RequestInit) =>
      standIn.handler(new Request(input, init));
    const token = await mintSessionToken(CLERK, mine);
    const user = createClient("http://stand-in.local", publishable, {
      accessToken: () => Promise.resolve(token),
      global: { fetch },
    });
    const read = await user.from("profiles").select("user_id").eq("user_id", mine).maybeSingle();
    assert.deepEqual([read.status, read.data], [200, { user_id: mine }]);
    // The publishable key alone is anon; an unknown sb_ key is refused whatever comes with it.
    const anon = createClient("http://stand-in.local", publishable, { global: { fetch } });
    assert.equal((await anon.from("profiles").select("user_id")).status, 401);
    const forged = createClient("http://stand-in.local", "sb_publishable_unknown", {
      accessToken: () => Promise.resolve(token),
      global: { fetch },
    });
    const refused = await forged.from("profiles").select("user_id");
    assert.deepEqual([refused.status, refused.error?.message], [401, "Invalid API key"]);
  }, { publishableKeys: [publishable] });
});
