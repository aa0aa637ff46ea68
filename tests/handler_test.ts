// The status table and log lines of the handler, over the real chain: handler → store →
// supabase-js → PostgREST stand-in → PostgreSQL (DATABASE_URL, migrated by scripts/test.ts).
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import postgres from "postgres";
import { Webhook } from "svix";
import {
  createHandler,
  createMisconfiguredHandler,
  MAX_BODY_BYTES,
} from "../supabase/functions/clerk-webhook/handler.ts";
import { ConfigError } from "../supabase/functions/_shared/errors.ts";
import type { Logger } from "../supabase/functions/_shared/log.ts";
import { createSupabaseStore } from "../supabase/functions/clerk-webhook/store.ts";
import {
  clerkMembershipEvent,
  type ClerkMembershipEventType,
  clerkMembershipPayload,
  clerkOrganizationDeletedPayload,
  clerkOrganizationEvent,
  clerkOrganizationPayload,
} from "./support/clerk_payloads.ts";
import { roleJwt } from "./support/jwt.ts";
import {
  createPostgrestStandIn,
  type PostgrestStandInOptions,
} from "./support/postgrest_stand_in.ts";

const DATABASE_URL = Deno.env.get("DATABASE_URL");
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const JWT_SECRET = "handler-test-jwt-secret-at-least-32-characters";
const URL_ = "http://stand-in.test";
const fixture = JSON.parse(
  await Deno.readTextFile(new URL("./fixtures/user_created.json", import.meta.url)),
);
const run = crypto.randomUUID().slice(0, 8);
let seq = 0;

function userId(): string {
  return `user_handler_${run}_${++seq}`;
}

function orgId(): string {
  return `org_handler_${run}_${++seq}`;
}

// Private metadata the tests' organizations and memberships carry: it must never be stored.
const ORG_SECRET = "org-private-acct_7781";
const MEMBER_SECRET = "member-private-seat_9913";

function orgEvent(
  type: "organization.created" | "organization.updated",
  id: string,
  updatedAt: number,
  name = "Acme Inc",
): string {
  const org = clerkOrganizationPayload({
    id,
    name,
    updatedAt,
    createdAt: 1_690_000_000_000,
    publicMetadata: { plan: "team" },
    privateMetadata: { account: ORG_SECRET },
  });
  return JSON.stringify(clerkOrganizationEvent(type, org, updatedAt));
}

function orgDeletedEvent(id: string, timestamp: number): string {
  return JSON.stringify(
    clerkOrganizationEvent("organization.deleted", clerkOrganizationDeletedPayload(id), timestamp),
  );
}

interface MemberOptions {
  org: string;
  user: string;
  role?: string;
  createdAt?: number;
  updatedAt?: number;
  /** The envelope's timestamp (default: updatedAt). */
  timestamp?: number;
  /** The nested organization snapshot's updated_at (default 1_690_000_000_000). */
  orgUpdatedAt?: number;
}

function memberEvent(type: ClerkMembershipEventType, options: MemberOptions): string {
  const createdAt = options.createdAt ?? 1_700_000_000_000;
  const updatedAt = options.updatedAt ?? createdAt;
  const organization = clerkOrganizationPayload({
    id: options.org,
    updatedAt: options.orgUpdatedAt ?? 1_690_000_000_000,
    createdAt: 1_690_000_000_000,
    privateMetadata: { account: ORG_SECRET },
  });
  const membership = clerkMembershipPayload({
    id: `orgmem_${options.org}_${options.user}`,
    organization,
    userId: options.user,
    role: options.role,
    createdAt,
    updatedAt,
    publicMetadata: { team: "platform" },
    privateMetadata: { seat: MEMBER_SECRET },
  });
  return JSON.stringify(clerkMembershipEvent(type, membership, options.timestamp ?? updatedAt));
}

function recordingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const push = (line: string) => void lines.push(line);
  return { log: { info: push, warn: push, error: push }, lines };
}

function userEvent(type: string, id: string, updatedAt: number, first = "Test"): string {
  return JSON.stringify({
    ...fixture,
    type,
    timestamp: updatedAt,
    data: { ...fixture.data, id, first_name: first, updated_at: updatedAt },
  });
}

function deletedEvent(id: string, timestamp: number): string {
  return JSON.stringify({
    data: { deleted: true, id, object: "user" },
    object: "event",
    timestamp,
    type: "user.deleted",
  });
}

function signedHeaders(
  body: string,
  msgId = `msg_${crypto.randomUUID().replaceAll("-", "")}`,
  now = new Date(),
): Headers {
  return new Headers({
    "content-type": "application/json",
    "svix-id": msgId,
    "svix-timestamp": String(Math.floor(now.getTime() / 1000)),
    "svix-signature": new Webhook(SECRET).sign(msgId, now, body),
  });
}

function signed(body: string, msgId?: string): Request {
  return post(signedHeaders(body, msgId), body);
}

function post(headers: Headers, body: BodyInit): Request {
  return new Request("http://function.test/clerk-webhook", { method: "POST", headers, body });
}

/** A body that counts the chunks read from it, yields `chunks` of them, then stalls or ends. */
function countingBody(
  options: { chunks?: number; chunkBytes?: number; stall?: boolean } = {},
): { body: ReadableStream<Uint8Array>; pulled: () => number; cancelled: () => boolean } {
  const { chunks = Infinity, chunkBytes = 64 * 1024, stall = false } = options;
  let pulled = 0;
  let cancelled = false;
  const chunk = new TextEncoder().encode("x".repeat(chunkBytes));
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled >= chunks) {
        if (stall) return new Promise<void>(() => {}); // never settles: a client that went quiet
        return controller.close();
      }
      pulled++;
      controller.enqueue(chunk);
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 }); // nothing is pulled until the handler reads
  return { body, pulled: () => pulled, cancelled: () => cancelled };
}

async function withStack(
  fn: (
    ctx: {
      handle: (req: Request) => Promise<Response>;
      lines: string[];
      sql: postgres.Sql;
    },
  ) => Promise<void>,
  options: {
    key?: string;
    unreachable?: boolean;
    bodyTimeoutMs?: number;
    standIn?: Partial<PostgrestStandInOptions>;
  } = {},
): Promise<void> {
  assert.ok(DATABASE_URL, "DATABASE_URL is set by scripts/test.ts");
  const sql = postgres(DATABASE_URL, { max: 2, onnotice: () => {} });
  const standIn = createPostgrestStandIn({
    databaseUrl: DATABASE_URL.replace("://postgres@", "://authenticator@"),
    jwtSecret: JWT_SECRET,
    ...options.standIn,
  });
  const key = options.key ?? await roleJwt("service_role", JWT_SECRET);
  const fetch = options.unreachable
    ? () => Promise.reject(new TypeError("error sending request: Connection refused"))
    : (input: RequestInfo | URL, init?: RequestInit) => standIn.handler(new Request(input, init));
  const client = createClient(URL_, key, {
    auth: { persistSession: false, autoRefreshToken: false },
    global: { fetch },
  });
  const { log, lines } = recordingLogger();
  const handle = createHandler({
    secrets: [SECRET],
    store: createSupabaseStore(client, { timeoutMs: 5000 }),
    log,
    bodyTimeoutMs: options.bodyTimeoutMs,
  });
  try {
    await fn({ handle, lines, sql });
  } finally {
    await standIn.close();
    await sql.end();
  }
}

async function profile(sql: postgres.Sql, id: string) {
  const rows = await sql`select * from public.profiles where user_id = ${id}`;
  return rows[0];
}

async function organization(sql: postgres.Sql, id: string) {
  const rows = await sql`select * from public.organizations where org_id = ${id}`;
  return rows[0];
}

async function memberships(sql: postgres.Sql, org: string) {
  const rows = await sql`
    select * from public.organization_memberships where org_id = ${org} order by user_id`;
  return rows.map((row) => ({ ...row }));
}

// Everything stored about an organization, as text: for checks that a value never got there.
async function storedText(sql: postgres.Sql, org: string): Promise<string> {
  const rows = await sql`
    select coalesce((select jsonb_agg(o) from public.organizations o where o.org_id = ${org}),
        '[]') || coalesce((select jsonb_agg(m) from public.organization_memberships m
          where m.org_id = ${org}), '[]') as stored`;
  return JSON.stringify(rows[0].stored);
}

Deno.test("createHandler() answers 200 applied for user.created and logs the guide's lines", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const id = userId();
    const res = await handle(signed(userEvent("user.created", id, 1_700_000_000_000)));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "applied", user_id: id });
    assert.deepEqual(lines, [
      `Webhook received: user.created for user: ${id}`,
      `Syncing profile for ${id} (Test User)`,
      `Successfully synced profile for user ${id}`,
    ]);
    const row = await profile(sql, id);
    assert.equal(row.email, "test.user@example.org");
    assert.equal(row.first_name, "Test");
    assert.equal(row.clerk_updated_at.toISOString(), "2023-11-14T22:13:20.000Z");
  });
});

Deno.test("createHandler() answers 200 duplicate for a redelivered svix-id", async () => {
  await withStack(async ({ handle, sql }) => {
    const id = userId();
    const body = userEvent("user.created", id, 1_700_000_000_000);
    assert.equal((await (await handle(signed(body, `msg_dup_${id}`))).json()).status, "applied");
    const again = await handle(signed(body, `msg_dup_${id}`));
    assert.equal(again.status, 200);
    assert.equal((await again.json()).status, "duplicate");
    const events = await sql`select count(*)::int as n from clerk_sync.webhook_events
      where user_id = ${id}`;
    assert.equal(events[0].n, 1);
  });
});

Deno.test("createHandler() answers 200 stale for an older update and keeps the newer row", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const id = userId();
    await handle(signed(userEvent("user.updated", id, 1_700_000_002_000, "Newer")));
    const res = await handle(signed(userEvent("user.updated", id, 1_700_000_001_000, "Older")));
    assert.equal((await res.json()).status, "stale");
    assert.equal((await profile(sql, id)).first_name, "Newer");
    assert.match(lines.at(-1) ?? "", /^Skipped user\.updated for user .*: stale/);
  });
});

Deno.test("createHandler() answers 200 deleted and a later create does not bring the user back", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const id = userId();
    await handle(signed(userEvent("user.created", id, 1_700_000_000_000)));
    const res = await handle(signed(deletedEvent(id, 1_700_000_005_000)));
    assert.deepEqual(await res.json(), { status: "deleted", user_id: id });
    assert.deepEqual(lines.slice(-3), [
      `Webhook received: user.deleted for user: ${id}`,
      `Deleting profile for ${id}`,
      `Successfully deleted profile for user ${id}`,
    ]);
    const late = await handle(signed(userEvent("user.updated", id, 1_700_000_009_000)));
    assert.equal((await late.json()).status, "stale");
    assert.equal(await profile(sql, id), undefined);
  });
});

Deno.test("createHandler() answers 200 ignored for an event type it does not handle", async () => {
  await withStack(async ({ handle, lines }) => {
    const body = JSON.stringify({ type: "session.created", data: { id: "sess_1" } });
    const res = await handle(signed(body));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ignored" });
    assert.deepEqual(lines, [
      "Webhook received: session.created (ignored: not an event this function syncs)",
    ]);
  });
});

Deno.test("createHandler() answers 405 with Allow: POST to other methods", async () => {
  await withStack(async ({ handle, lines }) => {
    for (const method of ["GET", "PUT", "DELETE"]) {
      const res = await handle(new Request("http://function.test/", { method }));
      assert.equal(res.status, 405);
      assert.equal(res.headers.get("allow"), "POST");
      await res.body?.cancel();
    }
    assert.equal(lines.length, 3);
  });
});

Deno.test("createHandler() answers 413 to a body over 256 KiB and does not write", async () => {
  assert.equal(MAX_BODY_BYTES, 256 * 1024);
  await withStack(async ({ handle, lines, sql }) => {
    const id = userId();
    const padding = "x".repeat(MAX_BODY_BYTES);
    const body = userEvent("user.created", id, 1_700_000_000_000).replace(
      "}",
      `,"pad":"${padding}"}`,
    );
    const res = await handle(signed(body));
    assert.equal(res.status, 413);
    assert.deepEqual(await res.json(), { error: "body exceeds 262144 bytes" });
    assert.deepEqual(lines, ["Rejected webhook (413): body exceeds 262144 bytes"]);
    assert.equal(await profile(sql, id), undefined);
  });
});

Deno.test("createHandler() answers 413 to a streamed body as soon as it passes 256 KiB", async () => {
  await withStack(async ({ handle }) => {
    const { body, pulled, cancelled } = countingBody({ chunkBytes: 64 * 1024 });
    const res = await handle(post(signedHeaders("unused"), body));
    assert.equal(res.status, 413);
    await res.body?.cancel();
    assert.equal(pulled(), 5, "4 chunks fill the 256 KiB; the 5th passes it");
    assert.ok(cancelled(), "the read is cancelled");
  });
});

Deno.test("createHandler() answers 413 to a declared Content-Length over 256 KiB without reading", async () => {
  await withStack(async ({ handle }) => {
    const { body, pulled } = countingBody();
    const headers = signedHeaders("unused");
    headers.set("content-length", String(MAX_BODY_BYTES + 1));
    const res = await handle(post(headers, body));
    assert.equal(res.status, 413);
    assert.deepEqual(await res.json(), { error: "body exceeds 262144 bytes" });
    assert.equal(pulled(), 0);
  });
});

Deno.test("createHandler() answers 408 to a stalled body and cancels the read", async () => {
  await withStack(async ({ handle, lines }) => {
    const { body, pulled, cancelled } = countingBody({ chunks: 1, stall: true });
    const res = await handle(post(signedHeaders("unused"), body));
    assert.equal(res.status, 408);
    assert.deepEqual(await res.json(), { error: "body not received within 50 ms" });
    assert.equal(pulled(), 1);
    assert.ok(cancelled(), "the read is cancelled");
    assert.deepEqual(lines, ["Rejected webhook (408): body not received within 50 ms"]);
  }, { bodyTimeoutMs: 50 });
});

Deno.test("createHandler() answers 400 to an oversized svix-signature without reading the body", async () => {
  await withStack(async ({ handle, lines }) => {
    const { body, pulled } = countingBody();
    const headers = signedHeaders("unused");
    headers.set("svix-signature", Array(12_000).fill("v1,x").join(" "));
    const res = await handle(post(headers, body));
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), {
      error: "svix-signature header is longer than 1024 bytes",
    });
    assert.equal(pulled(), 0);
    assert.deepEqual(lines, [
      "Rejected webhook (400): svix-signature header is longer than 1024 bytes",
    ]);
  });
});

Deno.test("createHandler() answers 400 to a repeated svix-timestamp and does not write", async () => {
  await withStack(async ({ handle, sql }) => {
    const id = userId();
    const body = userEvent("user.created", id, 1_700_000_000_000);
    const headers = signedHeaders(body);
    headers.append("svix-timestamp", headers.get("svix-timestamp") ?? "");
    const res = await handle(post(headers, body));
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /^svix-timestamp header is malformed or repeated/);
    assert.equal(await profile(sql, id), undefined);
  });
});

Deno.test("createHandler() answers 401 to an expired timestamp without reading the body", async () => {
  await withStack(async ({ handle, lines }) => {
    const { body, pulled } = countingBody();
    const headers = signedHeaders("unused", undefined, new Date(Date.now() - 10 * 60_000));
    const res = await handle(post(headers, body));
    assert.equal(res.status, 401);
    assert.match(
      (await res.json()).error,
      /^timestamp outside the 5-minute tolerance \(60\d s old\)$/,
    );
    assert.equal(pulled(), 0);
    assert.match(lines[0], /^Rejected webhook \(401\): timestamp outside the 5-minute tolerance/);
  });
});

Deno.test("createHandler() answers 400 to a body with a byte order mark and does not write", async () => {
  await withStack(async ({ handle, sql }) => {
    const id = userId();
    const body = userEvent("user.created", id, 1_700_000_000_000);
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(body)]);
    const res = await handle(post(signedHeaders(body), bytes));
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: "body starts with a byte order mark" });
    assert.equal(await profile(sql, id), undefined);
  });
});

Deno.test("createHandler() answers 400 to invalid UTF-8 where the signer had U+FFFD", async () => {
  await withStack(async ({ handle, sql }) => {
    const id = userId();
    const body = userEvent("user.created", id, 1_700_000_000_000, "Bad\ufffdByte");
    const utf8 = new TextEncoder().encode(body);
    const at = utf8.indexOf(0xef); // U+FFFD is EF BF BD; the sender puts one 0xFF there
    const bytes = new Uint8Array([...utf8.subarray(0, at), 0xff, ...utf8.subarray(at + 3)]);
    const res = await handle(post(signedHeaders(body), bytes));
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: "body is not valid UTF-8" });
    assert.equal(await profile(sql, id), undefined);
  });
});

Deno.test("createHandler() stores a first_name with a NUL character without it", async () => {
  await withStack(async ({ handle, sql }) => {
    const id = userId();
    const res = await handle(signed(userEvent("user.created", id, 1_700_000_000_000, "Ev\u0000e")));
    assert.equal(res.status, 200);
    assert.equal((await res.json()).status, "applied");
    assert.equal((await profile(sql, id)).first_name, "Eve");
  });
});

Deno.test("createHandler() stores public_metadata with a NUL in a key without it", async () => {
  await withStack(async ({ handle, sql }) => {
    const id = userId();
    const event = JSON.parse(userEvent("user.created", id, 1_700_000_000_000));
    event.data.public_metadata = { "pl\u0000an": "pro\u0000", deep: [{ "k\u0000": "v" }] };
    const res = await handle(signed(JSON.stringify(event)));
    assert.equal(res.status, 200);
    assert.equal((await res.json()).status, "applied");
    assert.deepEqual((await profile(sql, id)).public_metadata, {
      plan: "pro",
      deep: [{ k: "v" }],
    });
  });
});

Deno.test("createHandler() stores names and metadata with lone surrogates without them", async () => {
  await withStack(async ({ handle, sql }) => {
    const id = userId();
    const event = JSON.parse(userEvent("user.created", id, 1_700_000_000_000, "Lone\ud800ly"));
    event.data.last_name = "\udc00Smith \ud83d\ude42";
    event.data.public_metadata = { "k\udbff": ["v\udfff"] };
    const body = JSON.stringify(event); // escapes each lone surrogate as \udxxx
    assert.match(body, /Lone\\ud800ly/);
    const res = await handle(signed(body));
    assert.equal(res.status, 200);
    assert.equal((await res.json()).status, "applied");
    const row = await profile(sql, id);
    assert.equal(row.first_name, "Lonely");
    assert.equal(row.last_name, "Smith \u{1f642}");
    assert.deepEqual(row.public_metadata, { k: ["v"] });
  });
});

Deno.test("createHandler() answers 422 to an updated_at PostgreSQL cannot store, naming the field", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const id = userId();
    const res = await handle(signed(userEvent("user.updated", id, 8.64e15)));
    assert.equal(res.status, 422);
    const message =
      "data.updated_at is not a valid timestamp (epoch milliseconds from 1970 to 9999)";
    assert.deepEqual(await res.json(), { error: message });
    assert.deepEqual(lines, [`Rejected webhook user.updated for user ${id} (422): ${message}`]);
    assert.equal(await profile(sql, id), undefined);
  });
});

Deno.test("createHandler() answers 422 to a user id with a NUL character", async () => {
  await withStack(async ({ handle, lines }) => {
    const res = await handle(
      signed(userEvent("user.created", "user_nul\u0000", 1_700_000_000_000)),
    );
    assert.equal(res.status, 422);
    assert.deepEqual(lines, [
      "Rejected webhook user.created (422): data.id contains control characters or lone surrogates",
    ]);
  });
});

Deno.test("createHandler() answers 422 to public_metadata nested 50,000 levels deep", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const id = userId();
    const deep = `${"[".repeat(50_000)}${"]".repeat(50_000)}`;
    const body = userEvent("user.created", id, 1_700_000_000_000)
      .replace('"public_metadata":{', `"public_metadata":{"deep":${deep},`);
    const res = await handle(signed(body));
    assert.equal(res.status, 422);
    assert.deepEqual(lines, [
      `Rejected webhook user.created for user ${id} (422): data.public_metadata is nested deeper than 100 levels`,
    ]);
    assert.equal(await profile(sql, id), undefined);
  });
});

Deno.test("createHandler() escapes control characters of a user's name in its log lines", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const id = userId();
    const name = "Eve\nSuccessfully synced profile for user user_admin\u001b[31m";
    const res = await handle(signed(userEvent("user.created", id, 1_700_000_000_000, name)));
    assert.equal(res.status, 200);
    assert.deepEqual(lines, [
      `Webhook received: user.created for user: ${id}`,
      `Syncing profile for ${id} (Eve\\nSuccessfully synced profile for user user_admin\\u001b[31m User)`,
      `Successfully synced profile for user ${id}`,
    ]);
    assert.equal((await profile(sql, id)).first_name, name, "the stored name is unchanged");
  });
});

Deno.test("createHandler() escapes control characters of an ignored event type in its log line", async () => {
  await withStack(async ({ handle, lines }) => {
    const type = "session.created\nSuccessfully synced profile for user user_admin";
    const res = await handle(signed(JSON.stringify({ type, data: { id: "sess_1" } })));
    assert.equal(res.status, 200);
    assert.deepEqual(lines, [
      "Webhook received: session.created\\nSuccessfully synced profile for user user_admin (ignored: not an event this function syncs)",
    ]);
  });
});

Deno.test("createHandler() answers 400 when a svix header is missing", async () => {
  await withStack(async ({ handle, lines }) => {
    const req = signed(userEvent("user.created", userId(), 1_700_000_000_000));
    const headers = new Headers(req.headers);
    headers.delete("svix-signature");
    const res = await handle(new Request(req, { headers }));
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /svix-signature/);
    assert.match(lines[0], /^Rejected webhook \(400\): missing svix-signature header/);
  });
});

Deno.test("createHandler() answers 401 to a bad signature and logs no signature", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const id = userId();
    const req = signed(userEvent("user.created", id, 1_700_000_000_000));
    const signature = req.headers.get("svix-signature") ?? "";
    const tampered = userEvent("user.created", id, 1_700_000_000_001);
    const res = await handle(new Request(req, { body: tampered }));
    assert.equal(res.status, 401);
    const text = await res.text();
    assert.ok(!text.includes(signature.slice(3)));
    assert.ok(!lines.join("\n").includes(signature.slice(3)));
    assert.ok(!lines.join("\n").includes(SECRET.slice(6)));
    assert.equal(await profile(sql, id), undefined);
  });
});

Deno.test("createHandler() answers 422 to authentic invalid JSON and to a user event without id", async () => {
  await withStack(async ({ handle }) => {
    const res = await handle(signed("{not json"));
    assert.equal(res.status, 422);
    assert.match((await res.json()).error, /not valid JSON/);
    const noId = JSON.stringify({ type: "user.updated", data: { first_name: "x" } });
    const res2 = await handle(signed(noId));
    assert.equal(res2.status, 422);
    assert.match((await res2.json()).error, /no data\.id/);
  });
});

Deno.test("createHandler() answers 500 and says the key was rejected, never showing it", async () => {
  const wrongKey = await roleJwt("service_role", "a-different-secret-of-at-least-32-chars");
  await withStack(async ({ handle, lines, sql }) => {
    const id = userId();
    const res = await handle(signed(userEvent("user.created", id, 1_700_000_000_000)));
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.ok(!text.includes(wrongKey));
    assert.match(
      lines.at(-1) ?? "",
      /^Failed to sync user\.created for user .* \(500\): the service key was rejected/,
    );
    assert.ok(!lines.join("\n").includes(wrongKey));
    assert.equal(await profile(sql, id), undefined);
  }, { key: wrongKey });
});

Deno.test("createHandler() answers 500 when the key is not the service role", async () => {
  const anonKey = await roleJwt("anon", JWT_SECRET);
  await withStack(async ({ handle }) => {
    const res = await handle(signed(userEvent("user.created", userId(), 1_700_000_000_000)));
    assert.equal(res.status, 500);
    await res.body?.cancel();
  }, { key: anonKey });
});

Deno.test("createHandler() answers 503 when the database cannot be reached", async () => {
  await withStack(async ({ handle, lines }) => {
    const res = await handle(signed(userEvent("user.created", userId(), 1_700_000_000_000)));
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { error: "database unavailable" });
    assert.match(lines.at(-1) ?? "", /\(503\): database unreachable/);
  }, { unreachable: true });
});

Deno.test("createHandler() answers 503 when the server cancels a lock wait (55P03), and the retry applies", async () => {
  assert.ok(DATABASE_URL, "DATABASE_URL is set by scripts/test.ts");
  // The platform's 8 s lock_timeout of authenticator, shortened: a startup option overrides it.
  const url = new URL(DATABASE_URL.replace("://postgres@", "://authenticator@"));
  url.searchParams.set("lock_timeout", "200ms");
  await withStack(async ({ handle, lines, sql }) => {
    const id = userId();
    const body = userEvent("user.created", id, 1_700_000_000_000);
    const holder = await sql.reserve();
    try {
      await holder`begin`;
      await holder`select clerk_sync.lock_users(array[${id}]::text[])`;
      const res = await handle(signed(body, `msg_lock_${id}`));
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { error: "database unavailable" });
      assert.equal(
        lines.at(-1),
        `Failed to sync user.created for user ${id} (503): database unavailable ` +
          "(HTTP 500, 55P03: canceling statement due to lock timeout)",
      );
      await holder`commit`;
    } finally {
      holder.release();
    }
    // Cancelled and rolled back: Svix's retry of the same message applies.
    const retry = await handle(signed(body, `msg_lock_${id}`));
    assert.equal((await retry.json()).status, "applied");
  }, { standIn: { databaseUrl: url.toString() } });
});

Deno.test("createHandler() answers 503 to the gateway's 520 and 502 pages, logging only their title", async () => {
  const faults: (520 | 502)[] = [520, 502];
  await withStack(async ({ handle, lines, sql }) => {
    const id = userId();
    const body = userEvent("user.created", id, 1_700_000_000_000);
    for (const title of ["520: Web server is returning an unknown error", "502: Bad gateway"]) {
      const res = await handle(signed(body, `msg_gateway_${id}`));
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { error: "database unavailable" });
      assert.equal(
        lines.at(-1),
        `Failed to sync user.created for user ${id} (503): database unavailable ` +
          `(HTTP ${title.slice(0, 3)}: stand-in.test | ${title})`,
      );
    }
    assert.equal(await profile(sql, id), undefined);
    const retry = await handle(signed(body, `msg_gateway_${id}`));
    assert.equal((await retry.json()).status, "applied");
  }, { standIn: { gatewayFault: () => faults.shift() ?? null } });
});

Deno.test("createMisconfiguredHandler() answers 500 and names the variable, not its value", async () => {
  const { log, lines } = recordingLogger();
  const error = new ConfigError("CLERK_WEBHOOK_SECRET", "CLERK_WEBHOOK_SECRET is not set");
  const handle = createMisconfiguredHandler(error, log);
  const res = await handle(signed(userEvent("user.created", userId(), 1_700_000_000_000)));
  assert.equal(res.status, 500);
  assert.deepEqual(await res.json(), { error: "function is misconfigured" });
  assert.deepEqual(lines, [
    "Failed to handle webhook (500): configuration error in CLERK_WEBHOOK_SECRET",
  ]);
});

// The status table for organization and membership events.

Deno.test("createHandler() answers 200 applied for organization.created and logs the organization", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const id = orgId();
    const res = await handle(signed(orgEvent("organization.created", id, 1_700_000_000_000)));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "applied", org_id: id });
    assert.deepEqual(lines, [
      `Webhook received: organization.created for organization: ${id}`,
      `Syncing organization ${id} (Acme Inc)`,
      `Successfully synced organization ${id}`,
    ]);
    const row = await organization(sql, id);
    assert.equal(row.name, "Acme Inc");
    assert.equal(row.slug, "acme-inc");
    assert.deepEqual(row.public_metadata, { plan: "team" });
    assert.equal(row.created_by, "user_1vq84bqWzw7qmFgqSwN4CH1Wp0n");
    assert.equal(row.clerk_created_at.toISOString(), "2023-07-22T04:26:40.000Z");
    assert.equal(row.clerk_updated_at.toISOString(), "2023-11-14T22:13:20.000Z");
    assert.ok(!(await storedText(sql, id)).includes(ORG_SECRET), "private_metadata not stored");
  });
});

Deno.test("createHandler() answers 200 stale for an older organization.updated and keeps the newer row", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const id = orgId();
    await handle(signed(orgEvent("organization.updated", id, 1_700_000_002_000, "Newer")));
    const res = await handle(
      signed(orgEvent("organization.updated", id, 1_700_000_001_000, "Older")),
    );
    assert.deepEqual(await res.json(), { status: "stale", org_id: id });
    assert.equal((await organization(sql, id)).name, "Newer");
    assert.equal(
      lines.at(-1),
      `Skipped organization.updated for organization ${id}: stale (newer data or a deletion is stored)`,
    );
  });
});

Deno.test("createHandler() answers 200 duplicate for a redelivered organization event", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const id = orgId();
    const body = orgEvent("organization.created", id, 1_700_000_000_000);
    assert.equal((await (await handle(signed(body, `msg_dup_${id}`))).json()).status, "applied");
    const again = await handle(signed(body, `msg_dup_${id}`));
    assert.equal(again.status, 200);
    assert.deepEqual(await again.json(), { status: "duplicate", org_id: id });
    assert.equal(
      lines.at(-1),
      `Skipped organization.created for organization ${id}: this delivery was already applied`,
    );
    const events = await sql`select count(*)::int as n from clerk_sync.webhook_events
      where org_id = ${id}`;
    assert.equal(events[0].n, 1);
  });
});

Deno.test("createHandler() answers 200 deleted for organization.deleted, removing its memberships", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const id = orgId();
    const [ada, bob] = [userId(), userId()];
    await handle(signed(orgEvent("organization.created", id, 1_700_000_000_000)));
    for (const user of [ada, bob]) {
      const res = await handle(signed(memberEvent("organizationMembership.created", {
        org: id,
        user,
      })));
      assert.equal((await res.json()).status, "applied");
    }
    assert.equal((await memberships(sql, id)).length, 2);
    const res = await handle(signed(orgDeletedEvent(id, 1_700_000_005_000)));
    assert.deepEqual(await res.json(), { status: "deleted", org_id: id });
    assert.deepEqual(lines.slice(-3), [
      `Webhook received: organization.deleted for organization: ${id}`,
      `Deleting organization ${id}`,
      `Successfully deleted organization ${id}`,
    ]);
    assert.equal(await organization(sql, id), undefined);
    assert.deepEqual(await memberships(sql, id), [], "no .deleted per member needed");
    const late = await handle(signed(orgEvent("organization.updated", id, 1_700_000_009_000)));
    assert.deepEqual(await late.json(), { status: "stale", org_id: id });
    const lateMember = await handle(signed(memberEvent("organizationMembership.updated", {
      org: id,
      user: ada,
      updatedAt: 1_700_000_009_000,
      orgUpdatedAt: 1_700_000_009_000,
    })));
    assert.deepEqual(await lateMember.json(), { status: "stale", org_id: id, user_id: ada });
    assert.equal(await organization(sql, id), undefined, "the snapshot does not bring it back");
  });
});

Deno.test("createHandler() answers 200 applied for a membership before its organization, naming both", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const [org, user] = [orgId(), userId()];
    const res = await handle(signed(memberEvent("organizationMembership.created", {
      org,
      user,
      role: "org:admin",
    })));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "applied", org_id: org, user_id: user });
    assert.deepEqual(lines, [
      `Webhook received: organizationMembership.created for organization: ${org} user: ${user}`,
      `Syncing membership of ${user} in ${org} (org:admin)`,
      `Successfully synced membership of ${user} in ${org}`,
    ]);
    const [row] = await memberships(sql, org);
    assert.equal(row.user_id, user);
    assert.equal(row.membership_id, `orgmem_${org}_${user}`);
    assert.equal(row.role, "org:admin");
    assert.equal(row.role_name, "Admin");
    assert.ok(row.permissions.includes("org:sys_memberships:manage"));
    assert.deepEqual(row.public_metadata, { team: "platform" });
    assert.equal((await organization(sql, org)).name, "Acme Inc", "created from the snapshot");
    const text = await storedText(sql, org);
    assert.ok(!text.includes(ORG_SECRET) && !text.includes(MEMBER_SECRET), text);
  });
});

Deno.test("createHandler() stores custom and legacy roles exactly as Clerk sends them", async () => {
  await withStack(async ({ handle, sql }) => {
    const org = orgId();
    const roles = ["org:billing_manager", "basic_member", "admin"];
    const users = roles.map(() => userId());
    for (const [i, role] of roles.entries()) {
      const res = await handle(signed(memberEvent("organizationMembership.created", {
        org,
        user: users[i],
        role,
      })));
      assert.equal((await res.json()).status, "applied", role);
    }
    const stored = new Map((await memberships(sql, org)).map((row) => [row.user_id, row.role]));
    assert.deepEqual(users.map((user) => stored.get(user)), roles);
  });
});

Deno.test("createHandler() answers 200 stale for a membership creation overtaken by a role change", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const [org, user] = [orgId(), userId()];
    const update = await handle(signed(memberEvent("organizationMembership.updated", {
      org,
      user,
      role: "org:admin",
      updatedAt: 1_700_000_001_000,
    })));
    assert.equal((await update.json()).status, "applied");
    const create = await handle(signed(memberEvent("organizationMembership.created", {
      org,
      user,
      role: "org:member",
    })));
    assert.deepEqual(await create.json(), { status: "stale", org_id: org, user_id: user });
    assert.equal(
      lines.at(-1),
      `Skipped organizationMembership.created for organization ${org} user ${user}: stale (newer data or a deletion is stored)`,
    );
    assert.equal((await memberships(sql, org))[0].role, "org:admin");
  });
});

Deno.test("createHandler() answers 200 deleted for a .deleted ordered by its envelope, and a late .updated is stale", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const [org, user] = [orgId(), userId()];
    await handle(signed(memberEvent("organizationMembership.created", { org, user })));
    // Clerk's .deleted carries the membership as it was: an updated_at older than a later
    // update's. Its envelope timestamp orders it.
    const removal = await handle(signed(memberEvent("organizationMembership.deleted", {
      org,
      user,
      timestamp: 1_700_000_010_000,
    })));
    assert.deepEqual(await removal.json(), { status: "deleted", org_id: org, user_id: user });
    assert.deepEqual(lines.slice(-3), [
      `Webhook received: organizationMembership.deleted for organization: ${org} user: ${user}`,
      `Deleting membership of ${user} in ${org}`,
      `Successfully deleted membership of ${user} in ${org}`,
    ]);
    const late = await handle(signed(memberEvent("organizationMembership.updated", {
      org,
      user,
      role: "org:admin",
      updatedAt: 1_700_000_005_000,
    })));
    assert.deepEqual(await late.json(), { status: "stale", org_id: org, user_id: user });
    assert.deepEqual(await memberships(sql, org), []);
    const tombstones = await sql`select deleted_at from clerk_sync.deleted_memberships
      where org_id = ${org} and user_id = ${user}`;
    assert.equal(tombstones[0].deleted_at.toISOString(), "2023-11-14T22:13:30.000Z");
  });
});

Deno.test("createHandler() answers 200 duplicate for a redelivered membership event", async () => {
  await withStack(async ({ handle, lines }) => {
    const [org, user] = [orgId(), userId()];
    const body = memberEvent("organizationMembership.created", { org, user });
    await handle(signed(body, `msg_dup_${org}`));
    const again = await handle(signed(body, `msg_dup_${org}`));
    assert.deepEqual(await again.json(), { status: "duplicate", org_id: org, user_id: user });
    assert.equal(
      lines.at(-1),
      `Skipped organizationMembership.created for organization ${org} user ${user}: this delivery was already applied`,
    );
  });
});

Deno.test("createHandler() answers user.deleted as before and removes the user's memberships", async () => {
  await withStack(async ({ handle, sql }) => {
    const [org, other, user] = [orgId(), userId(), userId()];
    for (const member of [user, other]) {
      await handle(signed(memberEvent("organizationMembership.created", { org, user: member })));
    }
    const res = await handle(signed(deletedEvent(user, 1_700_000_005_000)));
    assert.deepEqual(await res.json(), { status: "deleted", user_id: user });
    assert.deepEqual((await memberships(sql, org)).map((row) => row.user_id), [other]);
  });
});

Deno.test("createHandler() answers 422 to a membership event without its organization snapshot", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const [org, user] = [orgId(), userId()];
    const event = JSON.parse(memberEvent("organizationMembership.created", { org, user }));
    delete event.data.organization;
    const res = await handle(signed(JSON.stringify(event)));
    assert.equal(res.status, 422);
    assert.deepEqual(await res.json(), { error: "data.organization is missing" });
    assert.deepEqual(lines, [
      `Rejected webhook organizationMembership.created for user ${user} (422): data.organization is missing`,
    ]);
    assert.equal(await organization(sql, org), undefined);
    assert.deepEqual(await memberships(sql, org), []);
  });
});

Deno.test("createHandler() answers 422 to a membership without public_user_data.user_id, naming the organization", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const [org, user] = [orgId(), userId()];
    const event = JSON.parse(memberEvent("organizationMembership.updated", { org, user }));
    event.data.public_user_data.user_id = null;
    event.data.user_id = user; // not where Clerk puts the member: not read
    const res = await handle(signed(JSON.stringify(event)));
    assert.equal(res.status, 422);
    assert.deepEqual(lines, [
      `Rejected webhook organizationMembership.updated for organization ${org} (422): data.public_user_data.user_id is missing`,
    ]);
    assert.equal(await organization(sql, org), undefined, "nothing half-written");
  });
});

Deno.test("createHandler() answers 422 to an organization.updated PostgreSQL cannot store, naming the field", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const id = orgId();
    const res = await handle(signed(orgEvent("organization.updated", id, 8.64e15)));
    assert.equal(res.status, 422);
    const message =
      "data.updated_at is not a valid timestamp (epoch milliseconds from 1970 to 9999)";
    assert.deepEqual(await res.json(), { error: message });
    assert.deepEqual(lines, [
      `Rejected webhook organization.updated for organization ${id} (422): ${message}`,
    ]);
    assert.equal(await organization(sql, id), undefined);
  });
});

Deno.test("createHandler() answers 422 to a membership whose snapshot's metadata is nested too deep", async () => {
  await withStack(async ({ handle, lines }) => {
    const [org, user] = [orgId(), userId()];
    const deep = `${"[".repeat(50_000)}${"]".repeat(50_000)}`;
    const body = memberEvent("organizationMembership.created", { org, user })
      .replace('"public_metadata":{}', `"public_metadata":{"deep":${deep}}`);
    const res = await handle(signed(body));
    assert.equal(res.status, 422);
    assert.deepEqual(lines, [
      `Rejected webhook organizationMembership.created for organization ${org} user ${user} (422): data.organization.public_metadata is nested deeper than 100 levels`,
    ]);
  });
});

Deno.test("createHandler() escapes control characters of an organization's name in its log lines", async () => {
  await withStack(async ({ handle, lines, sql }) => {
    const id = orgId();
    const name = "Evil\nSuccessfully synced organization org_admin\u001b[31m";
    const res = await handle(signed(orgEvent("organization.created", id, 1_700_000_000_000, name)));
    assert.equal(res.status, 200);
    assert.equal(
      lines[1],
      `Syncing organization ${id} (Evil\\nSuccessfully synced organization org_admin\\u001b[31m)`,
    );
    assert.equal((await organization(sql, id)).name, name, "the stored name is unchanged");
  });
});

Deno.test("createHandler() answers 500 to an organization event when the key is rejected", async () => {
  const wrongKey = await roleJwt("service_role", "a-different-secret-of-at-least-32-chars");
  await withStack(async ({ handle, lines, sql }) => {
    const id = orgId();
    const res = await handle(signed(orgEvent("organization.created", id, 1_700_000_000_000)));
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), { error: "internal error" });
    assert.match(
      lines.at(-1) ?? "",
      new RegExp(
        `^Failed to sync organization\\.created for organization ${id} \\(500\\): the service key was rejected`,
      ),
    );
    assert.ok(!lines.join("\n").includes(wrongKey));
    assert.equal(await organization(sql, id), undefined);
  }, { key: wrongKey });
});

Deno.test("createHandler() answers 503 to a membership event when the database cannot be reached", async () => {
  await withStack(async ({ handle, lines }) => {
    const [org, user] = [orgId(), userId()];
    const res = await handle(signed(memberEvent("organizationMembership.created", { org, user })));
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { error: "database unavailable" });
    assert.match(
      lines.at(-1) ?? "",
      new RegExp(
        `^Failed to sync organizationMembership\\.created for organization ${org} user ${user} \\(503\\): database unreachable`,
      ),
    );
  }, { unreachable: true });
});
