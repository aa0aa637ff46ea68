// The backfill and reconcile against real Clerk's two day-one shapes (issue 16): an instance with
// the Organizations feature off (most instances: Clerk answers its listings 403
// organization_not_enabled_in_instance), and a secret key of another Clerk instance than the one
// the database follows (clerk_sync.clerk_instance). Against the Clerk API stand-in, the PostgREST
// stand-in and a real PostgreSQL.
import assert from "node:assert/strict";
import type postgres from "postgres";
import { EXIT } from "../backfill/cli.ts";
import { saveState } from "../backfill/state.ts";
import {
  type ClerkApiStandIn,
  STAND_IN_INSTANCE_ID,
  startClerkApiStandIn,
} from "./support/clerk_api_stand_in.ts";
import {
  fakeInstance,
  type Harness,
  idPrefixes,
  rowCounts,
  runBackfillCli,
  withBackfillHarness,
  withOwnCluster,
} from "./support/backfill_harness.ts";

const prefix = idPrefixes("bi");
const OFF_LINE =
  "Organizations are off in this Clerk instance: organizations and memberships were skipped.";

/** Every row a run could write, to prove that it wrote nothing. */
async function everything(sql: postgres.Sql) {
  return {
    profiles: await sql`select * from public.profiles order by user_id`,
    organizations: await sql`select * from public.organizations order by org_id`,
    memberships: await sql`select * from public.organization_memberships order by membership_id`,
    tombstones: await sql`
      select user_id as id, kind from clerk_sync.deleted_users
      union all select org_id, kind from clerk_sync.deleted_organizations
      union all select org_id || '/' || user_id, kind from clerk_sync.deleted_memberships
      order by 1`,
    instance: await sql`select instance_id, recorded_by from clerk_sync.clerk_instance`,
  };
}

function listingRequests(clerk: ClerkApiStandIn): string[] {
  return clerk.requests.map((r) => r.path).filter((path) =>
    path === "/v1/organizations" || path === "/v1/organization_memberships"
  );
}

// ---- 1. Instances without organizations ----

Deno.test("backfill and reconcile of an instance with organizations off: users only, said plainly, exit as for users", async () => {
  await withOwnCluster(async (databaseUrl) => {
    const { users } = fakeInstance("", { users: 30, orgs: 0 });
    const clerk = { users, organizationsEnabled: false };
    await withBackfillHarness({ databaseUrl, clerk }, async (h) => {
      const backfill = await runBackfillCli(h, []);
      assert.equal(backfill.code, EXIT.ok, backfill.stdout + backfill.stderr);
      assert.match(backfill.stdout, /^Backfill finished: 30 of 30 Clerk users; 30 in this run/);
      assert.match(backfill.stdout, /^ {23} +users$/m, "a column for users alone");
      assert.ok(backfill.stdout.endsWith(`\n${OFF_LINE}`), backfill.stdout);
      assert.deepEqual(listingRequests(h.clerk), [], "found out before paging");
      assert.ok(
        h.clerk.requests.some((r) => r.path === "/v1/instance/organization_settings"),
        "from GET /v1/instance/organization_settings",
      );
      assert.deepEqual(await rowCounts(h.sql), { users: 30, orgs: 0, memberships: 0 });

      const inSync = await runBackfillCli(h, ["--dry-run"]);
      assert.equal(inSync.code, EXIT.ok, inSync.stdout + inSync.stderr);
      assert.match(
        inSync.stdout,
        /^Organizations: off in this Clerk instance, not compared; 0 in organizations$/m,
      );
      assert.match(
        inSync.stdout,
        /^Memberships: off in this Clerk instance, not compared; 0 in organization_memberships$/m,
      );
      assert.match(
        inSync.stdout,
        new RegExp(`\\n${OFF_LINE.replaceAll(".", "\\.")}\\nIn sync\\.$`),
      );

      // Drift in users is reported (1) and repaired (0) as on any instance.
      await h.sql`delete from public.profiles where user_id = ${users[3].id}`;
      const drift = await runBackfillCli(h, ["--dry-run"]);
      assert.equal(drift.code, EXIT.drift, drift.stdout);
      assert.match(drift.stdout, /Drift: 1 user\. Run with --apply to repair\.$/);
      const applied = await runBackfillCli(h, ["--apply"]);
      assert.equal(applied.code, EXIT.ok, applied.stdout + applied.stderr);
      assert.match(applied.stdout, /Drift: 1 user found, all repaired\.$/);
      assert.deepEqual(await rowCounts(h.sql), { users: 30, orgs: 0, memberships: 0 });
      assert.deepEqual(listingRequests(h.clerk), []);
    });
  });
});

Deno.test("reconcile reports organizations held while the instance has them off (exit 1), touches none of them, and still repairs users", async () => {
  await withOwnCluster(async (databaseUrl) => {
    const data = fakeInstance("", { users: 6, orgs: 3 });
    await withBackfillHarness({ databaseUrl, clerk: data }, async (h) => {
      assert.equal((await runBackfillCli(h, [])).code, EXIT.ok);
      assert.deepEqual(await rowCounts(h.sql), { users: 6, orgs: 3, memberships: 6 });
      // Organizations turned off in the dashboard since; a profile is lost.
      h.clerk.organizationsEnabled = false;
      await h.sql`delete from public.profiles where user_id = ${data.users[0].id}`;
      const before = await everything(h.sql);
      const listed = listingRequests(h.clerk).length;

      const dry = await runBackfillCli(h, ["--dry-run"]);
      assert.equal(dry.code, EXIT.drift, dry.stdout + dry.stderr);
      assert.match(
        dry.stdout,
        /^Organizations: off in this Clerk instance, not compared; 3 in organizations$/m,
      );
      assert.match(
        dry.stdout,
        /^Organizations are off in this Clerk instance, but organizations holds 3 and organization_memberships 6 rows: they were not compared and are left as they are \(turn Organizations on in Clerk to compare them, or remove those rows yourself\)\.$/m,
      );
      assert.deepEqual(await everything(h.sql), before);

      for (const guards of [[], ["--max-orphans", "100000", "--max-orphan-percent", "100"]]) {
        await h.sql`delete from public.profiles where user_id = ${data.users[0].id}`;
        const apply = await runBackfillCli(h, ["--apply", ...guards]);
        assert.equal(apply.code, EXIT.drift, apply.stdout + apply.stderr);
        assert.match(apply.stdout, /Drift: 1 user found, all repaired\.$/);
        const after = await everything(h.sql);
        assert.equal(after.profiles.length, 6, "the user is repaired");
        assert.deepEqual(
          [after.organizations, after.memberships, after.tombstones],
          [before.organizations, before.memberships, before.tombstones],
          "no organization or membership written, removed or tombstoned",
        );
      }
      assert.deepEqual(listingRequests(h.clerk).slice(listed), [], "no listing it cannot read");
    });
  });
});

Deno.test("a resume file an older version saved in the organizations phase resumes on an instance with organizations off", async () => {
  const p = prefix();
  const { users } = fakeInstance(p, { users: 12, orgs: 0 });
  await withBackfillHarness({ clerk: { users, organizationsEnabled: false } }, async (h) => {
    // What the version before this one left behind: users done, then exit 2 at the
    // organizations phase (Clerk's 403), its state file in that phase (version 3).
    const now = new Date().toISOString();
    const counts = {
      users: { applied: 12, restored: 0, stale: 0, unchanged: 0, failed: 0 },
      organizations: { applied: 0, restored: 0, stale: 0, unchanged: 0, failed: 0 },
      memberships: { applied: 0, restored: 0, stale: 0, unchanged: 0, failed: 0 },
    };
    await Deno.writeTextFile(
      h.statePath,
      JSON.stringify({
        version: 3,
        target: `${h.clerk.url} -> ${h.supabaseUrl}`,
        phase: "organizations",
        cursor: { offset: 0, lastCreatedAt: null, lastIds: [] },
        done: 0,
        total: 0,
        counts,
        failures: [],
        startedAt: now,
        updatedAt: now,
      }),
    );
    const resumed = await runBackfillCli(h, ["--resume"]);
    assert.equal(resumed.code, EXIT.ok, resumed.stdout + resumed.stderr);
    assert.match(resumed.stdout, /; 0 in this run .*, resumed after 12 users/);
    assert.match(resumed.stdout, /^ {2}carried over +12 {2}written before this run/m);
    assert.ok(resumed.stdout.endsWith(OFF_LINE), resumed.stdout);
    assert.deepEqual(
      h.clerk.requests.filter((r) => r.path === "/v1/users" || r.path.startsWith("/v1/org")),
      [],
      "nothing read again, no listing of organizations asked",
    );
    await assert.rejects(Deno.stat(h.statePath), Deno.errors.NotFound);

    // The same with a version 4 file.
    await saveState(h.statePath, {
      version: 4,
      target: `${h.clerk.url} -> ${h.supabaseUrl}`,
      phase: "memberships",
      cursor: { by: "offset", offset: 0, lastCreatedAt: null, lastIds: [] },
      done: 0,
      total: 0,
      counts,
      failures: [],
      startedAt: now,
      updatedAt: now,
    });
    const again = await runBackfillCli(h, ["--resume"]);
    assert.equal(again.code, EXIT.ok, again.stdout + again.stderr);
    assert.ok(again.stdout.endsWith(OFF_LINE), again.stdout);
  });
});

Deno.test("organizations off is also read from Clerk's 403 when the settings cannot be; another 403 stays a fatal error with Clerk's message", async () => {
  const p = prefix();
  const data = fakeInstance(p, { users: 4, orgs: 2 });
  await withBackfillHarness({ clerk: { ...data, organizationsEnabled: false } }, async (h) => {
    h.clerk.injectFault({ path: "/v1/instance/organization_settings", status: 404 });
    const off = await runBackfillCli(h, []);
    assert.equal(off.code, EXIT.ok, off.stdout + off.stderr);
    assert.ok(off.stdout.endsWith(OFF_LINE), off.stdout);
    assert.deepEqual(
      h.clerk.requests.filter((r) => r.path === "/v1/organizations").map((r) => r.status),
      [403],
      "one probe, answered organization_not_enabled_in_instance",
    );

    // Turned off while the backfill runs: the memberships' listing says so; the rest is kept.
    h.clerk.organizationsEnabled = true;
    h.clerk.injectFault({
      path: "/v1/organization_memberships",
      status: 403,
      code: "organization_not_enabled_in_instance",
      message: "access denied",
    });
    const during = await runBackfillCli(h, []);
    assert.equal(during.code, EXIT.ok, during.stdout + during.stderr);
    assert.match(during.stdout, /^ {2}applied +0 +2 +0 {2}inserted or updated$/m);
    assert.ok(during.stdout.endsWith(OFF_LINE), during.stdout);
    assert.match(during.stderr, /organizations are off in this instance; skipping memberships/);
    assert.deepEqual(await rowCounts(h.sql, p), { users: 4, orgs: 2, memberships: 0 });

    // Any other 403 is no "off": the run stops (exit 2) with Clerk's own words.
    const refusal = "You are not authorized to perform this request";
    h.clerk.injectFault({
      path: "/v1/organizations",
      status: 403,
      code: "authorization_invalid",
      message: refusal,
    });
    const refused = await runBackfillCli(h, []);
    assert.equal(refused.code, EXIT.error, refused.stdout + refused.stderr);
    assert.match(
      refused.stderr,
      /backfill: Clerk answered 403: You are not authorized to perform this request \(authorization_invalid\)\n/,
    );
    h.clerk.injectFault({
      path: "/v1/organizations",
      status: 403,
      code: "authorization_invalid",
      message: refusal,
    });
    const reconcile = await runBackfillCli(h, ["--apply"]);
    assert.equal(reconcile.code, EXIT.error);
    assert.match(reconcile.stderr, /Clerk answered 403: .* \(authorization_invalid\)/);
  });
});

// ---- 2. One database, one Clerk instance ----

const OTHER_INSTANCE = "ins_2OtherInstanceOfAColleague01";

Deno.test("backfill and reconcile with another instance's key write nothing, whatever the flags, and name both instances; the documented move switches", async () => {
  await withOwnCluster(async (databaseUrl) => {
    const data = fakeInstance("", { users: 20, orgs: 2 });
    const other = startClerkApiStandIn({
      secretKey: "sk_test_colleague_instance",
      instanceId: OTHER_INSTANCE,
      ...fakeInstance("other_", { users: 5, orgs: 1 }),
    });
    const otherKey = { CLERK_SECRET_KEY: other.secretKey, CLERK_API_URL: other.url };
    try {
      await withBackfillHarness({ databaseUrl, clerk: data }, async (h: Harness) => {
        // A dry run records nothing; the first backfill records its key's instance.
        const dry = await runBackfillCli(h, ["--dry-run"]);
        assert.equal(dry.code, EXIT.drift, dry.stdout + dry.stderr);
        assert.match(dry.stderr, /no instance recorded yet \(a dry run records none\)/);
        assert.equal((await everything(h.sql)).instance.length, 0);
        const first = await runBackfillCli(h, []);
        assert.equal(first.code, EXIT.ok, first.stdout + first.stderr);
        assert.match(
          first.stderr,
          new RegExp(`Clerk instance ${STAND_IN_INSTANCE_ID} \\(development\\): recorded now`),
        );
        const before = await everything(h.sql);
        assert.deepEqual(before.instance.map((r) => ({ ...r })), [
          { instance_id: STAND_IN_INSTANCE_ID, recorded_by: "backfill" },
        ]);

        const runs = [
          [],
          ["--resume"],
          ["--dry-run"],
          ["--apply"],
          ["--apply", "--max-orphans", "100000", "--max-orphan-percent", "100"],
        ];
        for (const argv of runs) {
          const run = await runBackfillCli(h, argv, otherKey);
          assert.equal(run.code, EXIT.error, `${argv}: ${run.stdout}${run.stderr}`);
          assert.equal(run.stdout, "", "no summary, no report");
          assert.ok(
            run.stderr.includes(
              `backfill: refused: this database follows Clerk instance ${STAND_IN_INSTANCE_ID}, ` +
                `but CLERK_SECRET_KEY is a key of instance ${OTHER_INSTANCE}; nothing was read ` +
                "or written.",
            ),
            run.stderr,
          );
          assert.ok(
            run.stderr.includes(`select clerk_sync.move_to_clerk_instance('${OTHER_INSTANCE}');`),
          );
          assert.deepEqual(await everything(h.sql), before, `${argv} wrote nothing`);
        }
        assert.deepEqual(
          [...new Set(other.requests.map((r) => r.path))],
          ["/v1/instance"],
          "nothing of the other instance was read",
        );

        // The documented move, by the owner: the old instance's rows go, the new one's come.
        const [{ moved }] = await h.sql`
          select clerk_sync.move_to_clerk_instance(${OTHER_INSTANCE}) as moved`;
        assert.deepEqual(moved, {
          from: STAND_IN_INSTANCE_ID,
          to: OTHER_INSTANCE,
          removed: { profiles: 20, organizations: 2, memberships: 4, tombstones: 0, deliveries: 0 },
        });
        const switched = await runBackfillCli(h, [], otherKey);
        assert.equal(switched.code, EXIT.ok, switched.stdout + switched.stderr);
        assert.deepEqual(await rowCounts(h.sql), { users: 5, orgs: 1, memberships: 2 });
        const back = await runBackfillCli(h, ["--dry-run"]);
        assert.equal(back.code, EXIT.error, "now the first key is the other instance's");
        assert.match(back.stderr, new RegExp(`follows Clerk instance ${OTHER_INSTANCE}`));
      });
    } finally {
      await other.close();
    }
  });
});
