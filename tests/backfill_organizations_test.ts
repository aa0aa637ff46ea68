// The backfill and reconcile of organizations and memberships (backfill/), against the Clerk API
// stand-in, the PostgREST stand-in and the real PostgreSQL of the test command: phases after
// users, resume in the right phase, faults, the webhook's newer data and deletions kept, a
// membership whose organization has no row, drift of each kind reported and repaired, the
// refusal guards per kind, and inferred tombstones lifted by a later listing.
import assert from "node:assert/strict";
import postgres from "postgres";
import { createClerkClient } from "@clerk/backend";
import { toMembership, toOrganization } from "../supabase/functions/_shared/clerk_organization.ts";
import { EXIT } from "../backfill/cli.ts";
import type { ClerkApi } from "../backfill/clerk_api.ts";
import { createClerkSources } from "../backfill/clerk_source.ts";
import { readPages } from "../backfill/read_ahead.ts";
import type { RetryNotice } from "../backfill/retry.ts";
import { runBackfill } from "../backfill/run_backfill.ts";
import { loadState } from "../backfill/state.ts";
import {
  type ClerkApiStandIn,
  type ClerkMembershipObject,
  type ClerkOrganizationObject,
  fakeClerkMembership,
  fakeClerkOrganization,
  startClerkApiStandIn,
} from "./support/clerk_api_stand_in.ts";
import { startCluster } from "./support/pg_cluster.ts";
import {
  fakeInstance,
  idPrefixes,
  rowCounts,
  runBackfillCli,
  sourcesFor,
  withBackfillHarness,
} from "./support/backfill_harness.ts";

const prefix = idPrefixes("bo");

/** The lines of one kind's section of a reconcile report ("Users", "Organizations", ...). */
function section(report: string, title: string): string {
  const lines = report.split("\n");
  const start = lines.findIndex((line) => line.startsWith(`${title}: `));
  assert.ok(start >= 0, `no ${title} section in:\n${report}`);
  const end = lines.findIndex((line, i) => i > start && !line.startsWith("  "));
  return lines.slice(start, end < 0 ? undefined : end).join("\n") + "\n";
}

/** Applies an organization event the way the function does, through sync_clerk_organization. */
async function organizationWebhook(
  sql: postgres.Sql,
  type: "organization.updated" | "organization.deleted",
  org: ClerkOrganizationObject,
  occurredAt: number,
): Promise<string> {
  const mapped = type === "organization.deleted" ? null : JSON.stringify(toOrganization(org));
  const [{ outcome }] = await sql`
    select public.sync_clerk_organization(${`msg_${crypto.randomUUID()}`}, ${type}, ${org.id},
      ${new Date(occurredAt).toISOString()}::timestamptz, ${mapped}::text::jsonb) as outcome`;
  return outcome;
}

/** Applies a membership event the way the function does, through sync_clerk_membership. */
async function membershipWebhook(
  sql: postgres.Sql,
  type: "organizationMembership.updated" | "organizationMembership.deleted",
  member: ClerkMembershipObject,
  occurredAt: number,
): Promise<string> {
  const { membership, organization } = toMembership(member);
  const [{ outcome }] = await sql`
    select public.sync_clerk_membership(${`msg_${crypto.randomUUID()}`}, ${type},
      ${new Date(occurredAt).toISOString()}::timestamptz, ${
    JSON.stringify(membership)
  }::text::jsonb,
      ${JSON.stringify(organization)}::text::jsonb) as outcome`;
  return outcome;
}

function requestsTo(clerk: ClerkApiStandIn, path: string, from = 0) {
  return clerk.requests.slice(from).filter((r) => r.path === path).map((r) => ({
    status: r.status,
    params: new URLSearchParams(r.query),
  }));
}

const NONE = { applied: 0, restored: 0, stale: 0, unchanged: 0, failed: 0 };

Deno.test("runBackfill() copies organizations and memberships after users, through faults, and --resume continues in the organizations phase", async () => {
  const p = prefix();
  const data = fakeInstance(p, { users: 600, orgs: 520 });
  await withBackfillHarness({ clerk: data }, async (h) => {
    // Requests to each listing: the count (limit=1), then the pages at 0, 475, 950.
    h.clerk.injectFault({ path: "/v1/organizations", status: 429, retryAfterSeconds: 0, after: 2 });
    h.clerk.injectFault({ path: "/v1/organization_memberships", status: 503, after: 2 });
    const notes: RetryNotice[] = [];
    const controller = new AbortController();
    // Ctrl-C while the first page of organizations is written (the second is read ahead).
    h.clerk.onListPage = (path, offset) => {
      if (path === "/v1/organizations" && offset === 475) controller.abort(new Error("stop"));
    };
    const first = await runBackfill(
      sourcesFor(h.clerk, { onRetry: (n: RetryNotice) => notes.push(n) }),
      h.store,
      { statePath: h.statePath, resume: false, target: "test", signal: controller.signal },
    );
    assert.equal(first.interrupted, true);
    assert.equal(first.phase, "organizations");
    assert.deepEqual(first.counts, {
      users: { ...NONE, applied: 600 },
      organizations: { ...NONE, applied: 500 },
      memberships: NONE,
    });
    assert.deepEqual(await rowCounts(h.sql, p), { users: 600, orgs: 500, memberships: 0 });
    const state = await loadState(h.statePath);
    assert.equal(state?.phase, "organizations");
    assert.equal(state?.done, 500);
    assert.deepEqual(state?.cursor.by === "offset" && state.cursor.offset, 500);
    assert.deepEqual(notes.map((n) => [n.reason, n.delayMs]), [
      ["Clerk answered 429 Too Many Requests", 0],
    ], "Retry-After: 0 is honoured (a backoff would wait)");

    h.clerk.onListPage = null;
    const before = h.clerk.requests.length;
    const logged: string[] = [];
    const second = await runBackfill(
      sourcesFor(h.clerk, { onRetry: (n: RetryNotice) => notes.push(n) }),
      h.store,
      { statePath: h.statePath, resume: true, target: "test", log: (l) => logged.push(l) },
    );
    assert.equal(second.interrupted, false);
    assert.deepEqual(logged, [
      `Clerk instance ${h.clerk.instanceId} (development): the instance this database follows.`,
      "Resuming organizations after 500 of 520 (from " + h.statePath + ").",
    ]);
    assert.deepEqual(requestsTo(h.clerk, "/v1/users", before), [], "users are not read again");
    assert.deepEqual(
      requestsTo(h.clerk, "/v1/organizations", before).map((r) => r.params.get("offset")),
      [null, "475"],
      "the count, then the organizations after the cursor (25 read again)",
    );
    const memberPages = requestsTo(h.clerk, "/v1/organization_memberships", before);
    assert.deepEqual(
      memberPages.map((r) => [r.params.get("offset"), r.status]),
      [[null, 200], ["0", 200], ["475", 503], ["475", 200], ["950", 200]],
    );
    for (const r of memberPages.slice(1)) {
      assert.equal(r.params.get("limit"), "500");
      assert.equal(r.params.get("order_by"), "+created_at");
    }
    assert.deepEqual(notes.slice(1).map((n) => n.reason), ["Clerk answered 503"]);
    assert.deepEqual(second.carried, {
      users: { ...NONE, applied: 600 },
      organizations: { ...NONE, applied: 500 },
      memberships: NONE,
    });
    assert.deepEqual(second.counts, {
      users: { ...NONE, applied: 600 },
      organizations: { ...NONE, applied: 520 },
      memberships: { ...NONE, applied: 1040 },
    });
    assert.deepEqual(await rowCounts(h.sql, p), { users: 600, orgs: 520, memberships: 1040 });
    assert.equal(await loadState(h.statePath), null, "the state file is removed at the end");

    // Rows as the webhook's mapping writes them.
    const org = data.organizations[333];
    const [orgRow] = await h.sql`
      select org_id, name, slug, image_url, public_metadata, created_by, clerk_created_at,
        clerk_updated_at
      from public.organizations where org_id = ${org.id}`;
    assert.deepEqual(
      {
        ...orgRow,
        clerk_created_at: orgRow.clerk_created_at.toISOString(),
        clerk_updated_at: orgRow.clerk_updated_at.toISOString(),
      },
      toOrganization(org),
    );
    const member = data.memberships[667];
    const [memberRow] = await h.sql`
      select membership_id, org_id, user_id, role, role_name, permissions, public_metadata,
        clerk_created_at, clerk_updated_at
      from public.organization_memberships where membership_id = ${member.id}`;
    assert.deepEqual(
      {
        ...memberRow,
        clerk_created_at: memberRow.clerk_created_at.toISOString(),
        clerk_updated_at: memberRow.clerk_updated_at.toISOString(),
      },
      toMembership(member).membership,
    );
  });
});

Deno.test("runBackfill() keeps the webhook's newer organizations and memberships and their deletions", async () => {
  const p = prefix();
  const data = fakeInstance(p, { users: 4, orgs: 3 });
  const [kept, raced, deleted] = data.organizations;
  // kept's memberships: [0] gets a newer role by webhook, [1] is removed by webhook.
  const [promoted, removed] = data.memberships;
  await withBackfillHarness({ clerk: data }, async (h) => {
    // Deleted in Clerk before the run, but Clerk's listing still shows it (eventual consistency).
    assert.equal(
      await organizationWebhook(h.sql, "organization.deleted", deleted, Date.now()),
      "deleted",
    );
    const renamed = { ...raced, name: "Renamed", updated_at: raced.updated_at + 60_000 };
    const newerRole = {
      ...promoted,
      role: "org:billing",
      role_name: "Billing",
      updated_at: promoted.updated_at + 60_000,
    };
    // While each listing is read, the webhook delivers newer data and removals.
    let raceOrganization = true;
    h.clerk.onListPage = async (path) => {
      if (path === "/v1/organizations" && raceOrganization) {
        raceOrganization = false;
        assert.equal(
          await organizationWebhook(h.sql, "organization.updated", renamed, renamed.updated_at),
          "applied",
        );
      }
      if (path === "/v1/organization_memberships") {
        h.clerk.onListPage = null;
        assert.equal(
          await membershipWebhook(
            h.sql,
            "organizationMembership.updated",
            newerRole,
            newerRole.updated_at,
          ),
          "applied",
        );
        assert.equal(
          await membershipWebhook(h.sql, "organizationMembership.deleted", removed, Date.now()),
          "deleted",
        );
      }
    };
    const run = () =>
      runBackfill(sourcesFor(h.clerk), h.store, {
        statePath: h.statePath,
        resume: false,
        target: "test",
      });
    const result = await run();
    assert.deepEqual(result.counts.organizations, { ...NONE, applied: 1, stale: 2 });
    // removed: an announced removal; the deleted organization's two: no organization row.
    assert.deepEqual(result.counts.memberships, { ...NONE, applied: 2, stale: 4 });

    const orgs = await h.sql`
      select org_id, name from public.organizations where org_id like ${`org_${p}%`}
      order by org_id`;
    assert.deepEqual(orgs.map((o) => [o.org_id, o.name]), [
      [kept.id, kept.name],
      [raced.id, "Renamed"],
    ]);
    const members = await h.sql`
      select membership_id, role from public.organization_memberships
      where membership_id like ${`orgmem_${p}%`} order by membership_id`;
    assert.deepEqual(members.map((m) => [m.membership_id, m.role]), [
      [promoted.id, "org:billing"],
      [data.memberships[2].id, "org:admin"],
      [data.memberships[3].id, "org:member"],
    ]);

    // A later run that still sees them in Clerk's listings brings nothing back.
    const again = await run();
    assert.deepEqual(again.counts.organizations, { ...NONE, unchanged: 1, stale: 2 });
    assert.deepEqual(again.counts.memberships, { ...NONE, unchanged: 2, stale: 4 });
    assert.deepEqual(await rowCounts(h.sql, p), { users: 4, orgs: 2, memberships: 3 });
  });
});

Deno.test("reconcile reports drift of organizations and memberships (exit 1) and --apply repairs it, a membership whose organization had no row included", async () => {
  const cluster = await startCluster();
  try {
    const data = fakeInstance("", { users: 10, orgs: 30 });
    await withBackfillHarness({ databaseUrl: cluster.url, clerk: data }, async (h) => {
      // An organization created with its first member once Clerk's organizations were read: the
      // membership listing shows it, but the organization has no row.
      const late = fakeClerkOrganization(31, { createdAt: Date.now(), updatedAt: Date.now() });
      const lateMember = fakeClerkMembership(61, late, data.users[0].id, { role: "org:admin" });
      h.clerk.onListPage = (path) => {
        if (path !== "/v1/organization_memberships") return;
        h.clerk.onListPage = null;
        h.clerk.putOrganization(late);
        h.clerk.putMembership(lateMember);
      };
      const backfill = await runBackfillCli(h, []);
      assert.equal(backfill.code, EXIT.ok, backfill.stdout + backfill.stderr);
      assert.match(backfill.stdout, /^ {2}applied +10 +30 +60 {2}inserted or updated$/m);
      assert.match(
        backfill.stdout,
        /^ {2}stale +0 +0 +1 {2}kept newer .*memberships also: no organization row\)$/m,
      );
      assert.match(
        backfill.stdout,
        /Backfill finished: 10 of 10 Clerk users, 30 of 30 organizations, 61 of 61 memberships/,
      );

      // Drift: a lost organization row (its two membership rows with it), an outdated one, an
      // organization deleted in Clerk while the endpoint was down (its two memberships with it),
      // a stray row; a lost membership, a role changed in Clerk, a member removed in Clerk.
      const [lostOrg, oldOrg, goneOrg] = [
        data.organizations[3],
        data.organizations[4],
        data.organizations[5],
      ];
      const [lostMember, changed, removedMember] = [
        data.memberships[20],
        data.memberships[21],
        data.memberships[40],
      ];
      await h.sql`delete from public.organizations where org_id = ${lostOrg.id}`;
      await h.sql`
        update public.organizations set name = 'Old', clerk_updated_at = clerk_updated_at - interval '1 day'
        where org_id = ${oldOrg.id}`;
      h.clerk.removeOrganization(goneOrg.id);
      await h.sql`
        insert into public.organizations (org_id, name, clerk_updated_at) values ('org_stray', 'Stray', now())`;
      await h.sql`
        delete from public.organization_memberships where membership_id = ${lostMember.id}`;
      h.clerk.putMembership({
        ...changed,
        role: "org:admin",
        role_name: "Admin",
        updated_at: changed.updated_at + 60_000,
      });
      h.clerk.removeMembership(removedMember.id);
      const snapshot = () =>
        h.sql`
          select (select json_agg(o order by org_id) from public.organizations o) as orgs,
            (select json_agg(m order by membership_id) from public.organization_memberships m)
              as members,
            (select json_agg(d order by org_id) from clerk_sync.deleted_organizations d) as t1,
            (select json_agg(d order by org_id, user_id) from clerk_sync.deleted_memberships d)
              as t2`;
      const before = await snapshot();

      const lookups = h.clerk.requests.length;
      const dry = await runBackfillCli(h, ["--dry-run"]);
      assert.equal(dry.code, EXIT.drift, dry.stdout);
      const orgs = section(dry.stdout, "Organizations");
      assert.match(orgs, /^Organizations: 30 in Clerk, 30 in organizations$/m);
      assert.match(orgs, /in sync +27\n/);
      assert.match(orgs, new RegExp(`missing in Supabase +2  ${lostOrg.id}, ${late.id}\n`));
      assert.match(orgs, new RegExp(`older than Clerk +1  ${oldOrg.id}\n`));
      assert.match(orgs, new RegExp(`orphaned rows +2  ${goneOrg.id}, org_stray\n`));
      const members = section(dry.stdout, "Memberships");
      assert.match(members, /^Memberships: 58 in Clerk, 57 in organization_memberships$/m);
      const lostWithOrg = [data.memberships[6].id, data.memberships[7].id].join(", ");
      assert.match(
        members,
        new RegExp(`missing in Supabase +4  ${lostWithOrg}, ${lostMember.id}, ${lateMember.id}\n`),
      );
      assert.match(members, new RegExp(`older than Clerk +1  ${changed.id}\n`));
      assert.match(
        members,
        new RegExp(
          `orphaned rows +3  ${data.memberships[10].id}, ${
            data.memberships[11].id
          }, ${removedMember.id}\n`,
        ),
      );
      assert.match(section(dry.stdout, "Users"), /in sync +10\n/);
      assert.match(
        dry.stdout,
        /Drift: 5 organizations, 8 memberships\. Run with --apply to repair\./,
      );
      assert.deepEqual(await snapshot(), before, "a dry run writes nothing");
      // Orphan organizations are confirmed by id before they are called orphans.
      const confirm = requestsTo(h.clerk, "/v1/organizations", lookups)
        .filter((r) => r.params.has("organization_id"));
      assert.deepEqual(confirm.map((r) => r.params.getAll("organization_id").sort()), [
        [goneOrg.id, "org_stray"],
      ]);

      const applied = await runBackfillCli(h, ["--apply"]);
      assert.equal(applied.code, EXIT.ok, applied.stdout);
      assert.match(
        section(applied.stdout, "Organizations"),
        /Repaired: 3 written, 0 restored, 2 orphans tombstoned\n/,
      );
      assert.match(
        section(applied.stdout, "Memberships"),
        /Repaired: 5 written, 0 restored, 3 orphans tombstoned\n/,
      );
      assert.match(applied.stdout, /Drift: 5 organizations, 8 memberships found, all repaired\.$/);

      const after = await runBackfillCli(h, ["--dry-run"]);
      assert.equal(after.code, EXIT.ok, after.stdout);
      assert.match(after.stdout, /In sync\.$/);
      const [row] = await h.sql`
        select m.role, o.name from public.organization_memberships m
        join public.organizations o using (org_id) where m.membership_id = ${changed.id}`;
      assert.deepEqual({ ...row }, { role: "org:admin", name: data.organizations[10].name });
      const tombstones = await h.sql`
        select org_id, kind from clerk_sync.deleted_organizations order by org_id`;
      assert.deepEqual(tombstones.map((t) => [t.org_id, t.kind]), [
        [goneOrg.id, "inferred"],
        ["org_stray", "inferred"],
      ]);
      const removals = await h.sql`
        select org_id, user_id, kind from clerk_sync.deleted_memberships order by org_id, user_id`;
      assert.deepEqual(
        removals.map((t) => [t.org_id, t.user_id, t.kind]),
        [data.memberships[10], data.memberships[11], removedMember]
          .map((m) => [m.organization.id, m.public_user_data.user_id, "inferred"])
          .sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1),
      );

      // A listed membership that the mapping refuses is a failure (exit 2), never an orphan.
      const broken = data.memberships[30];
      h.clerk.putMembership({ ...broken, role: null, updated_at: broken.updated_at + 1000 });
      const failing = await runBackfillCli(h, ["--apply"]);
      assert.equal(failing.code, EXIT.error, failing.stdout);
      const failed = section(failing.stdout, "Memberships");
      assert.match(failed, /orphaned rows +0\n/);
      assert.match(failed, new RegExp(`failed +1\n {4}${broken.id}: data\\.role is missing\n`));
      const [{ n }] = await h.sql`
        select count(*)::int as n from public.organization_memberships
        where membership_id = ${broken.id}`;
      assert.equal(n, 1, "the row is kept");
    });
  } finally {
    await cluster.destroy();
  }
});

Deno.test("reconcile --apply writes nothing in any kind when one kind's guard refuses; inferred tombstones of organizations and memberships are lifted by the next backfill", async () => {
  const cluster = await startCluster();
  const empty = startClerkApiStandIn({ secretKey: "sk_test_empty_instance" });
  try {
    const data = fakeInstance("", { users: 20, orgs: 10 });
    await withBackfillHarness({ databaseUrl: cluster.url, clerk: data }, async (h) => {
      assert.equal((await runBackfillCli(h, [])).code, EXIT.ok, "the backfill");
      const mirror = () =>
        h.sql`
          select (select json_agg(p order by user_id) from public.profiles p) as profiles,
            (select json_agg(o order by org_id) from public.organizations o) as orgs,
            (select json_agg(m order by membership_id) from public.organization_memberships m)
              as members,
            (select json_agg(d order by user_id) from clerk_sync.deleted_users d) as t0,
            (select json_agg(d order by org_id) from clerk_sync.deleted_organizations d) as t1,
            (select json_agg(d order by org_id, user_id) from clerk_sync.deleted_memberships d)
              as t2`;

      // Clerk lists every user and organization but no membership (say, the listing fails
      // silently), while one profile is missing: nothing is written, not even the profile.
      await h.sql`delete from public.profiles where user_id = ${data.users[7].id}`;
      for (const m of data.memberships) h.clerk.removeMembership(m.id);
      const before = await mirror();
      const refused = await runBackfillCli(h, [
        "--apply",
        "--max-orphans",
        "1000",
        "--max-orphan-percent",
        "100",
      ]);
      assert.equal(refused.code, EXIT.error, refused.stdout);
      assert.match(
        refused.stdout,
        /Refused to repair, nothing written: Clerk listed no memberships while organization_memberships holds 20: is CLERK_SECRET_KEY the key of this project's Clerk instance\?/,
      );
      assert.match(refused.stdout, /Drift: 1 user, 20 memberships found, none repaired\.$/);
      assert.deepEqual(await mirror(), before);

      // Another instance's key (an empty one): refused for every kind at once.
      const wrong = await runBackfillCli(h, ["--apply"], {
        CLERK_SECRET_KEY: empty.secretKey,
        CLERK_API_URL: empty.url,
      });
      assert.equal(wrong.code, EXIT.error, wrong.stdout);
      assert.match(
        wrong.stdout,
        /Refused to repair, nothing written: Clerk listed no users while profiles holds 19; Clerk listed no organizations while organizations holds 10; Clerk listed no memberships while organization_memberships holds 20: is CLERK_SECRET_KEY/,
      );
      assert.deepEqual(await mirror(), before);

      // Two organizations (and their memberships) missing from the listing: 20% of the rows,
      // over the default --max-orphan-percent of 10 in both kinds.
      for (const m of data.memberships) h.clerk.putMembership(m);
      const hidden = data.organizations.slice(0, 2);
      for (const org of hidden) h.clerk.removeOrganization(org.id);
      const limited = await runBackfillCli(h, ["--apply"]);
      assert.equal(limited.code, EXIT.error, limited.stdout);
      assert.match(
        limited.stdout,
        /nothing written: 2 of 10 organizations have no Clerk organization, more than --max-orphan-percent=10 \(20\.0%\); 4 of 20 organization_memberships have no Clerk membership, more than --max-orphan-percent=10 \(20\.0%\): is CLERK_SECRET_KEY/,
      );
      assert.deepEqual(await mirror(), before);

      // The operator raises the limit: the tombstones are inferred ones...
      const forced = await runBackfillCli(h, ["--apply", "--max-orphan-percent", "100"]);
      assert.equal(forced.code, EXIT.ok, forced.stdout);
      assert.match(
        forced.stdout,
        /Drift: 1 user, 2 organizations, 4 memberships found, all repaired\./,
      );
      const kinds = await h.sql`
        select 'organization' as what, kind, count(*)::int as n
          from clerk_sync.deleted_organizations group by kind
        union all
        select 'membership', kind, count(*)::int from clerk_sync.deleted_memberships group by kind
        order by 1`;
      assert.deepEqual(kinds.map((k) => [k.what, k.kind, k.n]), [
        ["membership", "inferred", 4],
        ["organization", "inferred", 2],
      ]);

      // ...which a later listing that shows them again reports as wrongly tombstoned...
      for (const org of hidden) h.clerk.putOrganization(org);
      for (const m of data.memberships.slice(0, 4)) h.clerk.putMembership(m);
      // (an organization whose deletion Clerk announced stays deleted, listed or not)
      assert.equal(
        await organizationWebhook(h.sql, "organization.deleted", data.organizations[9], Date.now()),
        "deleted",
      );
      const dry = await runBackfillCli(h, ["--dry-run"]);
      assert.equal(dry.code, EXIT.drift, dry.stdout);
      assert.match(
        section(dry.stdout, "Organizations"),
        new RegExp(`wrongly tombstoned +2  ${hidden[0].id}, ${hidden[1].id}\n`),
      );
      assert.match(section(dry.stdout, "Organizations"), /deleted meanwhile +1 /);
      assert.match(section(dry.stdout, "Memberships"), /wrongly tombstoned +4 /);
      assert.match(section(dry.stdout, "Memberships"), /deleted meanwhile +2 /);

      // ...and the backfill restores.
      const restored = await runBackfillCli(h, []);
      assert.equal(restored.code, EXIT.ok, restored.stdout);
      assert.match(restored.stdout, /^ {2}restored +0 +2 +4 {2}inferred tombstone lifted/m);
      assert.match(restored.stdout, /^ {2}stale +0 +1 +2 {2}kept newer/m);
      const after = await runBackfillCli(h, ["--dry-run"]);
      assert.equal(after.code, EXIT.ok, after.stdout);
      assert.match(section(after.stdout, "Organizations"), /in sync +9\n/);
      assert.match(section(after.stdout, "Memberships"), /in sync +18\n/);
      const left = await h.sql`
        select org_id, kind from clerk_sync.deleted_organizations
        union all select org_id, kind from clerk_sync.deleted_memberships`;
      assert.deepEqual(left.map((t) => [t.org_id, t.kind]), [[
        data.organizations[9].id,
        "announced",
      ]]);
    });
  } finally {
    await empty.close();
    await cluster.destroy();
  }
});

Deno.test("the Clerk API stand-in lists organizations and memberships as @clerk/backend reads them", async () => {
  const p = prefix();
  const data = fakeInstance(p, { users: 3, orgs: 3 });
  const clerk = startClerkApiStandIn(data);
  try {
    const client = createClerkClient({ secretKey: clerk.secretKey, apiUrl: clerk.url });
    const page = await client.organizations.getOrganizationList({
      limit: 2,
      orderBy: "+created_at",
    });
    assert.equal(page.totalCount, 3);
    assert.deepEqual(page.data.map((o) => o.id), [
      data.organizations[0].id,
      data.organizations[1].id,
    ]);
    const newest = await client.organizations.getOrganizationList({ limit: 1 });
    assert.deepEqual(
      newest.data.map((o) => o.id),
      [data.organizations[2].id],
      "default -created_at",
    );
    const picked = await client.organizations.getOrganizationList({
      organizationId: [data.organizations[2].id, "org_unknown"],
    });
    assert.deepEqual([picked.data.map((o) => o.id), picked.totalCount], [
      [data.organizations[2].id],
      1,
    ]);

    // A membership carries its organization's current object.
    clerk.putOrganization({ ...data.organizations[0], name: "Renamed", updated_at: Date.now() });
    const members = await client.organizations.getInstanceOrganizationMembershipList({
      limit: 500,
      offset: 1,
      orderBy: "+created_at",
    });
    assert.equal(members.totalCount, 6);
    assert.deepEqual(members.data.map((m) => m.id), data.memberships.slice(1).map((m) => m.id));
    assert.equal(members.data[0].organization.name, "Renamed");
    assert.equal(members.data[0].publicUserData?.userId, data.users[1].id);

    // Deleting an organization or a user deletes their memberships.
    clerk.removeOrganization(data.organizations[1].id);
    clerk.remove(data.users[0].id);
    assert.deepEqual(clerk.counts, { organizations: 2, memberships: 2 });

    for (
      const bad of [
        { limit: -1 },
        { limit: 501 },
        { organizationId: Array.from({ length: 101 }, (_, i) => `org_${i}`) },
        { orderBy: "+members_count" as const },
      ]
    ) {
      await assert.rejects(
        client.organizations.getOrganizationList(bad),
        (e: { status?: number }) => e.status === 422,
        JSON.stringify(bad).slice(0, 60),
      );
    }
    await assert.rejects(
      client.organizations.getInstanceOrganizationMembershipList({ orderBy: "+first_name" }),
      (e: { status?: number }) => e.status === 422,
    );
    const wrongKey = createClerkClient({ secretKey: "sk_test_wrong", apiUrl: clerk.url });
    await assert.rejects(
      wrongKey.organizations.getInstanceOrganizationMembershipList({}),
      (e: { status?: number; errors?: { code: string }[] }) =>
        e.status === 401 && e.errors?.[0].code === "clerk_key_invalid",
    );
  } finally {
    await clerk.close();
  }
});

Deno.test("readPages() reads every object once with pages smaller than the overlap, also when objects are deleted between pages", async () => {
  let items = Array.from({ length: 23 }, (_, i) => ({ id: `org_${i}`, created_at: 1000 + i }));
  let reads = 0;
  // GET /v1/organizations over an array that loses objects between pages.
  const api: ClerkApi = {
    get(_, query = {}) {
      if (++reads > 100) throw new Error("the listing is read in a loop");
      const offset = Number(query.offset ?? 0);
      const limit = Number(query.limit);
      return Promise.resolve({
        data: items.slice(offset, offset + limit),
        total_count: items.length,
      });
    },
  };
  const listing = createClerkSources(api, { pageSize: 4 }).organizations;
  const seen: string[] = [];
  let pages = 0;
  for await (const page of readPages(listing, listing.start)) {
    seen.push(...page.items.map((item) => String(item.id)));
    // Five objects, read or not, are deleted: more than a page of 4 re-reads.
    if (++pages === 2) items = items.filter((_, i) => i < 2 || i >= 7);
  }
  assert.equal(new Set(seen).size, seen.length, `read twice: ${seen}`);
  for (const item of items) assert.ok(seen.includes(item.id), `${item.id} skipped`);
});
