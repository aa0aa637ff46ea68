import assert from "node:assert/strict";
import postgres from "postgres";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import type { UserEvent } from "../supabase/functions/clerk-webhook/clerk_event.ts";
import type { Profile } from "../supabase/functions/_shared/clerk_user.ts";
import { StoreError, StoreUnavailableError } from "../supabase/functions/_shared/errors.ts";
import { callRpc, isUnavailable } from "../supabase/functions/_shared/rpc.ts";
import { createSupabaseStore } from "../supabase/functions/clerk-webhook/store.ts";
import { roleJwt } from "./support/jwt.ts";
import { freePort } from "./support/pg_cluster.ts";
import {
  createPostgrestStandIn,
  type PostgrestStandIn,
  type PostgrestStandInOptions,
} from "./support/postgrest_stand_in.ts";
import { databaseUrl, roleUrl } from "./support/test_database.ts";

const SUPABASE_URL = "http://stand-in.local";
const JWT_SECRET = "integration-jwt-secret-with-at-least-32-characters";
const SECRET_KEY = "sb_secret_integration_test_key";
const RUN = crypto.randomUUID().slice(0, 8);
let serial = 0;

function uniqueId(prefix: string): string {
  serial += 1;
  return `${prefix}_integration_${RUN}_${serial}`;
}

interface Stack {
  standIn: PostgrestStandIn;
  sql: postgres.Sql;
  /** A supabase-js client for `key`, talking to the stand-in. */
  client(key: string): SupabaseClient;
}

async function withStack(
  fn: (stack: Stack) => Promise<void>,
  options: Partial<PostgrestStandInOptions> = {},
): Promise<void> {
  const standIn = createPostgrestStandIn({
    jwtSecret: JWT_SECRET,
    secretKeys: [SECRET_KEY],
    ...options,
    databaseUrl: options.databaseUrl ?? roleUrl("authenticator"),
  });
  const sql = postgres(databaseUrl(), { max: 3, onnotice: () => {} });
  const client = (key: string) =>
    createClient(SUPABASE_URL, key, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      global: { fetch: (input, init) => standIn.handler(new Request(input, init)) },
    });
  try {
    await fn({ standIn, sql, client });
  } finally {
    await standIn.close();
    await sql.end();
  }
}

function profile(userId: string, updatedAt: string, firstName: string): Profile {
  return {
    user_id: userId,
    email: `${userId}@example.com`,
    phone: null,
    first_name: firstName,
    last_name: "Lovelace",
    username: null,
    image_url: "https://img.clerk.com/ada.png",
    public_metadata: { plan: "pro" },
    clerk_created_at: "2026-01-01T00:00:00.000Z",
    clerk_updated_at: updatedAt,
  };
}

function rpcArgs(
  svixId: string,
  type: string,
  userId: string,
  occurredAt: string,
  row: Profile | null,
) {
  return {
    p_svix_id: svixId,
    p_event_type: type,
    p_user_id: userId,
    p_occurred_at: occurredAt,
    p_profile: row,
  };
}

function userEvent(
  type: UserEvent["type"],
  userId: string,
  occurredAt: string,
  firstName = "Ada",
): UserEvent {
  return {
    kind: "user",
    svixId: uniqueId("msg"),
    instanceId: null,
    clamped: [],
    type,
    userId,
    occurredAt,
    profile: type === "user.deleted" ? null : profile(userId, occurredAt, firstName),
  };
}

async function profileRow(sql: postgres.Sql, userId: string) {
  const rows = await sql`
    select first_name, email, public_metadata, clerk_updated_at
      from public.profiles where user_id = ${userId}`;
  return rows.length === 0 ? null : { ...rows[0] };
}

async function isTombstoned(sql: postgres.Sql, userId: string): Promise<boolean> {
  const rows = await sql`select 1 from clerk_sync.deleted_users where user_id = ${userId}`;
  return rows.length === 1;
}

const T1 = "2026-03-01T10:00:00.000Z";
const T2 = "2026-03-01T11:00:00.000Z";
const T3 = "2026-03-01T12:00:00.000Z";

Deno.test("supabase-js rpc(sync_clerk_user) creates, updates and deletes a profile", async () => {
  await withStack(async ({ sql, client }) => {
    const supabase = client(await roleJwt("service_role", JWT_SECRET));
    const userId = uniqueId("user");

    const created = await supabase.rpc(
      "sync_clerk_user",
      rpcArgs(uniqueId("msg"), "user.created", userId, T1, profile(userId, T1, "Ada")),
    );
    assert.equal(created.error, null);
    assert.equal(created.status, 200);
    assert.equal(created.data, "applied");
    assert.deepEqual(await profileRow(sql, userId), {
      first_name: "Ada",
      email: `${userId}@example.com`,
      public_metadata: { plan: "pro" },
      clerk_updated_at: new Date(T1),
    });

    const updated = await supabase.rpc(
      "sync_clerk_user",
      rpcArgs(uniqueId("msg"), "user.updated", userId, T2, profile(userId, T2, "Augusta")),
    );
    assert.equal(updated.data, "applied");
    const afterUpdate = await profileRow(sql, userId);
    assert.equal(afterUpdate?.first_name, "Augusta");
    assert.deepEqual(afterUpdate?.clerk_updated_at, new Date(T2));

    const deleted = await supabase.rpc(
      "sync_clerk_user",
      rpcArgs(uniqueId("msg"), "user.deleted", userId, T3, null),
    );
    assert.equal(deleted.data, "deleted");
    assert.equal(await profileRow(sql, userId), null);
    assert.equal(await isTombstoned(sql, userId), true);
  });
});

Deno.test("supabase-js rpc(sync_clerk_user) answers duplicate and stale deliveries", async () => {
  await withStack(async ({ sql, client }) => {
    const supabase = client(SECRET_KEY);
    const userId = uniqueId("user");
    const svixId = uniqueId("msg");
    const first = rpcArgs(svixId, "user.updated", userId, T2, profile(userId, T2, "Ada"));
    assert.equal((await supabase.rpc("sync_clerk_user", first)).data, "applied");

    const redelivered = await supabase.rpc("sync_clerk_user", first);
    assert.equal(redelivered.data, "duplicate");

    const older = rpcArgs(uniqueId("msg"), "user.updated", userId, T1, profile(userId, T1, "Old"));
    assert.equal((await supabase.rpc("sync_clerk_user", older)).data, "stale");
    assert.equal((await profileRow(sql, userId))?.first_name, "Ada");

    await supabase.rpc(
      "sync_clerk_user",
      rpcArgs(uniqueId("msg"), "user.deleted", userId, T2, null),
    );
    const resurrect = rpcArgs(
      uniqueId("msg"),
      "user.created",
      userId,
      T3,
      profile(userId, T3, "Z"),
    );
    assert.equal((await supabase.rpc("sync_clerk_user", resurrect)).data, "stale");
    assert.equal(await profileRow(sql, userId), null);
  });
});

Deno.test("supabase-js rpc(sync_clerk_user) is refused with the anon and user keys", async () => {
  await withStack(async ({ sql, client }) => {
    const userId = uniqueId("user");
    const args = rpcArgs(uniqueId("msg"), "user.created", userId, T1, profile(userId, T1, "Ada"));

    const anon = await client(await roleJwt("anon", JWT_SECRET)).rpc("sync_clerk_user", args);
    assert.equal(anon.status, 401);
    assert.equal(anon.error?.code, "42501");

    const userToken = await roleJwt("authenticated", JWT_SECRET, { sub: userId });
    const user = await client(userToken).rpc("sync_clerk_user", args);
    assert.equal(user.status, 403);
    assert.equal(user.error?.code, "42501");

    assert.equal(await profileRow(sql, userId), null);
  });
});

Deno.test("createSupabaseStore() applies events through supabase-js and the stand-in", async () => {
  await withStack(async ({ sql, client }) => {
    const store = createSupabaseStore(client(SECRET_KEY), { timeoutMs: 5000 });
    const userId = uniqueId("user");

    const created = userEvent("user.created", userId, T1);
    assert.equal(await store.apply(created), "applied");
    assert.equal((await profileRow(sql, userId))?.first_name, "Ada");
    assert.equal(await store.apply(created), "duplicate");

    assert.equal(await store.apply(userEvent("user.updated", userId, T2, "Augusta")), "applied");
    assert.equal(await store.apply(userEvent("user.updated", userId, T1, "Old")), "stale");
    assert.equal((await profileRow(sql, userId))?.first_name, "Augusta");

    assert.equal(await store.apply(userEvent("user.deleted", userId, T3)), "deleted");
    assert.equal(await profileRow(sql, userId), null);
    assert.equal(await store.apply(userEvent("user.created", userId, T3)), "stale");
  });
});

Deno.test("createSupabaseStore() reports a refused key as StoreError rejected_key", async () => {
  await withStack(async ({ client }) => {
    const event = userEvent("user.created", uniqueId("user"), T1);
    for (const key of ["sb_secret_revoked_key", await roleJwt("anon", JWT_SECRET)]) {
      const store = createSupabaseStore(client(key), { timeoutMs: 5000 });
      await assert.rejects(store.apply(event), (error: Error) => {
        assert.ok(error instanceof StoreError, String(error));
        assert.equal(error.reason, "rejected_key");
        return true;
      });
    }
  });
});

Deno.test("createSupabaseStore() reports bad arguments as StoreError database", async () => {
  await withStack(async ({ client }) => {
    const store = createSupabaseStore(client(SECRET_KEY), { timeoutMs: 5000 });
    const event = { ...userEvent("user.created", uniqueId("user"), T1), profile: null };
    await assert.rejects(store.apply(event), (error: Error) => {
      assert.ok(error instanceof StoreError, String(error));
      assert.equal(error.reason, "database");
      assert.match(error.message, /22023/);
      return true;
    });
  });
});

Deno.test("createSupabaseStore() reports an unreachable database as unavailable", async () => {
  const closedPort = `postgresql://authenticator@127.0.0.1:${freePort()}/postgres`;
  await withStack(async ({ client }) => {
    const store = createSupabaseStore(client(SECRET_KEY), { timeoutMs: 5000 });
    await assert.rejects(
      store.apply(userEvent("user.created", uniqueId("user"), T1)),
      (error: Error) => error instanceof StoreUnavailableError && /503/.test(error.message),
    );
  }, { databaseUrl: closedPort });
});

Deno.test("createSupabaseStore() gives up after timeoutMs while the user is locked", async () => {
  await withStack(async ({ sql, client }) => {
    const store = createSupabaseStore(client(SECRET_KEY), { timeoutMs: 150 });
    const userId = uniqueId("user");
    const event = userEvent("user.created", userId, T1);
    // Hold the per-user lock sync_clerk_user takes, so the call waits on it.
    const locker = await sql.reserve();
    try {
      await locker`begin`;
      await locker`select clerk_sync.lock_users(array[${userId}::text])`;
      await assert.rejects(
        store.apply(event),
        (error: Error) => error instanceof StoreUnavailableError && /timed out/.test(error.message),
      );
      await locker`commit`;
    } finally {
      locker.release();
    }
  });
});

// authenticator's URL with a server setting given at connection, which overrides the role's own
// (as a client's startup options do): the platform's 8 s limit, shortened for a test.
function authenticatorWith(name: string, value: string): string {
  const url = new URL(roleUrl("authenticator"));
  url.searchParams.set(name, value);
  return url.toString();
}

Deno.test("createSupabaseStore() reports a lock wait the server cancels (55P03) as unavailable", async () => {
  await withStack(async ({ sql, client }) => {
    const store = createSupabaseStore(client(SECRET_KEY), { timeoutMs: 5000 });
    const userId = uniqueId("user");
    const event = userEvent("user.created", userId, T1);
    const locker = await sql.reserve();
    try {
      await locker`begin`;
      await locker`select clerk_sync.lock_users(array[${userId}::text])`;
      await assert.rejects(store.apply(event), (error: Error) => {
        assert.ok(error instanceof StoreUnavailableError, String(error));
        assert.match(
          error.message,
          /^database unavailable \(HTTP 500, 55P03: canceling statement due to lock timeout\)$/,
        );
        return true;
      });
      await locker`commit`;
    } finally {
      locker.release();
    }
    // Cancelled and rolled back: Svix's retry of the same delivery applies.
    assert.equal(await profileRow(sql, userId), null);
    assert.equal(await store.apply(event), "applied");
  }, { databaseUrl: authenticatorWith("lock_timeout", "200ms") });
});

Deno.test("createSupabaseStore() reports the gateway's 520 and 502 pages as unavailable, with their title only", async () => {
  const faults: (520 | 502 | null)[] = [520, 502];
  await withStack(async ({ sql, client }) => {
    const store = createSupabaseStore(client(SECRET_KEY), { timeoutMs: 5000 });
    const userId = uniqueId("user");
    const event = userEvent("user.created", userId, T1);
    for (const title of ["520: Web server is returning an unknown error", "502: Bad gateway"]) {
      await assert.rejects(store.apply(event), (error: Error) => {
        assert.ok(error instanceof StoreUnavailableError, String(error));
        assert.equal(
          error.message,
          `database unavailable (HTTP ${title.slice(0, 3)}: stand-in.local | ${title})`,
        );
        return true;
      });
    }
    assert.equal(await profileRow(sql, userId), null);
    assert.equal(await store.apply(event), "applied");
  }, { gatewayFault: () => faults.shift() ?? null });
});

Deno.test("callRpc() treats the SQLSTATEs of an unavailable database as unavailable, others as errors", async () => {
  const schema = `integration_${RUN}`;
  const admin = postgres(databaseUrl(), { max: 1, onnotice: () => {} });
  await admin.unsafe(`
    create schema ${schema};
    grant usage on schema ${schema} to service_role;
    create function ${schema}.raise_code(code text) returns void language plpgsql as $$
      begin raise exception using errcode = code, message = 'raised ' || code; end $$;
    grant execute on function ${schema}.raise_code(text) to service_role;`);
  try {
    await withStack(async ({ standIn }) => {
      // Typed as the project's client (schema "public") that callRpc takes; it reads the fixture.
      const supabase = createClient(SUPABASE_URL, SECRET_KEY, {
        auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
        db: { schema },
        global: { fetch: (input, init) => standIn.handler(new Request(input, init)) },
      }) as unknown as SupabaseClient;
      const unavailable = ["55P03", "57014", "57P01", "57P02", "57P03", "08006", "53300"];
      for (const code of unavailable) {
        await assert.rejects(
          callRpc(supabase, "raise_code", { code }, 5000),
          (error: Error) => error instanceof StoreUnavailableError && error.message.includes(code),
          code,
        );
      }
      for (const code of ["53400", "22023", "P0001", "XX000", "PTABC"]) {
        await assert.rejects(
          callRpc(supabase, "raise_code", { code }, 5000),
          (error: Error) =>
            error instanceof StoreError && error.reason === "database" &&
            error.message.includes(code),
          code,
        );
      }
    }, { schema });
  } finally {
    await admin.unsafe(`drop schema ${schema} cascade`);
    await admin.end();
  }
});

Deno.test("isUnavailable() counts no answer, the gateway's statuses and non-PostgREST 5xx bodies", () => {
  for (const status of [0, 502, 503, 504, 520]) assert.equal(isUnavailable(status, ""), true);
  assert.equal(isUnavailable(503, "PGRST002"), true);
  assert.equal(isUnavailable(504, "PGRST003"), true);
  assert.equal(isUnavailable(522, ""), true, "any 5xx whose body was not PostgREST's");
  assert.equal(isUnavailable(500, ""), true);
  assert.equal(isUnavailable(500, "XX000"), false);
  assert.equal(isUnavailable(500, "53400"), false);
  assert.equal(isUnavailable(400, ""), false);
  assert.equal(isUnavailable(404, "PGRST202"), false);
});

Deno.test("createSupabaseStore() applies concurrent deliveries exactly once", async () => {
  await withStack(async ({ sql, client }) => {
    const store = createSupabaseStore(client(SECRET_KEY), { timeoutMs: 5000 });
    const users = Array.from({ length: 12 }, () => uniqueId("user"));
    const outcomes = await Promise.all(
      users.map((userId) => store.apply(userEvent("user.created", userId, T1))),
    );
    assert.deepEqual(outcomes, users.map(() => "applied"));
    const [{ count }] = await sql`
      select count(*)::int as count from public.profiles where user_id = any(${users})`;
    assert.equal(count, users.length);

    const event = userEvent("user.updated", users[0], T2, "Once");
    const redeliveries = await Promise.all(Array.from({ length: 6 }, () => store.apply(event)));
    assert.deepEqual(redeliveries.sort(), ["applied", ...Array(5).fill("duplicate")]);
  });
});

Deno.test("createPostgrestStandIn() serves supabase-js over HTTP with Deno.serve", async () => {
  await withStack(async ({ sql, standIn }) => {
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, standIn.handler);
    try {
      const supabase = createClient(`http://127.0.0.1:${server.addr.port}`, SECRET_KEY, {
        auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      });
      const userId = uniqueId("user");
      const { data, error, status } = await supabase.rpc(
        "sync_clerk_user",
        rpcArgs(uniqueId("msg"), "user.created", userId, T1, profile(userId, T1, "Ada")),
      );
      assert.deepEqual({ data, error, status }, { data: "applied", error: null, status: 200 });
      assert.equal((await profileRow(sql, userId))?.first_name, "Ada");
    } finally {
      await server.shutdown();
    }
  });
});
