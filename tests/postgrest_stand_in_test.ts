import assert from "node:assert/strict";
import postgres from "postgres";
import { createClient } from "@supabase/supabase-js";
import { freePort, startCluster } from "./support/pg_cluster.ts";
import { roleJwt, signJwt, verifyJwt } from "./support/jwt.ts";
import {
  createPostgrestStandIn,
  type PostgrestStandIn,
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
  options: { schema?: string; databaseUrl?: string } = {},
): Promise<void> {
  const standIn = createPostgrestStandIn({
    databaseUrl: options.databaseUrl ?? roleUrl("authenticator"),
    jwtSecret: JWT_SECRET,
    secretKeys: [SECRET_KEY],
    schema: options.schema,
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
          'statement_timeout', current_setting('statement_timeout'),
          'read_only', current_setting('transaction_read_only'))
      $$;
      create function ${schema}.add_them(a integer, b integer default 1) returns integer
        language sql immutable as $$ select a + b $$;
      create function ${schema}.numbers() returns setof integer
        language sql stable as $$ select generate_series(1, 3) $$;
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
  assert.deepEqual(other, {
    ok: false,
    code: "PGRST301",
    message: "JWT cryptographic operation failed",
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
  });
  assert.equal((await at({ nbf: now + 40 })).ok, false);
  assert.equal((await at({ iat: now + 40 })).ok, false);
  assert.equal((await at({ exp: "tomorrow" })).ok, false);
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
    ["57P01", true, 503],
    ["08006", true, 503],
    ["53300", true, 503],
    ["PT402", true, 402],
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
    await expectError(response, 401, "PGRST301", "JWT cryptographic operation failed");
    assert.match(response.headers.get("www-authenticate") ?? "", /invalid_token/);
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
        "p_occurred_at, p_profile, p_svix_id, p_user_id)",
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
    const table = new Request("http://stand-in.local/rest/v1/profiles", { headers: bearer(token) });
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

Deno.test("createPostgrestStandIn() answers 503 PGRST000 when the database is unreachable", async () => {
  const closedPort = `postgresql://authenticator@127.0.0.1:${freePort()}/postgres`;
  await withStandIn(async (standIn) => {
    const token = await roleJwt("service_role", JWT_SECRET);
    const response = await standIn.handler(rpc("sync_clerk_user", syncArgs(), bearer(token)));
    const body = await expectError(
      response,
      503,
      "PGRST000",
      "Database connection error. Retrying the connection.",
    );
    assert.match(String(body.details), /ECONNREFUSED/);
  }, { databaseUrl: closedPort });
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
  method: "POST" | "DELETE" | "GET",
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
      await standIn.handler(tableRequest("GET", "profiles", { headers })),
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
