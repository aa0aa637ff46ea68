// The handler's answers for the rules of issues 16 and 17 over a fake store (what reaches the
// store, what is answered and logged), and the store's mapping of the sync functions' SQLSTATEs
// (CS409, CSMEM) into typed errors over a fake PostgREST answer.
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import { createHandler } from "../supabase/functions/clerk-webhook/handler.ts";
import type { SyncEvent } from "../supabase/functions/clerk-webhook/clerk_event.ts";
import {
  InstanceMismatchError,
  MembershipConflictError,
} from "../supabase/functions/clerk-webhook/errors.ts";
import { createSupabaseStore, type Outcome } from "../supabase/functions/clerk-webhook/store.ts";
import type { Logger } from "../supabase/functions/_shared/log.ts";
import { StoreError } from "../supabase/functions/_shared/errors.ts";
import {
  clerkDeletedPayload,
  clerkEvent,
  clerkMembershipEvent,
  clerkMembershipPayload,
  clerkOrganizationPayload,
  INSTANCE_ID,
  signedRequest,
} from "./support/clerk_payloads.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const URL_ = "http://function.test/functions/v1/clerk-webhook";
const ORG = "org_2refusalsAcme";
const USER = "user_2refusalsAda";
const MEMBERSHIP = "orgmem_2refusalsAda";
const OTHER_INSTANCE = "ins_2otherInstance";

interface Rig {
  handle: (req: Request) => Promise<Response>;
  /** The events the store was asked to apply. */
  applied: SyncEvent[];
  lines: { level: keyof Logger; line: string }[];
}

// A handler over a store that records each event and answers `outcome`, or throws `error`.
function rig(answer: { outcome?: Outcome; error?: Error } = {}): Rig {
  const applied: SyncEvent[] = [];
  const lines: Rig["lines"] = [];
  const log: Logger = {
    info: (line) => void lines.push({ level: "info", line }),
    warn: (line) => void lines.push({ level: "warn", line }),
    error: (line) => void lines.push({ level: "error", line }),
  };
  const handle = createHandler({
    secrets: [SECRET],
    log,
    store: {
      apply(event) {
        applied.push(event);
        if (answer.error) return Promise.reject(answer.error);
        return Promise.resolve(answer.outcome ?? "applied");
      },
    },
  });
  return { handle, applied, lines };
}

function membershipBody(
  type: "organizationMembership.created" | "organizationMembership.deleted",
  timestamp: number,
  changes: Record<string, unknown> = {},
): string {
  const organization = clerkOrganizationPayload({ id: ORG, updatedAt: 1_700_000_000_000 });
  const membership = clerkMembershipPayload({
    id: MEMBERSHIP,
    organization,
    userId: USER,
    role: "org:admin",
    createdAt: 1_700_000_000_000,
  });
  return JSON.stringify(
    clerkMembershipEvent(type, { ...membership, ...changes } as typeof membership, timestamp),
  );
}

function userDeletedBody(timestamp: number): string {
  return JSON.stringify(clerkEvent("user.deleted", clerkDeletedPayload(USER), timestamp));
}

function post(body: string): Request {
  return signedRequest(URL_, SECRET, body);
}

Deno.test("createHandler() passes the envelope's instance_id to the store, null when absent", async () => {
  const { handle, applied } = rig();
  const tagged = await handle(post(userDeletedBody(Date.now())));
  assert.equal(tagged.status, 200);
  const untagged = JSON.parse(userDeletedBody(Date.now()));
  delete untagged.instance_id;
  assert.equal((await handle(post(JSON.stringify(untagged)))).status, 200);
  assert.deepEqual(applied.map((event) => event.instanceId), [INSTANCE_ID, null]);
});

Deno.test("createHandler() answers 409 to an event of another Clerk instance, naming both ids", async () => {
  const { handle, lines } = rig({ error: new InstanceMismatchError(INSTANCE_ID, OTHER_INSTANCE) });
  const body = JSON.parse(userDeletedBody(Date.now()));
  const res = await handle(post(JSON.stringify({ ...body, instance_id: OTHER_INSTANCE })));
  assert.equal(res.status, 409);
  assert.equal(res.headers.get("webhook-delivery"), null, "Svix retries it");
  assert.deepEqual(await res.json(), {
    error: `this database follows Clerk instance ${INSTANCE_ID}, not ${OTHER_INSTANCE}`,
    recorded_instance_id: INSTANCE_ID,
    event_instance_id: OTHER_INSTANCE,
  });
  assert.deepEqual(lines.at(-1), {
    level: "error",
    line: `Rejected webhook user.deleted for user ${USER} (409): this database follows Clerk ` +
      `instance ${INSTANCE_ID}, not ${OTHER_INSTANCE}`,
  });
});

Deno.test("createHandler() answers 422 to a malformed instance_id without calling the store", async () => {
  const { handle, applied } = rig();
  const body = JSON.parse(userDeletedBody(Date.now()));
  const res = await handle(post(JSON.stringify({ ...body, instance_id: "production" })));
  assert.equal(res.status, 422);
  assert.deepEqual(await res.json(), {
    error: "instance_id is not a Clerk instance id (ins_ and 1 to 64 letters or digits)",
  });
  assert.equal(applied.length, 0);
});

Deno.test("createHandler() answers 409 for a membership id of another pair and stops Svix's retries", async () => {
  const message = `membership ${MEMBERSHIP} is stored for organization org_2refusalsOther user ` +
    `${USER}, not organization ${ORG} user ${USER}`;
  const { handle, lines } = rig({ error: new MembershipConflictError(MEMBERSHIP, message) });
  const res = await handle(post(membershipBody("organizationMembership.created", Date.now())));
  assert.equal(res.status, 409);
  assert.equal(res.headers.get("webhook-delivery"), "abort-message");
  assert.deepEqual(await res.json(), { error: message, membership_id: MEMBERSHIP });
  assert.deepEqual(lines.at(-1), {
    level: "warn",
    line: `Rejected webhook organizationMembership.created for organization ${ORG} user ` +
      `${USER} (409): ${message}`,
  });
});

Deno.test("createHandler() answers 422 to a role or permission holding NUL, naming the field", async () => {
  const { handle, applied, lines } = rig();
  const role = await handle(
    post(membershipBody("organizationMembership.created", Date.now(), { role: "org:ad\u0000min" })),
  );
  assert.equal(role.status, 422);
  assert.deepEqual(await role.json(), {
    error: "data.role contains control characters or lone surrogates",
  });
  assert.equal(
    lines.at(-1)?.line,
    `Rejected webhook organizationMembership.created for organization ${ORG} user ${USER} ` +
      "(422): data.role contains control characters or lone surrogates",
  );
  const permission = await handle(
    post(
      membershipBody("organizationMembership.created", Date.now(), {
        permissions: ["org:sys_memberships:manage\ud800"],
      }),
    ),
  );
  assert.equal(permission.status, 422);
  assert.deepEqual(await permission.json(), {
    error: "data.permissions[0] contains control characters or lone surrogates",
  });
  assert.equal(applied.length, 0, "nothing reached the store");
});

Deno.test("createHandler() orders a removal dated 9999 at svix-timestamp + 5 min and says so", async () => {
  const { handle, applied, lines } = rig({ outcome: "deleted" });
  const signedAt = new Date();
  const req = signedRequest(
    URL_,
    SECRET,
    membershipBody("organizationMembership.deleted", 253402300799000),
    { timestamp: signedAt },
  );
  const res = await handle(req);
  assert.equal(res.status, 200);
  const bound = new Date((Math.floor(signedAt.getTime() / 1000) + 300) * 1000).toISOString();
  assert.equal(applied[0].occurredAt, bound);
  assert.ok(
    lines.some(({ level, line }) =>
      level === "warn" &&
      line === `Clamped timestamp of organizationMembership.deleted for organization ${ORG} ` +
          `user ${USER}: 9999-12-31T23:59:59.000Z is later than the delivery was signed ` +
          `(svix-timestamp + 300 s); ordered at ${bound}`
    ),
    JSON.stringify(lines),
  );
});

Deno.test("createHandler() reads an envelope timestamp in seconds as Clerk's examples send it", async () => {
  const { handle, applied } = rig({ outcome: "deleted" });
  const seconds = Math.floor(Date.now() / 1000) - 60;
  assert.equal((await handle(post(userDeletedBody(seconds)))).status, 200);
  assert.equal((await handle(post(userDeletedBody(seconds * 1000)))).status, 200);
  const iso = new Date(seconds * 1000).toISOString();
  assert.deepEqual(applied.map((event) => event.occurredAt), [iso, iso]);
});

Deno.test("createHandler() answers and logs stale when a removal removed nothing", async () => {
  const { handle, lines } = rig({ outcome: "stale" });
  const res = await handle(post(membershipBody("organizationMembership.deleted", Date.now())));
  assert.deepEqual(await res.json(), { status: "stale", org_id: ORG, user_id: USER });
  assert.equal(
    lines.at(-1)?.line,
    `Skipped organizationMembership.deleted for organization ${ORG} user ${USER}: stale ` +
      "(nothing was removed: the stored membership was created after this removal, the " +
      "removal was already recorded, or the organization or user is deleted)",
  );
  assert.ok(!lines.some(({ line }) => line.startsWith("Successfully")));
  const user = rig({ outcome: "stale" });
  await user.handle(post(userDeletedBody(Date.now())));
  assert.equal(
    user.lines.at(-1)?.line,
    `Skipped user.deleted for user ${USER}: stale (nothing was removed: the deletion was ` +
      "already recorded)",
  );
});

// The store: PostgREST answers the sync functions' own SQLSTATEs 400 with the code and message.
function storeAnswering(code: string, message: string) {
  const client = createClient("http://stand-in.test", "service-key", {
    auth: { persistSession: false, autoRefreshToken: false },
    global: {
      fetch: () =>
        Promise.resolve(
          new Response(JSON.stringify({ code, message, details: null, hint: null }), {
            status: 400,
            headers: { "Content-Type": "application/json" },
          }),
        ),
    },
  });
  return createSupabaseStore(client, { timeoutMs: 5000 });
}

function membershipEvent(instanceId: string | null): SyncEvent {
  const at = "2026-01-01T00:00:00.000Z";
  const organization = {
    org_id: ORG,
    name: "Acme",
    slug: null,
    image_url: null,
    public_metadata: {},
    created_by: null,
    clerk_created_at: at,
    clerk_updated_at: at,
  };
  return {
    kind: "membership",
    svixId: "msg_2refusals",
    instanceId,
    clamped: [],
    type: "organizationMembership.created",
    orgId: ORG,
    userId: USER,
    occurredAt: at,
    membership: {
      membership_id: MEMBERSHIP,
      org_id: ORG,
      user_id: USER,
      role: "org:admin",
      role_name: "Admin",
      permissions: [],
      public_metadata: {},
      clerk_created_at: at,
      clerk_updated_at: at,
    },
    organization,
  };
}

Deno.test("createSupabaseStore() turns CS409 into an InstanceMismatchError naming both ids", async () => {
  const store = storeAnswering(
    "CS409",
    `this database follows Clerk instance ${INSTANCE_ID}, not ${OTHER_INSTANCE}`,
  );
  await assert.rejects(store.apply(membershipEvent(OTHER_INSTANCE)), (error: Error) => {
    assert.ok(error instanceof InstanceMismatchError);
    assert.equal(error.recordedInstanceId, INSTANCE_ID);
    assert.equal(error.eventInstanceId, OTHER_INSTANCE);
    return true;
  });
});

Deno.test("createSupabaseStore() turns CSMEM into a MembershipConflictError, other codes not", async () => {
  const message = `membership ${MEMBERSHIP} is stored for organization org_x user ${USER}, ` +
    `not organization ${ORG} user ${USER}`;
  await assert.rejects(
    storeAnswering("CSMEM", message).apply(membershipEvent(null)),
    (error: Error) => {
      assert.ok(error instanceof MembershipConflictError);
      assert.equal(error.membershipId, MEMBERSHIP);
      assert.equal(error.message, message);
      return true;
    },
  );
  await assert.rejects(
    storeAnswering("22023", "the membership has a malformed field").apply(membershipEvent(null)),
    (error: Error) => error instanceof StoreError && error.answer?.code === "22023",
  );
});
