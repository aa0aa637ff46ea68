// End to end over the real entrypoint: organization and membership events sent over HTTP to the
// function process, in the orders Svix can deliver them (late, overtaken, redelivered, shuffled),
// and read back with SQL from the throwaway database behind the PostgREST stand-in.
import assert from "node:assert/strict";
import type postgres from "postgres";
import {
  clerkId,
  type ClerkMembershipOptions,
  type ClerkMembershipPayload,
  clerkMembershipPayload,
  type ClerkOrganizationPayload,
  clerkOrganizationPayload,
} from "../support/clerk_payloads.ts";
import { type LocalStack, startLocalStack } from "../support/local_stack.ts";
import { runSend } from "./dev_process.ts";
import {
  countStatuses,
  deliver,
  type Delivery,
  expectedMembershipRow,
  expectedOrganizationRow,
  expectedRow,
  mapConcurrent,
  type MembershipDelivery,
  membershipDelivery,
  type MembershipRow,
  type OrganizationRow,
  type OrgDelivery,
  orgDelivery,
  orgSnapshot,
  type ProfileRow,
  runId,
  shuffled,
  snapshot,
  userDelivery,
  withSql,
} from "./support.ts";

const MINUTE = 60_000;

function org(id: string, version: number, at: number, createdAt = at): ClerkOrganizationPayload {
  return clerkOrganizationPayload({
    id,
    name: `Org ${version}`,
    slug: `${id.toLowerCase()}-v${version}`.replaceAll("_", "-"),
    createdAt,
    updatedAt: at,
    publicMetadata: { version },
    privateMetadata: { billing: `private-${version}` },
  });
}

function member(
  options: Omit<ClerkMembershipOptions, "id"> & { id?: string },
): ClerkMembershipPayload {
  return clerkMembershipPayload({
    ...options,
    id: options.id ?? clerkId("orgmem"),
    privateMetadata: { seat: "private" },
  });
}

async function expectStatus(
  stack: LocalStack,
  delivery: OrgDelivery | MembershipDelivery | Delivery,
  status: string,
): Promise<void> {
  const answer = await deliver(stack, delivery);
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.body.status, status, `${delivery.type}: ${answer.text}`);
}

async function svixIdCount(sql: postgres.Sql, ids: string[]): Promise<number> {
  const rows = await sql`
    select count(*)::int as n from clerk_sync.webhook_events where svix_id = any(${ids})`;
  return rows[0].n;
}

Deno.test("local stack: organizations and memberships sync end to end, in any order", async (t) => {
  const stack = await startLocalStack();
  const run = runId();
  const orgPrefix = `org_e2e${run}`;
  const userPrefix = `user_e2e${run}`;
  const base = Date.now() - 2 * 3600_000;
  try {
    await withSql(stack.databaseUrl, async (sql) => {
      await t.step(
        "a membership before its organization applies; its snapshot creates it",
        async () => {
          const orgId = `${orgPrefix}_first`;
          const userId = `${userPrefix}_first`;
          const v1 = org(orgId, 1, base);
          const ada = member({
            organization: v1,
            userId,
            role: "org:admin",
            createdAt: base + 1000,
          });
          const answer = await deliver(
            stack,
            membershipDelivery("organizationMembership.created", ada, clerkId("msg")),
          );
          assert.equal(answer.status, 200, answer.text);
          assert.deepEqual(answer.body, { status: "applied", org_id: orgId, user_id: userId });
          await stack.waitForLog(
            new RegExp(
              `^Webhook received: organizationMembership\\.created for organization: ${orgId} user: ${userId}$`,
            ),
          );
          await stack.waitForLog(
            new RegExp(`^Syncing membership of ${userId} in ${orgId} \\(org:admin\\)$`),
          );
          await stack.waitForLog(
            new RegExp(`^Successfully synced membership of ${userId} in ${orgId}$`),
          );
          let state = await orgSnapshot(sql, orgId);
          assert.deepEqual(state.organizations, [expectedOrganizationRow(v1)]);
          assert.deepEqual(state.memberships, [expectedMembershipRow(ada)]);

          // The organization's own events arrive after: the same data is stale, newer applies.
          await expectStatus(
            stack,
            orgDelivery("organization.created", v1, clerkId("msg")),
            "stale",
          );
          const v2 = org(orgId, 2, base + 2000, base);
          await expectStatus(
            stack,
            orgDelivery("organization.updated", v2, clerkId("msg")),
            "applied",
          );
          await stack.waitForLog(new RegExp(`^Syncing organization ${orgId} \\(Org 2\\)$`));
          await stack.waitForLog(new RegExp(`^Successfully synced organization ${orgId}$`));
          state = await orgSnapshot(sql, orgId);
          assert.deepEqual(state.organizations, [expectedOrganizationRow(v2)]);
          assert.deepEqual(state.memberships, [expectedMembershipRow(ada)]);
        },
      );

      await t.step(
        "npm run send -- organization.created / organizationMembership.created log their lines",
        async () => {
          const orgId = `${orgPrefix}_send`;
          const userId = `${userPrefix}_send`;
          const env = {
            FUNCTION_URL: stack.functionUrl,
            CLERK_WEBHOOK_SECRET: stack.webhookSecret,
            CLERK_SYNC_DEV_STATE: `/nonexistent/dev-stack-${run}.env`,
          };
          const orgSent = await runSend(["organization.created", "--org-id", orgId], env);
          assert.equal(orgSent.code, 0, orgSent.stdout + orgSent.stderr);
          assert.match(orgSent.stdout, /^200 OK$/m);
          assert.match(orgSent.stdout, new RegExp(`"status":"applied","org_id":"${orgId}"`));
          const memberSent = await runSend([
            "organizationMembership.created",
            "--org-id",
            orgId,
            "--user-id",
            userId,
            "--role",
            "org:billing_manager",
          ], env);
          assert.equal(memberSent.code, 0, memberSent.stdout + memberSent.stderr);
          assert.match(
            memberSent.stdout,
            new RegExp(`"status":"applied","org_id":"${orgId}","user_id":"${userId}"`),
          );
          for (
            const line of [
              `Webhook received: organization.created for organization: ${orgId}`,
              `Syncing organization ${orgId} (Acme Inc)`,
              `Successfully synced organization ${orgId}`,
              `Webhook received: organizationMembership.created for organization: ${orgId} user: ${userId}`,
              `Syncing membership of ${userId} in ${orgId} (org:billing_manager)`,
              `Successfully synced membership of ${userId} in ${orgId}`,
            ]
          ) {
            await stack.waitForLog(new RegExp(`^${line.replace(/[().]/g, "\\$&")}$`));
          }
          const state = await orgSnapshot(sql, orgId);
          assert.deepEqual(state.organizations.map((o) => o.name), ["Acme Inc"]);
          assert.deepEqual(
            state.memberships.map((m) => [m.user_id, m.role, m.role_name]),
            [[userId, "org:billing_manager", "Billing manager"]],
          );

          // Signed with the real secret, a made-up deletion is refused off this machine.
          const remote = await runSend([
            "organization.deleted",
            "--org-id",
            orgId,
            "--url",
            "https://abcdefgh.supabase.co/functions/v1/clerk-webhook",
          ], env);
          assert.equal(remote.code, 2, remote.stdout + remote.stderr);
          assert.match(
            remote.stderr,
            new RegExp(
              `organization\\.deleted for ${orgId} is made up .* delete that organization and all its memberships`,
            ),
          );
        },
      );

      await t.step("a role change that overtakes the creation is kept", async () => {
        const orgId = `${orgPrefix}_role`;
        const userId = `${userPrefix}_role`;
        const acme = org(orgId, 1, base);
        const id = clerkId("orgmem");
        const created = member({ id, organization: acme, userId, createdAt: base + 1000 });
        const promoted = member({
          id,
          organization: acme,
          userId,
          role: "org:admin",
          createdAt: base + 1000,
          updatedAt: base + 5000,
        });
        await expectStatus(
          stack,
          membershipDelivery("organizationMembership.updated", promoted, clerkId("msg")),
          "applied",
        );
        await expectStatus(
          stack,
          membershipDelivery("organizationMembership.created", created, clerkId("msg")),
          "stale",
        );
        const state = await orgSnapshot(sql, orgId);
        assert.deepEqual(state.memberships, [expectedMembershipRow(promoted)]);
        assert.equal(state.memberships[0].role, "org:admin");
      });

      await t.step(
        ".deleted then a late .updated: the member stays removed until added again",
        async () => {
          const orgId = `${orgPrefix}_removed`;
          const userId = `${userPrefix}_removed`;
          const acme = org(orgId, 1, base);
          const id = clerkId("orgmem");
          const created = member({ id, organization: acme, userId, createdAt: base + 1000 });
          const promoted = member({
            id,
            organization: acme,
            userId,
            role: "org:admin",
            createdAt: base + 1000,
            updatedAt: base + 3000,
          });
          await expectStatus(
            stack,
            membershipDelivery("organizationMembership.created", created, clerkId("msg")),
            "applied",
          );
          // Clerk's .deleted carries the membership as created (updated_at base + 1000), older
          // than the promotion; the envelope's timestamp orders it.
          const removedAt = base + 5000;
          await expectStatus(
            stack,
            membershipDelivery(
              "organizationMembership.deleted",
              created,
              clerkId("msg"),
              removedAt,
            ),
            "deleted",
          );
          await stack.waitForLog(new RegExp(`^Deleting membership of ${userId} in ${orgId}$`));
          await expectStatus(
            stack,
            membershipDelivery("organizationMembership.updated", promoted, clerkId("msg")),
            "stale",
          );
          let state = await orgSnapshot(sql, orgId);
          assert.deepEqual(state.memberships, []);
          assert.deepEqual(state.membershipTombstones, [
            { org_id: orgId, user_id: userId, deleted_ms: removedAt },
          ]);

          // Added again later: a new membership, created after the removal, applies.
          const again = member({ organization: acme, userId, createdAt: base + 6000 });
          await expectStatus(
            stack,
            membershipDelivery("organizationMembership.created", again, clerkId("msg")),
            "applied",
          );
          state = await orgSnapshot(sql, orgId);
          assert.deepEqual(state.memberships, [expectedMembershipRow(again)]);
        },
      );

      await t.step(
        "organization.deleted removes every membership; late events are stale",
        async () => {
          const orgId = `${orgPrefix}_gone`;
          const v1 = org(orgId, 1, base);
          await expectStatus(
            stack,
            orgDelivery("organization.created", v1, clerkId("msg")),
            "applied",
          );
          const members = ["a", "b", "c"].map((name, i) =>
            member({ organization: v1, userId: `${userPrefix}_gone${name}`, createdAt: base + i })
          );
          for (const m of members) {
            await expectStatus(
              stack,
              membershipDelivery("organizationMembership.created", m, clerkId("msg")),
              "applied",
            );
          }
          assert.equal((await orgSnapshot(sql, orgId)).memberships.length, 3);

          const deletedAt = base + 10_000;
          await expectStatus(
            stack,
            orgDelivery("organization.deleted", v1, clerkId("msg"), deletedAt),
            "deleted",
          );
          await stack.waitForLog(new RegExp(`^Successfully deleted organization ${orgId}$`));
          const late = member({
            id: members[0].id,
            organization: org(orgId, 2, base + 20_000, base),
            userId: members[0].public_user_data.user_id,
            role: "org:admin",
            createdAt: base,
            updatedAt: base + 20_000,
          });
          await expectStatus(
            stack,
            membershipDelivery("organizationMembership.updated", late, clerkId("msg")),
            "stale",
          );
          const newcomer = member({
            organization: org(orgId, 2, base + 20_000, base),
            userId: `${userPrefix}_goned`,
            createdAt: base + 20_000,
          });
          await expectStatus(
            stack,
            membershipDelivery("organizationMembership.created", newcomer, clerkId("msg")),
            "stale",
          );
          await expectStatus(
            stack,
            orgDelivery("organization.updated", org(orgId, 3, base + 30_000, base), clerkId("msg")),
            "stale",
          );
          const state = await orgSnapshot(sql, orgId);
          assert.deepEqual(state.organizations, []);
          assert.deepEqual(state.memberships, []);
          assert.deepEqual(state.orgTombstones, [
            { org_id: orgId, deleted_ms: deletedAt, kind: "announced" },
          ]);
          assert.equal(state.events.length, 8);
        },
      );

      await t.step(
        "user.deleted removes the user's memberships in every organization",
        async () => {
          const [orgA, orgB] = [`${orgPrefix}_udelA`, `${orgPrefix}_udelB`];
          const userId = `${userPrefix}_udel`;
          const otherId = `${userPrefix}_udelkeep`;
          const [a, b] = [org(orgA, 1, base), org(orgB, 1, base)];
          const mine = [a, b].map((o) => member({ organization: o, userId, createdAt: base + 1 }));
          const kept = member({ organization: a, userId: otherId, createdAt: base + 2 });
          await expectStatus(
            stack,
            userDelivery("user.created", userId, base, clerkId("msg")),
            "applied",
          );
          for (const m of [...mine, kept]) {
            await expectStatus(
              stack,
              membershipDelivery("organizationMembership.created", m, clerkId("msg")),
              "applied",
            );
          }
          const answer = await deliver(
            stack,
            userDelivery("user.deleted", userId, base + 10_000, clerkId("msg")),
          );
          assert.deepEqual(answer.body, { status: "deleted", user_id: userId }, answer.text);
          const late = member({
            id: mine[0].id,
            organization: a,
            userId,
            role: "org:admin",
            createdAt: base + 1,
            updatedAt: base + 20_000,
          });
          await expectStatus(
            stack,
            membershipDelivery("organizationMembership.updated", late, clerkId("msg")),
            "stale",
          );
          const [stateA, stateB] = [await orgSnapshot(sql, orgA), await orgSnapshot(sql, orgB)];
          assert.deepEqual(stateA.memberships, [expectedMembershipRow(kept)]);
          assert.deepEqual(stateB.memberships, []);
          assert.deepEqual(stateA.organizations, [expectedOrganizationRow(a)], "orgs stay");
          assert.deepEqual((await snapshot(sql, userId)).profiles, []);
        },
      );

      await t.step(
        "20 concurrent deliveries of one svix-id: one applied, 19 duplicate",
        async () => {
          const orgId = `${orgPrefix}_dup`;
          const userId = `${userPrefix}_dup`;
          const o = org(orgId, 1, base);
          const memberEvent = membershipDelivery(
            "organizationMembership.created",
            member({ organization: o, userId, createdAt: base + 1 }),
            clerkId("msg"),
          );
          const v2 = org(orgId, 2, base + 5, base);
          const orgEvent = orgDelivery("organization.updated", v2, clerkId("msg"));
          const answers = await Promise.all(
            [memberEvent, orgEvent].flatMap((d) =>
              Array.from({ length: 20 }, () => deliver(stack, d))
            ),
          );
          assert.deepEqual(answers.map((a) => a.status), Array(40).fill(200));
          assert.deepEqual(countStatuses(answers.slice(0, 20)), { applied: 1, duplicate: 19 });
          assert.deepEqual(countStatuses(answers.slice(20)), { applied: 1, duplicate: 19 });
          assert.deepEqual(answers[0].body.org_id, orgId);
          const state = await orgSnapshot(sql, orgId);
          assert.deepEqual(
            state.events,
            [
              {
                svix_id: memberEvent.msgId,
                event_type: "organizationMembership.created",
                org_id: orgId,
                user_id: userId,
              },
              {
                svix_id: orgEvent.msgId,
                event_type: "organization.updated",
                org_id: orgId,
                user_id: null,
              },
            ].sort((x, y) => x.svix_id < y.svix_id ? -1 : 1),
          );
          assert.deepEqual(state.organizations, [expectedOrganizationRow(v2)]);
          assert.deepEqual(state.memberships, [expectedMembershipRow(memberEvent.membership)]);
        },
      );

      await t.step(
        "425 organization, membership and user events, shuffled, at concurrency 16: the newest state",
        async () => {
          const seed = Number(Deno.env.get("E2E_SEED") ?? Math.floor(Math.random() * 2 ** 31));
          const label = `seed ${seed} (rerun with E2E_SEED=${seed})`;
          console.log(`organizations shuffle: ${label}`);
          const stream = loadStream(`${orgPrefix}_load`, `${userPrefix}_load`, base);
          assert.equal(stream.deliveries.length, 425);
          const order = shuffled(stream.deliveries, seed);
          const answers = await mapConcurrent(order, 16, (d) => deliver(stack, d));

          assert.deepEqual(answers.filter((a) => a.status !== 200), [], label);
          const byType = new Map<string, Record<string, number>>();
          order.forEach((d, i) => {
            const counts = byType.get(d.type) ?? {};
            const status = String(answers[i].body.status);
            counts[status] = (counts[status] ?? 0) + 1;
            byType.set(d.type, counts);
          });
          assert.deepEqual(byType.get("organization.deleted"), { deleted: 2 }, label);
          assert.deepEqual(byType.get("user.deleted"), { deleted: 3 }, label);
          assert.equal(countStatuses(answers).duplicate ?? 0, 0, label);
          for (const [type, counts] of byType) {
            if (type.endsWith(".deleted")) continue;
            assert.deepEqual(
              Object.keys(counts).filter((s) => s !== "applied" && s !== "stale"),
              [],
              `${type}: ${label}`,
            );
          }

          const state = await orgSnapshot(sql, `${orgPrefix}_load`);
          assert.deepEqual(state.organizations, stream.expected.organizations, label);
          assert.deepEqual(state.memberships, stream.expected.memberships, label);
          assert.deepEqual(state.orgTombstones, stream.expected.orgTombstones, label);
          // Removals in deleted organizations or of deleted users may come too late to leave a
          // tombstone (the event is stale then): only the others are determined by the stream.
          const live = new Set(stream.expected.organizations.map((o) => o.org_id));
          assert.deepEqual(
            state.membershipTombstones.filter((m) =>
              live.has(m.org_id) && !stream.deletedUsers.has(m.user_id)
            ),
            stream.expected.membershipTombstones,
            label,
          );
          const users = await snapshot(sql, `${userPrefix}_load`);
          assert.deepEqual(users.profiles, stream.expected.profiles, label);
          assert.deepEqual(
            users.tombstones.map((t) => t.user_id),
            [...stream.deletedUsers].sort(),
            label,
          );
          assert.equal(
            await svixIdCount(sql, stream.deliveries.map((d) => d.msgId)),
            425,
            `every delivery logged once: ${label}`,
          );
        },
      );
    });
  } finally {
    await stack.close();
  }
});

type AnyDelivery = OrgDelivery | MembershipDelivery | Delivery;

interface LoadStream {
  deliveries: AnyDelivery[];
  deletedUsers: Set<string>;
  expected: {
    organizations: OrganizationRow[];
    memberships: MembershipRow[];
    orgTombstones: { org_id: string; deleted_ms: number; kind: string }[];
    membershipTombstones: { org_id: string; user_id: string; deleted_ms: number }[];
    profiles: ProfileRow[];
  };
}

/**
 * The history of 8 organizations (created, 4 updates; 2 deleted at the end) and 20 users
 * (created, updated; 3 deleted at the end), each user a member of 4 organizations (created, 3
 * role changes), 10 members removed (their .deleted carrying the membership as created) and 5 of
 * them added again later; every membership event carries the organization as it was then. The
 * expected rows are the newest state of that history, whatever order it arrives in.
 */
function loadStream(orgPrefix: string, userPrefix: string, base: number): LoadStream {
  const ORGS = 8;
  const USERS = 20;
  const ROLES = ["org:member", "org:admin", "org:billing_manager", "org:member"];
  const deliveries: AnyDelivery[] = [];
  const expected: LoadStream["expected"] = {
    organizations: [],
    memberships: [],
    orgTombstones: [],
    membershipTombstones: [],
    profiles: [],
  };
  const orgId = (o: number) => `${orgPrefix}${o}`;
  const userId = (u: number) => `${userPrefix}${String(u).padStart(2, "0")}`;
  const deletedOrgs = new Set([orgId(0), orgId(1)]);
  const deletedUsers = new Set([userId(0), userId(1), userId(2)]);

  const versions: ClerkOrganizationPayload[][] = [];
  for (let o = 0; o < ORGS; o++) {
    versions.push(
      Array.from({ length: 5 }, (_, i) => org(orgId(o), i, base + i * MINUTE + o, base + o)),
    );
    versions[o].forEach((v, i) =>
      deliveries.push(
        orgDelivery(i === 0 ? "organization.created" : "organization.updated", v, clerkId("msg")),
      )
    );
    if (deletedOrgs.has(orgId(o))) {
      const at = base + 10 * MINUTE + o;
      deliveries.push(orgDelivery("organization.deleted", versions[o][4], clerkId("msg"), at));
      expected.orgTombstones.push({ org_id: orgId(o), deleted_ms: at, kind: "announced" });
    } else {
      expected.organizations.push(expectedOrganizationRow(versions[o][4]));
    }
  }
  // The organization as a membership event at `at` carries it: its latest version by then.
  const orgAt = (o: number, at: number) =>
    versions[o].filter((v) => v.updated_at <= at).at(-1) ?? versions[o][0];

  for (let u = 0; u < USERS; u++) {
    const created = userDelivery("user.created", userId(u), base + u, clerkId("msg"), "v0");
    const updated = userDelivery(
      "user.updated",
      userId(u),
      base + 5 * MINUTE + u,
      clerkId("msg"),
      "v1",
    );
    deliveries.push(created, updated);
    if (deletedUsers.has(userId(u))) {
      deliveries.push(
        userDelivery("user.deleted", userId(u), base + 11 * MINUTE + u, clerkId("msg")),
      );
    } else {
      expected.profiles.push(expectedRow(updated));
    }
  }

  let k = 0;
  const live: ClerkMembershipPayload[] = [];
  for (let u = 0; u < USERS; u++) {
    for (const offset of [0, 1, 3, 5]) {
      const o = (u + offset) % ORGS;
      const createdAt = base + 30_000 + k * 10;
      const id = `orgmem_${orgPrefix}o${o}u${u}a`;
      const history = ROLES.map((role, j) => {
        const at = createdAt + j * MINUTE;
        return member({
          id,
          organization: orgAt(o, at),
          userId: userId(u),
          role,
          createdAt,
          updatedAt: at,
        });
      });
      history.forEach((m, j) =>
        deliveries.push(
          membershipDelivery(
            j === 0 ? "organizationMembership.created" : "organizationMembership.updated",
            m,
            clerkId("msg"),
          ),
        )
      );
      const gone = deletedOrgs.has(orgId(o)) || deletedUsers.has(userId(u));
      let last: ClerkMembershipPayload | null = history[history.length - 1];
      if (k % 8 === 2) {
        const removedAt = createdAt + 4 * MINUTE;
        deliveries.push(
          membershipDelivery(
            "organizationMembership.deleted",
            history[0],
            clerkId("msg"),
            removedAt,
          ),
        );
        if (!gone) {
          expected.membershipTombstones.push({
            org_id: orgId(o),
            user_id: userId(u),
            deleted_ms: removedAt,
          });
        }
        last = null;
        if (k % 16 === 2) {
          const again = [removedAt + 1000, removedAt + 1000 + MINUTE].map((at) =>
            member({
              id: `orgmem_${orgPrefix}o${o}u${u}b`,
              organization: orgAt(o, at),
              userId: userId(u),
              role: "org:admin",
              createdAt: removedAt + 1000,
              updatedAt: at,
            })
          );
          deliveries.push(
            membershipDelivery("organizationMembership.created", again[0], clerkId("msg")),
            membershipDelivery("organizationMembership.updated", again[1], clerkId("msg")),
          );
          last = again[1];
        }
      }
      if (last && !gone) live.push(last);
      k++;
    }
  }
  expected.memberships = live.map(expectedMembershipRow).sort((x, y) =>
    x.org_id === y.org_id ? (x.user_id < y.user_id ? -1 : 1) : (x.org_id < y.org_id ? -1 : 1)
  );
  expected.membershipTombstones.sort((x, y) =>
    x.org_id === y.org_id ? (x.user_id < y.user_id ? -1 : 1) : (x.org_id < y.org_id ? -1 : 1)
  );
  return { deliveries, deletedUsers, expected };
}
