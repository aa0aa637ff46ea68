// End to end over the real entrypoint (function process → PostgREST stand-in → PostgreSQL):
// Clerk's published webhook examples delivered in order (issue 16 point 5), an event of another
// Clerk instance (issue 16 point 2), and crafted but validly signed membership events (issue 17
// point 5). One stack: after the examples, the database follows their instance.
import assert from "node:assert/strict";
import type postgres from "postgres";
import {
  clerkEvent,
  clerkId,
  clerkMembershipEvent,
  clerkMembershipPayload,
  clerkOrganizationPayload,
  clerkUserPayload,
  INSTANCE_ID,
  svixHeaders,
} from "../support/clerk_payloads.ts";
import { type LocalStack, startLocalStack } from "../support/local_stack.ts";
import { type Answer, deliver, orgSnapshot, post, snapshot, withSql } from "./support.ts";

// Clerk's examples, from clerk/openapi-specs webhooks/2025-04-15.yml (MIT; see the README there).
const EXAMPLES: Record<string, Record<string, unknown>> = JSON.parse(
  await Deno.readTextFile(
    new URL("../fixtures/clerk_webhooks/webhooks_2025-04-15_examples.json", import.meta.url),
  ),
);
// The instance of Clerk's examples: nobody's, so neither recorded nor refused.
const SPEC_INSTANCE = "ins_2g7np7Hrk0SN6kj5EDMLDaKNL0S";
// The instance this test's database follows once a real event has named it.
const OWN_INSTANCE = "ins_2RulesTestOwnInstance";
const JOHN = "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S";
const JANE = "user_2h8op3Isl1QR7tKu5FGNfaLKEoU";
const ACME = "org_2g7np7Hrk0SN6kj5EDMLDaKNL0S";
const JANE_IN_ACME = "orgmem_2g7np7Hrk0SN6kj5EDMLDaKNL0S";
// The examples' times: 1716883200 s (the envelopes) and 1716883200000 / 1716883500000 ms (data).
const T0 = 1716883200000;
const T5 = 1716883500000;
const MINUTE = 60_000;

// This test's own instance on an event built by tests/support (which names INSTANCE_ID).
function ofOwnInstance(event: object): string {
  return JSON.stringify({ ...event, instance_id: OWN_INSTANCE });
}

async function deliverSignedAt(stack: LocalStack, body: string, at: Date): Promise<Answer> {
  const msgId = clerkId("msg");
  return await post(stack.functionUrl, {
    headers: svixHeaders(stack.webhookSecret, body, { msgId, timestamp: at }),
    body,
  });
}

async function loggedCount(sql: postgres.Sql, msgId: string): Promise<number> {
  const rows = await sql`
    select count(*)::int as n from clerk_sync.webhook_events where svix_id = ${msgId}`;
  return rows[0].n;
}

function membership(orgId: string, userId: string, createdAt: number, id = clerkId("orgmem")) {
  const organization = clerkOrganizationPayload({ id: orgId, updatedAt: createdAt - MINUTE });
  return clerkMembershipPayload({ id, organization, userId, createdAt, role: "org:member" });
}

Deno.test("local stack: Clerk's published examples, another instance, crafted membership events", async (t) => {
  const stack = await startLocalStack();
  try {
    await withSql(stack.databaseUrl, async (sql) => {
      // The rows of the examples' subjects, in a comparable form.
      async function rows() {
        const users = await snapshot(sql, "user_2g7np7");
        const orgs = await orgSnapshot(sql, ACME);
        return {
          profiles: users.profiles,
          userTombstones: users.tombstones,
          organizations: orgs.organizations,
          memberships: orgs.memberships,
          orgTombstones: orgs.orgTombstones,
          membershipTombstones: orgs.membershipTombstones,
        };
      }
      const john = {
        user_id: JOHN,
        email: null, // the example lists no email address (email_addresses: [])
        first_name: "John",
        last_name: "Doe",
        username: null,
        image_url: "https://img.clerk.com/xxxxxx",
        public_metadata: {},
        clerk_created_ms: T0,
        clerk_updated_ms: T0,
      };
      const johnUpdated = {
        ...john,
        last_name: "Doe Updated",
        username: "johndoe",
        image_url: "https://img.clerk.com/yyyyy",
        public_metadata: { department: "engineering" },
        clerk_updated_ms: T5,
      };
      const acme = {
        org_id: ACME,
        name: "Acme Corp",
        slug: "acme-corp",
        image_url: "https://img.clerk.com/xxxxxx",
        public_metadata: {},
        created_by: JOHN,
        clerk_created_ms: T0,
        clerk_updated_ms: T0,
      };
      const acmeUpdated = {
        ...acme,
        name: "Acme Corp Updated",
        slug: "acme-corp-updated",
        image_url: "https://img.clerk.com/yyyyyy",
        public_metadata: { department: "engineering" },
        clerk_updated_ms: T5,
      };
      const jane = {
        org_id: ACME,
        user_id: JANE,
        membership_id: JANE_IN_ACME,
        role: "org:member",
        role_name: "Member",
        permissions: ["org:posts:read", "org:posts:write"],
        public_metadata: {},
        clerk_created_ms: T0,
        clerk_updated_ms: T0,
      };
      const janeAdmin = {
        ...jane,
        role: "org:admin",
        role_name: "Admin",
        permissions: [
          "org:posts:read",
          "org:posts:write",
          "org:posts:delete",
          "org:members:manage",
        ],
        clerk_updated_ms: T5,
      };
      const none = {
        profiles: [],
        userTombstones: [],
        organizations: [],
        memberships: [],
        orgTombstones: [],
        membershipTombstones: [],
      };
      // Each example, its answer, and every row of its subjects right after it.
      const steps = [
        {
          type: "user.created",
          answer: { status: "applied", user_id: JOHN },
          rows: { ...none, profiles: [john] },
        },
        {
          type: "user.updated",
          answer: { status: "applied", user_id: JOHN },
          rows: { ...none, profiles: [johnUpdated] },
        },
        {
          type: "organization.created",
          answer: { status: "applied", org_id: ACME },
          rows: { ...none, profiles: [johnUpdated], organizations: [acme] },
        },
        {
          type: "organization.updated",
          answer: { status: "applied", org_id: ACME },
          rows: { ...none, profiles: [johnUpdated], organizations: [acmeUpdated] },
        },
        {
          // Its organization snapshot is older than the stored row: the row stays.
          type: "organizationMembership.created",
          answer: { status: "applied", org_id: ACME, user_id: JANE },
          rows: {
            ...none,
            profiles: [johnUpdated],
            organizations: [acmeUpdated],
            memberships: [jane],
          },
        },
        {
          // Its snapshot is as new as the stored row (not newer): the row stays.
          type: "organizationMembership.updated",
          answer: { status: "applied", org_id: ACME, user_id: JANE },
          rows: {
            ...none,
            profiles: [johnUpdated],
            organizations: [acmeUpdated],
            memberships: [janeAdmin],
          },
        },
        {
          // Envelope timestamp 1716883200 (seconds) = the membership's created_at: it goes. Read
          // as milliseconds (January 1970) it stayed, and the answer still said "deleted".
          type: "organizationMembership.deleted",
          answer: { status: "deleted", org_id: ACME, user_id: JANE },
          rows: {
            ...none,
            profiles: [johnUpdated],
            organizations: [acmeUpdated],
            membershipTombstones: [{ org_id: ACME, user_id: JANE, deleted_ms: T0 }],
          },
        },
        {
          type: "organization.deleted",
          answer: { status: "deleted", org_id: ACME },
          rows: {
            ...none,
            profiles: [johnUpdated],
            orgTombstones: [{ org_id: ACME, deleted_ms: T0, kind: "announced" }],
            membershipTombstones: [{ org_id: ACME, user_id: JANE, deleted_ms: T0 }],
          },
        },
        {
          type: "user.deleted",
          answer: { status: "deleted", user_id: JOHN },
          rows: {
            ...none,
            userTombstones: [{ user_id: JOHN, deleted_ms: T0 }],
            orgTombstones: [{ org_id: ACME, deleted_ms: T0, kind: "announced" }],
            membershipTombstones: [{ org_id: ACME, user_id: JANE, deleted_ms: T0 }],
          },
        },
      ];

      await t.step(
        "Clerk's nine examples, in order: each 200 with the rows right after",
        async () => {
          // All nine, delivered in the order of a life: created, updated, removed, deleted.
          assert.deepEqual(Object.keys(EXAMPLES).sort(), steps.map((s) => s.type).sort());
          assert.deepEqual(await rows(), none);
          for (const step of steps) {
            const body = JSON.stringify(EXAMPLES[step.type]);
            const answer = await deliver(stack, { msgId: clerkId("msg"), body });
            assert.equal(answer.status, 200, `${step.type}: ${answer.text}`);
            assert.deepEqual(answer.body, step.answer, step.type);
            assert.deepEqual(await rows(), step.rows, `rows after ${step.type}`);
          }
          await stack.waitForLog(
            new RegExp(`^Successfully deleted membership of ${JANE} in ${ACME}$`),
          );
          assert.ok(Object.values(EXAMPLES).every((e) => e.instance_id === SPEC_INSTANCE));
          const recorded = await sql`select instance_id from clerk_sync.clerk_instance`;
          assert.deepEqual([...recorded], [], "Clerk's example instance is not recorded");
        },
      );

      await t.step("the first event naming a real instance records it", async () => {
        const userId = clerkId("user");
        const user = clerkUserPayload({ id: userId, updatedAt: Date.now() - 20 * MINUTE });
        const answer = await deliver(stack, {
          msgId: clerkId("msg"),
          body: ofOwnInstance(clerkEvent("user.created", user, Date.now() - 20 * MINUTE)),
        });
        assert.equal(answer.body.status, "applied", answer.text);
        const recorded = await sql`select instance_id, recorded_by from clerk_sync.clerk_instance`;
        assert.deepEqual([...recorded], [{ instance_id: OWN_INSTANCE, recorded_by: "webhook" }]);
        // An example delivered now is still applied: no other instance.
        const example = await deliver(stack, {
          msgId: clerkId("msg"),
          body: JSON.stringify(EXAMPLES["user.updated"]),
        });
        assert.equal(example.status, 200, example.text);
      });

      const base = Date.now() - 10 * MINUTE;
      const otherInstance = {
        msgId: clerkId("msg"),
        orgId: clerkId("org"),
        userId: clerkId("user"),
        body: "",
      };
      await t.step(
        "an event of another instance: 409 naming both ids, nothing written",
        async () => {
          const member = membership(otherInstance.orgId, otherInstance.userId, base);
          otherInstance.body = JSON.stringify(
            clerkMembershipEvent("organizationMembership.created", member, base),
          );
          const answer = await deliver(stack, otherInstance);
          assert.equal(answer.status, 409, answer.text);
          assert.deepEqual(answer.body, {
            error: `this database follows Clerk instance ${OWN_INSTANCE}, not ${INSTANCE_ID}`,
            recorded_instance_id: OWN_INSTANCE,
            event_instance_id: INSTANCE_ID,
          });
          await stack.waitForLog(
            new RegExp(
              `^Rejected webhook organizationMembership\\.created for organization ` +
                `${otherInstance.orgId} user ${otherInstance.userId} \\(409\\): this database ` +
                `follows Clerk instance ${OWN_INSTANCE}, not ${INSTANCE_ID}$`,
            ),
          );
          const state = await orgSnapshot(sql, otherInstance.orgId);
          assert.deepEqual(state.organizations, [], "not even the organization snapshot");
          assert.deepEqual(state.memberships, []);
          assert.equal(await loggedCount(sql, otherInstance.msgId), 0, "no delivery log row");
          // Svix retries it: the same answer, still nothing written.
          assert.equal((await deliver(stack, otherInstance)).status, 409);
          assert.equal(await loggedCount(sql, otherInstance.msgId), 0);
        },
      );

      await t.step(
        "a removal dated 9999 is ordered at svix-timestamp + 5 min, not in 9999",
        async () => {
          const orgId = clerkId("org");
          const userId = clerkId("user");
          const member = membership(orgId, userId, base);
          const created = await deliver(stack, {
            msgId: clerkId("msg"),
            body: ofOwnInstance(
              clerkMembershipEvent("organizationMembership.created", member, base),
            ),
          });
          assert.equal(created.body.status, "applied", created.text);
          const signedAt = new Date();
          const removed = await deliverSignedAt(
            stack,
            ofOwnInstance(
              clerkMembershipEvent("organizationMembership.deleted", member, 253402300799000),
            ),
            signedAt,
          );
          assert.deepEqual(removed.body, { status: "deleted", org_id: orgId, user_id: userId });
          const bound = (Math.floor(signedAt.getTime() / 1000) + 300) * 1000;
          const state = await orgSnapshot(sql, orgId);
          assert.deepEqual(state.memberships, []);
          assert.deepEqual(state.membershipTombstones, [
            { org_id: orgId, user_id: userId, deleted_ms: bound },
          ]);
          await stack.waitForLog(
            new RegExp(
              `^Clamped timestamp of organizationMembership\\.deleted for organization ${orgId} ` +
                `user ${userId}: 9999-12-31T23:59:59\\.000Z is later than the delivery was signed`,
            ),
          );
          // Added again: a membership created after that bound applies (before, it was stale
          // until the year 9999). Signed 4 minutes ahead, within the tolerance.
          const later = signedAt.getTime() + 4 * MINUTE;
          const again = membership(orgId, userId, later + 4 * MINUTE);
          const readded = await deliverSignedAt(
            stack,
            ofOwnInstance(clerkMembershipEvent("organizationMembership.created", again, later)),
            new Date(later),
          );
          assert.deepEqual(readded.body, { status: "applied", org_id: orgId, user_id: userId });
          assert.equal((await orgSnapshot(sql, orgId)).memberships[0]?.membership_id, again.id);
        },
      );

      await t.step(
        "a role with NUL is refused 422 naming the field, never stored cleaned",
        async () => {
          const orgId = clerkId("org");
          const userId = clerkId("user");
          const member = { ...membership(orgId, userId, base), role: "org:ad\u0000min" };
          const msgId = clerkId("msg");
          const answer = await deliver(stack, {
            msgId,
            body: ofOwnInstance(
              clerkMembershipEvent("organizationMembership.created", member, base),
            ),
          });
          assert.equal(answer.status, 422, answer.text);
          assert.deepEqual(answer.body, {
            error: "data.role contains control characters or lone surrogates",
          });
          const state = await orgSnapshot(sql, orgId);
          assert.deepEqual([state.organizations, state.memberships], [[], []]);
          assert.equal(await loggedCount(sql, msgId), 0);
          const role = await sql.begin(async (tx) => {
            await tx`select set_config('request.jwt.claims', ${
              JSON.stringify({ sub: userId })
            }, true)`;
            const [row] = await tx`select clerk_rls.org_role(${orgId}) as role`;
            return row.role;
          });
          assert.equal(role, null, "clerk_rls.org_role() does not answer org:admin");
        },
      );

      await t.step(
        "a membership id of another organization: 409 naming it, retries stopped",
        async () => {
          const userId = clerkId("user");
          const first = membership(clerkId("org"), userId, base);
          const applied = await deliver(stack, {
            msgId: clerkId("msg"),
            body: ofOwnInstance(
              clerkMembershipEvent("organizationMembership.created", first, base),
            ),
          });
          assert.equal(applied.body.status, "applied", applied.text);
          const otherOrg = clerkId("org");
          const moved = membership(otherOrg, userId, base, first.id);
          const body = ofOwnInstance(
            clerkMembershipEvent("organizationMembership.updated", moved, base + MINUTE),
          );
          const msgId = clerkId("msg");
          const response = await fetch(stack.functionUrl, {
            method: "POST",
            headers: svixHeaders(stack.webhookSecret, body, { msgId }),
            body,
          });
          assert.equal(response.status, 409);
          assert.equal(response.headers.get("webhook-delivery"), "abort-message");
          assert.deepEqual(await response.json(), {
            error: `membership ${first.id} is stored for organization ${first.organization.id} ` +
              `user ${userId}, not organization ${otherOrg} user ${userId}`,
            membership_id: first.id,
          });
          const state = await orgSnapshot(sql, otherOrg);
          assert.deepEqual([state.organizations, state.memberships], [[], []]);
          assert.equal(await loggedCount(sql, msgId), 0);
          const stored = await orgSnapshot(sql, first.organization.id);
          assert.equal(
            stored.memberships[0]?.membership_id,
            first.id,
            "the stored one is unchanged",
          );
        },
      );

      await t.step(
        "after moving the database to the other instance, its retry applies",
        async () => {
          await sql`select clerk_sync.move_to_clerk_instance(${INSTANCE_ID})`;
          const answer = await deliver(stack, otherInstance);
          assert.deepEqual(answer.body, {
            status: "applied",
            org_id: otherInstance.orgId,
            user_id: otherInstance.userId,
          });
          assert.deepEqual(await rows(), none, "the old instance's rows went with the move");
        },
      );
    });
  } finally {
    await stack.close();
  }
});
