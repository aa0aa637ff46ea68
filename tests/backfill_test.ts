import assert from "node:assert/strict";
import postgres from "postgres";
import { createClient } from "@supabase/supabase-js";
import { toProfile } from "../supabase/functions/_shared/clerk_user.ts";
import { EXIT, runCli } from "../backfill/cli.ts";
import { classifyClerkError } from "../backfill/clerk_source.ts";
import { emptyCounts, emptyKindCounts } from "../backfill/outcomes.ts";
import { parseArgs, readEnv, UsageError } from "../backfill/config.ts";
import { createProgress } from "../backfill/progress.ts";
import { emptyKindReport, type ReconcileReport } from "../backfill/reconcile.ts";
import { formatBackfillSummary, formatReconcileReport } from "../backfill/report.ts";
import { type BackfillResult, runBackfill } from "../backfill/run_backfill.ts";
import { type Kind, KINDS } from "../backfill/kinds.ts";
import { type BackfillState, loadState, saveState } from "../backfill/state.ts";
import {
  type BackfillStore,
  CALL_TIMEOUT_MS,
  classifyRpcError,
  createSupabaseBackfillStore,
  RpcError,
} from "../backfill/store.ts";
import {
  type ClerkApiStandIn,
  type ClerkUserObject,
  fakeClerkUser,
  startClerkApiStandIn,
} from "./support/clerk_api_stand_in.ts";
import { roleJwt } from "./support/jwt.ts";
import { applyMirror, type PgCluster, startCluster } from "./support/pg_cluster.ts";
import {
  createPostgrestStandIn,
  type PostgrestStandInOptions,
} from "./support/postgrest_stand_in.ts";
import { databaseUrl, roleUrl } from "./support/test_database.ts";
import {
  fakeUsers,
  FAST_RETRY,
  type Harness,
  idPrefixes,
  JWT_SECRET,
  SECRET_KEY,
  sourcesFor,
  withBackfillHarness,
} from "./support/backfill_harness.ts";

const prefix = idPrefixes("bf");

// Users only: the rig with the Clerk stand-in holding `users`.
function withHarness(
  options: { databaseUrl?: string; users?: ClerkUserObject[] },
  fn: (h: Harness) => Promise<void>,
): Promise<void> {
  return withBackfillHarness(
    { databaseUrl: options.databaseUrl, clerk: { users: options.users } },
    fn,
  );
}

const sourceFor = sourcesFor;

function recorder(isTerminal = false) {
  const chunks: string[] = [];
  return {
    isTerminal,
    write: (text: string) => void chunks.push(text),
    text: () => chunks.join(""),
  };
}

async function profileCount(sql: postgres.Sql, idPrefix: string): Promise<number> {
  const [{ n }] = await sql`
    select count(*)::int as n from public.profiles where user_id like ${`user_${idPrefix}%`}`;
  return n;
}

/** Applies a webhook event the way the function does, through public.sync_clerk_user. */
async function webhook(
  sql: postgres.Sql,
  type: "user.updated" | "user.deleted",
  user: ClerkUserObject,
  occurredAt: number,
): Promise<string> {
  const profile = type === "user.deleted" ? null : toProfile(user);
  const [{ outcome }] = await sql`
    select public.sync_clerk_user(${`msg_${crypto.randomUUID()}`}, ${type}, ${user.id},
      ${new Date(occurredAt).toISOString()}::timestamptz, ${
    profile ? JSON.stringify(profile) : null
  }::text::jsonb)
      as outcome`;
  return outcome;
}

function listRequests(clerk: ClerkApiStandIn) {
  return clerk.requests.filter((r) => r.path === "/v1/users");
}

/** The `starting_after` of each request for a page of users (null: none). */
function cursors(clerk: ClerkApiStandIn, from = 0): (string | null)[] {
  return listRequests(clerk).slice(from).map((r) =>
    new URLSearchParams(r.query).get("starting_after")
  );
}

Deno.test("runBackfill() copies 2,345 users in pages of 500 by starting_after with the webhook's mapping", async () => {
  const p = prefix();
  const all = fakeUsers(2345, p);
  await withHarness({ users: all }, async (h) => {
    const out = recorder();
    const result = await runBackfill(sourceFor(h.clerk), h.store, {
      statePath: h.statePath,
      resume: false,
      target: "test",
      progress: (kind, startDone) =>
        createProgress(out, { label: `backfill ${kind}`, unit: kind, startDone }),
    });

    assert.deepEqual(result.counts.users, {
      applied: 2345,
      restored: 0,
      stale: 0,
      unchanged: 0,
      failed: 0,
    });
    assert.equal(result.interrupted, false);
    assert.equal(await profileCount(h.sql, p), 2345);
    // Clerk's cursor: the id of the last user of the previous page, no offset, oldest first.
    assert.deepEqual(cursors(h.clerk), [
      null,
      ...[500, 1000, 1500, 2000].map((n) => all[n - 1].id),
    ]);
    for (const r of listRequests(h.clerk)) {
      const params = new URLSearchParams(r.query);
      assert.deepEqual(
        [params.get("limit"), params.get("order_by"), params.get("offset")],
        ["500", "+created_at", null],
      );
    }
    assert.equal(
      h.clerk.requests.filter((r) => r.path === "/v1/users/count").length,
      1,
      "counted once, not with every page",
    );
    const [row] = await h.sql`
      select user_id, email, phone, first_name, last_name, username, image_url, public_metadata,
        clerk_created_at, clerk_updated_at
      from public.profiles where user_id = ${all[1234].id}`;
    assert.deepEqual(
      {
        ...row,
        clerk_created_at: row.clerk_created_at.toISOString(),
        clerk_updated_at: row.clerk_updated_at.toISOString(),
      },
      toProfile(all[1234]),
    );
    assert.match(out.text(), /^backfill users: 2,345\/2,345 100%, [\d,]+ users\/s {2}ETA 0:00\n/m);
    assert.equal(await loadState(h.statePath), null, "the state file is removed at the end");

    const again = await runBackfill(sourceFor(h.clerk), h.store, {
      statePath: h.statePath,
      resume: false,
      target: "test",
    });
    assert.deepEqual(again.counts.users, {
      applied: 0,
      restored: 0,
      stale: 0,
      unchanged: 2345,
      failed: 0,
    });
  });
});

Deno.test("runBackfill() waits out a 429 with Retry-After and backs off after a 500", async () => {
  const p = prefix();
  await withHarness({ users: fakeUsers(2345, p) }, async (h) => {
    h.clerk.injectFault({ status: 429, retryAfterSeconds: 1, after: 2 });
    h.clerk.injectFault({ status: 500, after: 1 });
    const notes: { delayMs: number; reason: string }[] = [];
    const started = performance.now();
    const result = await runBackfill(
      sourceFor(h.clerk, { onRetry: (n: { delayMs: number; reason: string }) => notes.push(n) }),
      h.store,
      { statePath: h.statePath, resume: false, target: "test" },
    );
    const seconds = (performance.now() - started) / 1000;

    assert.deepEqual(result.counts.users, {
      applied: 2345,
      restored: 0,
      stale: 0,
      unchanged: 0,
      failed: 0,
    });
    assert.equal(await profileCount(h.sql, p), 2345);
    assert.deepEqual(listRequests(h.clerk).map((r) => r.status), [
      200,
      200,
      429,
      200,
      500,
      200,
      200,
    ]);
    assert.deepEqual(notes.map((n) => n.reason), [
      "Clerk answered 429 Too Many Requests",
      "Clerk answered 500",
    ]);
    assert.equal(notes[0].delayMs, 1000, "Retry-After is honoured");
    assert.ok(seconds >= 1, `waited ${seconds} s`);
  });
});

Deno.test("runBackfill() reads the next page while it writes the current one", async () => {
  const p = prefix();
  await withHarness({ users: fakeUsers(1500, p) }, async (h) => {
    const events: string[] = [];
    h.clerk.onList = (_, page) => void events.push(`read ${page[0]?.id.slice(-7) ?? "none"}`);
    const store: BackfillStore = {
      ...h.store,
      async syncUsers(profiles) {
        const page = profiles[0].user_id.slice(-7);
        events.push(`write ${page}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
        const outcomes = await h.store.syncUsers(profiles);
        events.push(`written ${page}`);
        return outcomes;
      },
    };
    await runBackfill(sourceFor(h.clerk), store, {
      statePath: h.statePath,
      resume: false,
      target: "test",
      concurrency: 1,
    });
    assert.deepEqual(events, [
      "read 0000001",
      "write 0000001",
      "read 0000501",
      "written 0000001",
      "write 0000501",
      "read 0001001",
      "written 0000501",
      "write 0001001",
      "read none",
      "written 0001001",
    ]);
  });
});

Deno.test("runBackfill() stops on interrupt and --resume continues where it stopped", async () => {
  const p = prefix();
  const all = fakeUsers(2345, p);
  await withHarness({ users: all }, async (h) => {
    const controller = new AbortController();
    // Ctrl-C while page 2 is being written (page 3 is being read ahead).
    h.clerk.onList = (_, page) => {
      if (page[0]?.id === all[1000].id) controller.abort(new Error("interrupted"));
    };
    const first = await runBackfill(sourceFor(h.clerk), h.store, {
      statePath: h.statePath,
      resume: false,
      target: "test",
      signal: controller.signal,
    });
    assert.equal(first.interrupted, true);
    assert.equal(first.counts.users.applied, 1000);
    assert.equal(await profileCount(h.sql, p), 1000);
    const state = await loadState(h.statePath);
    assert.equal(state?.done, 1000);
    assert.deepEqual(state?.cursor, {
      by: "starting_after",
      after: all[999].id,
      lastCreatedAt: all[999].created_at,
      lastIds: [all[999].id],
    });

    h.clerk.onList = null;
    const before = listRequests(h.clerk).length;
    const second = await runBackfill(sourceFor(h.clerk), h.store, {
      statePath: h.statePath,
      resume: true,
      target: "test",
    });
    assert.deepEqual(
      cursors(h.clerk, before),
      [all[999].id, all[1499].id, all[1999].id],
      "no page is read again",
    );
    assert.deepEqual(second.carried?.users, {
      applied: 1000,
      restored: 0,
      stale: 0,
      unchanged: 0,
      failed: 0,
    });
    assert.deepEqual(second.counts.users, {
      applied: 2345,
      restored: 0,
      stale: 0,
      unchanged: 0,
      failed: 0,
    });
    assert.equal(await profileCount(h.sql, p), 2345);
    assert.equal(await loadState(h.statePath), null);
  });
});

Deno.test("runBackfill() skips nobody when the user its cursor names is deleted between two pages", async () => {
  const p = prefix();
  const all = fakeUsers(1500, p);
  await withHarness({ users: all }, async (h) => {
    // Once page 2 was read, its last user (the next page's starting_after) and 60 users of page 1
    // are deleted in Clerk: the stand-in answers that cursor 422, and the page is read by
    // created_at_after instead.
    h.clerk.onList = (_, page) => {
      if (page[0]?.id !== all[500].id) return;
      for (const user of [...all.slice(100, 160), all[999]]) h.clerk.remove(user.id);
    };
    const result = await runBackfill(sourceFor(h.clerk), h.store, {
      statePath: h.statePath,
      resume: false,
      target: "test",
    });
    assert.deepEqual(result.counts.users, {
      applied: 1500,
      restored: 0,
      stale: 0,
      unchanged: 0,
      failed: 0,
    });
    assert.equal(await profileCount(h.sql, p), 1500);
    const pages = listRequests(h.clerk).map((r) => {
      const params = new URLSearchParams(r.query);
      return [params.get("starting_after") ?? params.get("created_at_after"), r.status];
    });
    assert.deepEqual(pages, [
      [null, 200],
      [all[499].id, 200],
      [all[999].id, 422],
      [String(all[999].created_at - 1), 200],
      [all[1499].id, 200],
    ]);
  });
});

Deno.test("runBackfill() reads users created in the same millisecond across pages once each", async () => {
  const p = prefix();
  // 12 users share one creation time, across the boundary of pages of 5; the cursor's user is
  // deleted twice on the way, so the created_at_after fallback meets the ties.
  const at = Date.UTC(2025, 0, 1);
  const all = Array.from(
    { length: 14 },
    (_, i) => fakeClerkUser(i + 1, { prefix: p, createdAt: i < 2 ? at - 10 + i : at }),
  );
  await withHarness({ users: all }, async (h) => {
    let reads = 0;
    h.clerk.onList = (_, page) => {
      reads++;
      const last = page.at(-1);
      if ((reads === 1 || reads === 3) && last) h.clerk.remove(String(last.id));
    };
    const sources = sourcesFor(h.clerk, {}, { pageSize: 5 });
    const result = await runBackfill(sources, h.store, {
      statePath: h.statePath,
      resume: false,
      target: "test",
    });
    assert.equal(result.counts.users.applied, 14, JSON.stringify(result.counts.users));
    assert.equal(await profileCount(h.sql, p), 14);
  });
});

Deno.test("runBackfill() keeps its place after a crash, and refuses another run's state", async () => {
  const p = prefix();
  await withHarness({ users: fakeUsers(1200, p) }, async (h) => {
    // Clerk fails for good on the third page: the run stops with the error.
    for (let i = 0; i < 3; i++) h.clerk.injectFault({ status: 503, after: i === 0 ? 2 : 0 });
    await assert.rejects(
      runBackfill(sourceFor(h.clerk, { maxAttempts: 3 }), h.store, {
        statePath: h.statePath,
        resume: false,
        target: "test",
      }),
      /Service Unavailable|Oops/,
    );
    assert.equal((await loadState(h.statePath))?.done, 1000);
    await assert.rejects(
      runBackfill(sourceFor(h.clerk), h.store, {
        statePath: h.statePath,
        resume: true,
        target: "another project",
      }),
      /belongs to another run/,
    );
    const resumed = await runBackfill(sourceFor(h.clerk), h.store, {
      statePath: h.statePath,
      resume: true,
      target: "test",
    });
    assert.deepEqual(resumed.counts.users, {
      applied: 1200,
      restored: 0,
      stale: 0,
      unchanged: 0,
      failed: 0,
    });
  });
});

Deno.test("runBackfill() leaves newer webhook data and deleted users alone", async () => {
  const p = prefix();
  const all = fakeUsers(1200, p);
  const raced = all[700];
  const deletedDuring = all[800];
  const deletedBefore = all[100];
  await withHarness({ users: all }, async (h) => {
    // Deleted in Clerk before the run, but Clerk's list still shows the user (eventual
    // consistency): the tombstone wins.
    assert.equal(await webhook(h.sql, "user.deleted", deletedBefore, Date.now()), "deleted");
    // While page 2 (users 501 to 1,000) is on its way, the webhook delivers a newer version of
    // one of its users and a deletion of another.
    const newer = fakeClerkUser(701, {
      prefix: p,
      updatedAt: raced.updated_at + 60_000,
      fields: { first_name: "Renamed" },
    });
    h.clerk.onList = async (_, page) => {
      if (page[0]?.id !== all[500].id) return;
      h.clerk.onList = null;
      assert.equal(await webhook(h.sql, "user.updated", newer, newer.updated_at), "applied");
      assert.equal(await webhook(h.sql, "user.deleted", deletedDuring, Date.now()), "deleted");
      h.clerk.put(newer);
      h.clerk.remove(deletedDuring.id);
    };
    const result = await runBackfill(sourceFor(h.clerk), h.store, {
      statePath: h.statePath,
      resume: false,
      target: "test",
    });

    assert.deepEqual(result.counts.users, {
      applied: 1197,
      restored: 0,
      stale: 3,
      unchanged: 0,
      failed: 0,
    });
    const [row] = await h.sql`
      select first_name, clerk_updated_at from public.profiles where user_id = ${raced.id}`;
    assert.equal(row.first_name, "Renamed");
    assert.equal(row.clerk_updated_at.getTime(), newer.updated_at);
    const gone = await h.sql`
      select user_id from public.profiles where user_id in ${
      h.sql([deletedBefore.id, deletedDuring.id])
    }`;
    assert.equal(gone.length, 0, "deleted users stay deleted");

    // Even a later run that still sees the deleted user in Clerk's list does not bring it back.
    h.clerk.put(deletedDuring);
    const again = await runBackfill(sourceFor(h.clerk), h.store, {
      statePath: h.statePath,
      resume: false,
      target: "test",
    });
    assert.deepEqual(again.counts.users, {
      applied: 0,
      restored: 0,
      stale: 2,
      unchanged: 1198,
      failed: 0,
    });
    assert.equal(await profileCount(h.sql, p), 1198);
  });
});

Deno.test("runBackfill() counts a user it cannot map as failed and writes the rest", async () => {
  const p = prefix();
  const all = fakeUsers(10, p);
  all[3] = fakeClerkUser(4, { prefix: p, fields: { updated_at: "yesterday" } });
  await withHarness({ users: all }, async (h) => {
    const result = await runBackfill(sourceFor(h.clerk), h.store, {
      statePath: h.statePath,
      resume: false,
      target: "test",
    });
    assert.deepEqual(result.counts.users, {
      applied: 9,
      restored: 0,
      stale: 0,
      unchanged: 0,
      failed: 1,
    });
    assert.equal(result.failures[0].id, all[3].id);
    assert.match(result.failures[0].reason, /updated_at is not a valid timestamp/);
  });
});

Deno.test("sync_clerk_users() waits for a webhook holding the user's lock, then defers to it", async () => {
  const p = prefix();
  const user = fakeClerkUser(1, { prefix: p });
  const newer = fakeClerkUser(1, { prefix: p, updatedAt: user.updated_at + 5000 });
  const sql = postgres(databaseUrl(), { max: 2, onnotice: () => {} });
  try {
    const batch = { done: false, result: Promise.resolve<Record<string, string[]>>({}) };
    await sql.begin(async (tx) => {
      const [{ outcome }] = await tx`
        select public.sync_clerk_user(${`msg_${p}`}, 'user.updated', ${user.id},
          ${new Date(newer.updated_at).toISOString()}::timestamptz,
          ${JSON.stringify(toProfile(newer))}::text::jsonb) as outcome`;
      assert.equal(outcome, "applied");
      batch.result = sql`select public.sync_clerk_users(${
        JSON.stringify([toProfile(user)])
      }::text::jsonb) as r`
        .then(([row]) => {
          batch.done = true;
          return row.r;
        });
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(batch.done, false, "the batch waits for the webhook's transaction");
    });
    assert.deepEqual(await batch.result, {
      applied: [],
      restored: [],
      stale: [user.id],
      unchanged: [],
    });
    const [row] =
      await sql`select clerk_updated_at from public.profiles where user_id = ${user.id}`;
    assert.equal(row.clerk_updated_at.getTime(), newer.updated_at);
  } finally {
    await sql.end();
  }
});

Deno.test("the backfill functions are executable by service_role only", async () => {
  const sql = postgres(databaseUrl(), { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`
      select p.proname, r.rolname, has_function_privilege(r.rolname, p.oid, 'execute') as can
      from pg_proc p
      cross join (values ('anon'), ('authenticated'), ('service_role')) as r(rolname)
      where p.pronamespace = 'public'::regnamespace
        and p.proname in ('sync_clerk_users', 'diff_clerk_users', 'list_profile_ids',
          'tombstone_clerk_users')
      order by 1, 2`;
    assert.equal(rows.length, 12);
    for (const row of rows) {
      assert.equal(row.can, row.rolname === "service_role", `${row.rolname} on ${row.proname}`);
    }
    const definer = await sql`
      select proname from pg_proc where pronamespace = 'public'::regnamespace
        and proname in ('sync_clerk_users', 'diff_clerk_users', 'list_profile_ids',
          'tombstone_clerk_users')
        and prosecdef and proconfig = array['search_path=""']`;
    assert.equal(definer.length, 4, "SECURITY DEFINER with an empty search_path");
  } finally {
    await sql.end();
  }
});

Deno.test("sync_clerk_users() rejects malformed pages with SQLSTATE 22023", async () => {
  const sql = postgres(databaseUrl(), { max: 1, onnotice: () => {} });
  try {
    const p = prefix();
    const good = toProfile(fakeClerkUser(1, { prefix: p }));
    const cases: [unknown, RegExp][] = [
      [{ not: "an array" }, /must be a JSON array/],
      [[42], /must be an array of objects/],
      [[{ ...good, user_id: "" }], /needs a user_id and a clerk_updated_at/],
      [[{ ...good, clerk_updated_at: null }], /needs a user_id and a clerk_updated_at/],
      [[good, good], /listed twice/],
      [
        Array.from({ length: 1001 }, (_, i) => ({ ...good, user_id: `${good.user_id}_${i}` })),
        /at most 1000 users per call/,
      ],
    ];
    for (const [bad, message] of cases) {
      await assert.rejects(
        sql`select public.sync_clerk_users(${JSON.stringify(bad)}::text::jsonb)`,
        (error: { code?: string; message?: string }) =>
          error.code === "22023" && message.test(error.message ?? ""),
      );
    }
    const [{ n }] = await sql`
      select count(*)::int as n from public.profiles where user_id like ${`${good.user_id}%`}`;
    assert.equal(n, 0, "nothing of a refused page is written");
  } finally {
    await sql.end();
  }
});

// ---- reconcile: these compare the whole table, so each runs on its own cluster ----

async function withCluster(fn: (cluster: PgCluster) => Promise<void>): Promise<void> {
  const cluster = await startCluster();
  try {
    await fn(cluster);
  } finally {
    await cluster.destroy();
  }
}

/** Runs the command in-process against the harness; returns exit code, stdout and stderr. */
async function cli(h: Harness, argv: string[], env: Record<string, string> = {}) {
  const stdout: string[] = [];
  const stderr = recorder();
  const vars = new Map(Object.entries({
    CLERK_SECRET_KEY: h.clerk.secretKey,
    CLERK_API_URL: h.clerk.url,
    SUPABASE_URL: h.supabaseUrl,
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET_KEY }),
    ...env,
  }));
  const code = await runCli({
    argv: [...argv, "--state", h.statePath],
    env: vars,
    stdout: (text) => void stdout.push(text),
    stderr,
    retry: FAST_RETRY,
  });
  return { code, stdout: stdout.join("\n"), stderr: stderr.text() };
}

Deno.test("reconcile reports planted drift (exit 1), --apply repairs it (exit 0)", async () => {
  await withCluster(async (cluster) => {
    const all = fakeUsers(1100, "");
    await withHarness({ databaseUrl: cluster.url, users: all }, async (h) => {
      assert.equal((await cli(h, [])).code, EXIT.ok, "the backfill");
      const inSync = await cli(h, ["--dry-run"]);
      assert.equal(inSync.code, EXIT.ok, inSync.stdout);
      assert.match(inSync.stdout, /In sync\./);

      // Plant drift: a row lost, a row left behind at an old version, a profile whose Clerk user
      // is gone (deleted in Clerk while the webhook endpoint was down), and a stray row.
      const [lost, outdated, goneInClerk] = [all[10], all[600], all[1050]];
      await h.sql`delete from public.profiles where user_id = ${lost.id}`;
      await h.sql`
        update public.profiles set first_name = 'Old', clerk_updated_at = clerk_updated_at - interval '1 day'
        where user_id = ${outdated.id}`;
      h.clerk.remove(goneInClerk.id);
      await h.sql`
        insert into public.profiles (user_id, clerk_updated_at) values ('user_stray', now())`;
      const before = await h.sql`select * from public.profiles order by user_id`;

      const dry = await cli(h, ["--dry-run"]);
      assert.equal(dry.code, EXIT.drift, dry.stdout);
      assert.match(dry.stdout, new RegExp(`missing in Supabase +1  ${lost.id}\\n`));
      assert.match(dry.stdout, new RegExp(`older than Clerk +1  ${outdated.id}\\n`));
      assert.match(dry.stdout, new RegExp(`orphaned rows +2  ${goneInClerk.id}, user_stray`));
      assert.match(dry.stdout, /Drift: 4 users\. Run with --apply to repair\./);
      assert.deepEqual(await h.sql`select * from public.profiles order by user_id`, before);

      // A repair job that repaired everything it found has succeeded.
      const applied = await cli(h, ["--dry-run", "--apply"]);
      assert.equal(applied.code, EXIT.ok, applied.stdout);
      assert.match(applied.stdout, /Repaired: 2 written, 0 restored, 2 orphans tombstoned\n/);
      assert.match(applied.stdout, /Drift: 4 users found, all repaired\.$/);
      const after = await cli(h, ["--dry-run"]);
      assert.equal(after.code, EXIT.ok, after.stdout);

      const [row] = await h.sql`
        select first_name from public.profiles where user_id = ${outdated.id}`;
      assert.equal(row.first_name, outdated.first_name);
      const tombstones = await h.sql`
        select user_id, kind from clerk_sync.deleted_users order by user_id`;
      assert.deepEqual(tombstones.map((t) => [t.user_id, t.kind]), [
        [goneInClerk.id, "inferred"],
        ["user_stray", "inferred"],
      ]);

      // Clerk lists the orphan again (it was not deleted after all): reconcile calls its inferred
      // tombstone drift and --apply restores the user. A user whose deletion Clerk announced but
      // whom the listing still shows is not drift, and stays deleted.
      const announced = all[20];
      assert.equal(await webhook(h.sql, "user.deleted", announced, Date.now()), "deleted");
      h.clerk.put(goneInClerk);
      const listed = await cli(h, ["--dry-run"]);
      assert.equal(listed.code, EXIT.drift, listed.stdout);
      assert.match(listed.stdout, new RegExp(`wrongly tombstoned +1  ${goneInClerk.id}\n`));
      assert.match(listed.stdout, /deleted meanwhile +1 {2}deletion announced by Clerk; not drift/);
      const restored = await cli(h, ["--apply"]);
      assert.equal(restored.code, EXIT.ok, restored.stdout);
      assert.match(restored.stdout, /Repaired: 0 written, 1 restored, 0 orphans tombstoned\n/);
      const [back] = await h.sql`
        select first_name from public.profiles where user_id = ${goneInClerk.id}`;
      assert.equal(back?.first_name, goneInClerk.first_name);
      const rerun = await cli(h, []);
      assert.equal(rerun.code, EXIT.ok);
      assert.match(rerun.stdout, /unchanged +1,099/);
      assert.match(rerun.stdout, /stale +1 +0 +0 {2}kept newer webhook data or a deletion/);
      assert.equal(await profileCount(h.sql, ""), 1099);
    });
  });
});

Deno.test("reconcile --apply refuses to tombstone more orphans than --max-orphans (exit 2)", async () => {
  await withCluster(async (cluster) => {
    await withHarness({ databaseUrl: cluster.url, users: fakeUsers(30, "") }, async (h) => {
      assert.equal((await cli(h, [])).code, EXIT.ok);
      for (let i = 1; i <= 20; i++) h.clerk.remove(fakeClerkUser(i).id);
      const refused = await cli(h, [
        "--apply",
        "--max-orphans",
        "5",
        "--max-orphan-percent",
        "100",
      ]);
      assert.equal(refused.code, EXIT.error, refused.stdout);
      assert.match(
        refused.stdout,
        /Refused to repair, nothing written: 20 of 30 profiles have no Clerk user, more than --max-orphans=5: is CLERK_SECRET_KEY/,
      );
      const [{ n }] = await h.sql`select count(*)::int as n from clerk_sync.deleted_users`;
      assert.equal(n, 0);
    });
  });
});

/** Every row of profiles and of the tombstones, to prove that a run wrote nothing. */
async function mirror(sql: postgres.Sql) {
  return {
    profiles: await sql`select * from public.profiles order by user_id`,
    tombstones: await sql`select * from clerk_sync.deleted_users order by user_id`,
  };
}

Deno.test("reconcile --apply refuses a listing of none and 100% orphans; the right listing undoes raised guards", async () => {
  await withCluster(async (cluster) => {
    const empty = startClerkApiStandIn({ secretKey: "sk_test_empty_instance" });
    const other = startClerkApiStandIn({
      secretKey: "sk_test_other_instance",
      users: fakeUsers(3, "other_"),
    });
    const keyOf = (clerk: ClerkApiStandIn) => ({
      CLERK_SECRET_KEY: clerk.secretKey,
      CLERK_API_URL: clerk.url,
    });
    try {
      await withHarness({ databaseUrl: cluster.url, users: fakeUsers(73, "") }, async (h) => {
        assert.equal((await cli(h, [])).code, EXIT.ok, "the backfill with the right key");
        const before = await mirror(h.sql);

        // An empty instance: refused whatever the limits say, and nothing written.
        for (const limits of [[], ["--max-orphans", "1000", "--max-orphan-percent", "100"]]) {
          const run = await cli(h, ["--apply", ...limits], keyOf(empty));
          assert.equal(run.code, EXIT.error, run.stdout);
          assert.match(
            run.stdout,
            /Refused to repair, nothing written: Clerk listed no users while profiles holds 73: is CLERK_SECRET_KEY the key of this project's Clerk instance\?/,
          );
          assert.match(run.stdout, /Drift: 73 users found, none repaired\.$/);
          assert.deepEqual(await mirror(h.sql), before);
        }
        const dry = await cli(h, ["--dry-run"], keyOf(empty));
        assert.equal(dry.code, EXIT.drift, dry.stdout);
        assert.match(dry.stdout, /--apply would refuse: Clerk listed no users/);

        // An instance with 3 users: 73 orphans (100%) are refused by either limit, and its 3
        // users are not written either.
        for (const limits of [[], ["--max-orphans", "50", "--max-orphan-percent", "100"]]) {
          const run = await cli(h, ["--apply", ...limits], keyOf(other));
          assert.equal(run.code, EXIT.error, run.stdout);
          assert.match(run.stdout, /Refused to repair, nothing written: 73 of 73 profiles/);
          assert.match(run.stdout, /missing in Supabase +3 {2}user_other_0000001/);
          assert.deepEqual(await mirror(h.sql), before);
        }

        // An operator who raises both limits gets the tombstones, as inferred ones...
        const forced = await cli(h, [
          "--apply",
          "--max-orphans",
          "1000",
          "--max-orphan-percent",
          "100",
        ], keyOf(other));
        assert.equal(forced.code, EXIT.ok, forced.stdout);
        assert.match(forced.stdout, /Repaired: 3 written, 0 restored, 73 orphans tombstoned/);
        const [kinds] = await h.sql`
          select count(*)::int as n, count(*) filter (where kind = 'inferred')::int as inferred
          from clerk_sync.deleted_users`;
        assert.deepEqual({ ...kinds }, { n: 73, inferred: 73 });

        // ...which the right key lifts: the backfill restores every user...
        const backfill = await cli(h, []);
        assert.equal(backfill.code, EXIT.ok, backfill.stdout);
        assert.match(backfill.stdout, /restored +73 +0 +0 {2}inferred tombstone lifted/);
        // ...and reconcile tombstones the other instance's 3 users (3 of 76: under both limits).
        const repair = await cli(h, ["--apply"]);
        assert.equal(repair.code, EXIT.ok, repair.stdout);
        assert.match(repair.stdout, /orphaned rows +3 {2}user_other_0000001/);
        assert.match(repair.stdout, /Drift: 3 users found, all repaired\.$/);
        const after = await cli(h, ["--dry-run"]);
        assert.equal(after.code, EXIT.ok, after.stdout);
        assert.match(after.stdout, /in sync +73\n/);
        assert.deepEqual(
          (await mirror(h.sql)).profiles.map((row) => row.user_id),
          before.profiles.map((row) => row.user_id),
        );
      });
    } finally {
      await empty.close();
      await other.close();
    }
  });
});

Deno.test("reconcile --apply refuses orphans over 10% of the profiles unless --max-orphan-percent allows them", async () => {
  await withCluster(async (cluster) => {
    const all = fakeUsers(30, "");
    await withHarness({ databaseUrl: cluster.url, users: all }, async (h) => {
      assert.equal((await cli(h, [])).code, EXIT.ok);
      // 4 of 30 profiles (13%) lost their Clerk user, far below --max-orphans=100; one row is
      // missing too.
      for (const user of all.slice(0, 4)) h.clerk.remove(user.id);
      await h.sql`delete from public.profiles where user_id = ${all[29].id}`;
      const before = await mirror(h.sql);

      const refused = await cli(h, ["--apply"]);
      assert.equal(refused.code, EXIT.error, refused.stdout);
      assert.match(
        refused.stdout,
        /Refused to repair, nothing written: 4 of 29 profiles have no Clerk user, more than --max-orphan-percent=10 \(13\.8%\): is CLERK_SECRET_KEY/,
      );
      assert.deepEqual(await mirror(h.sql), before, "not even the missing user is written");

      const allowed = await cli(h, ["--apply", "--max-orphan-percent", "15"]);
      assert.equal(allowed.code, EXIT.ok, allowed.stdout);
      assert.match(allowed.stdout, /Repaired: 1 written, 0 restored, 4 orphans tombstoned/);
      const tombstones = await h.sql`
        select user_id, kind from clerk_sync.deleted_users order by user_id`;
      assert.deepEqual(
        tombstones.map((t) => [t.user_id, t.kind]),
        all.slice(0, 4).map((user) => [user.id, "inferred"]),
      );
    });
  });
});

Deno.test("the tombstone-kinds migration calls a tombstone announced when the log holds a user.deleted", async () => {
  const cluster = await startCluster({ migrate: false });
  const sql = postgres(cluster.url, { max: 1, onnotice: () => {} });
  try {
    await applyMirror(cluster);
    const root = new URL("../", import.meta.url).pathname;
    const migrations = [...Deno.readDirSync(`${root}supabase/migrations`)]
      .map((entry) => entry.name).filter((name) => name.endsWith(".sql")).sort();
    const kinds = "20261129120000_clerk_inferred_tombstones.sql";
    assert.ok(migrations.includes(kinds));
    for (const name of migrations.filter((name) => name < kinds)) {
      await sql.unsafe(await Deno.readTextFile(`${root}supabase/migrations/${name}`));
    }

    // Before: Ada deleted by the webhook, Bob tombstoned by reconcile, Cleo created by the
    // webhook and tombstoned by reconcile, Dan deleted by the webhook with the log pruned since.
    const at = "2026-03-01T10:00:00Z";
    await sql`select public.sync_clerk_user('msg_m1', 'user.deleted', 'user_mAda', ${at})`;
    await sql`select public.tombstone_clerk_users(array['user_mBob'], ${at})`;
    await sql`select public.sync_clerk_user('msg_m2', 'user.created', 'user_mCleo', ${at}, '{}')`;
    await sql`select public.tombstone_clerk_users(array['user_mCleo'], ${at})`;
    await sql`select public.sync_clerk_user('msg_m3', 'user.deleted', 'user_mDan', ${at})`;
    await sql`delete from clerk_sync.webhook_events where svix_id = 'msg_m3'`;

    await sql.unsafe(await Deno.readTextFile(`${root}supabase/migrations/${kinds}`));
    const rows = await sql`select user_id, kind from clerk_sync.deleted_users order by user_id`;
    assert.deepEqual(rows.map((row) => [row.user_id, row.kind]), [
      ["user_mAda", "announced"],
      ["user_mBob", "inferred"],
      ["user_mCleo", "inferred"],
      ["user_mDan", "inferred"],
    ]);
    await assert.rejects(
      sql`insert into clerk_sync.deleted_users (user_id, deleted_at) values ('user_mEve', now())`,
      (error: { code?: string }) => error.code === "23502",
      "a new tombstone must name its kind",
    );
  } finally {
    await sql.end();
    await cluster.destroy();
  }
});

Deno.test("the backfill command exits 2 on a refused Clerk key and on missing settings", async () => {
  await withHarness({ users: fakeUsers(3, prefix()) }, async (h) => {
    const refused = await cli(h, [], { CLERK_SECRET_KEY: "sk_test_wrong" });
    assert.equal(refused.code, EXIT.error);
    assert.match(
      refused.stderr,
      /backfill: Clerk answered 401: The provided Clerk Secret Key is invalid\. Make sure that your Clerk Secret Key is correct\. \(clerk_key_invalid\)/,
    );
    const legacy = await cli(h, ["--dry-run"], {
      SUPABASE_SECRET_KEYS: "",
      SUPABASE_SERVICE_ROLE_KEY: "not-a-jwt",
    });
    assert.equal(legacy.code, EXIT.error);
    assert.match(legacy.stderr, /HTTP 401 PGRST301/);
    const missing = await cli(h, [], { CLERK_SECRET_KEY: "" });
    assert.equal(missing.code, EXIT.error);
    assert.match(missing.stderr, /CLERK_SECRET_KEY is not set/);
  });
});

Deno.test("backfill/main.ts stops on SIGINT (exit 130) and --resume finishes the job", async () => {
  const p = prefix();
  const all = fakeUsers(2345, p);
  await withHarness({ users: all }, async (h) => {
    const env = {
      CLERK_SECRET_KEY: h.clerk.secretKey,
      CLERK_API_URL: h.clerk.url,
      SUPABASE_URL: h.supabaseUrl,
      SUPABASE_SERVICE_ROLE_KEY: await roleJwt("service_role", JWT_SECRET),
      SUPABASE_SECRET_KEYS: "",
      NO_COLOR: "1",
    };
    const script = new URL("../backfill/main.ts", import.meta.url).pathname;
    const spawn = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--frozen", script, ...args, "--state", h.statePath],
        env,
        stdout: "piped",
        stderr: "piped",
      }).spawn();

    const child = spawn([]);
    h.clerk.onList = async (_, page) => {
      if (page[0]?.id !== all[1000].id) return;
      child.kill("SIGINT");
      await new Promise((resolve) => setTimeout(resolve, 200));
    };
    const first = await child.output();
    const firstOut = new TextDecoder().decode(first.stdout);
    assert.equal(first.code, 130, firstOut + new TextDecoder().decode(first.stderr));
    assert.match(firstOut, /Backfill interrupted: 1,000 of 2,345/);
    assert.match(firstOut, /run again with --resume/);

    h.clerk.onList = null;
    const second = await spawn(["--resume"]).output();
    const secondOut = new TextDecoder().decode(second.stdout);
    const secondErr = new TextDecoder().decode(second.stderr);
    assert.equal(second.code, 0, secondOut + secondErr);
    assert.match(secondErr, /Resuming users after 1000 of 2345/);
    assert.match(
      secondOut,
      /Backfill finished: 2,345 of 2,345 Clerk users, 0 of 0 organizations, 0 of 0 memberships; 1,345 in this run/,
    );
    assert.match(secondOut, /^ +users +organizations +memberships$/m);
    assert.match(secondOut, /^ {2}applied +2,345 +0 +0 {2}inserted or updated$/m);
    assert.match(secondOut, /^ {2}carried over +1,000 +0 +0 {2}written before this run/m);
    assert.match(secondOut, /^ {2}stale +0 +0 +0 {2}kept newer/m);
    assert.equal(await profileCount(h.sql, p), 2345);
  });
});

/**
 * A consistent state file of a run that wrote `done` objects of `phase` (all applied) up to its
 * cursor (users: after `user_x`; others: at offset `done`), after (for a later phase) 10 applied
 * objects of each phase before.
 */
function savedState(
  done: number,
  cursor: { lastCreatedAt?: number; offset?: number } = {},
  phase: Kind = "users",
): BackfillState {
  const now = new Date().toISOString();
  const counts = emptyKindCounts();
  for (const kind of KINDS.slice(0, KINDS.indexOf(phase))) counts[kind].applied = 10;
  counts[phase].applied = done;
  return {
    version: 4,
    target: "test",
    phase,
    cursor: phase === "users"
      ? {
        by: "starting_after",
        after: "user_x",
        lastCreatedAt: cursor.lastCreatedAt ?? Date.UTC(2024, 0, 1),
        lastIds: ["user_x"],
      }
      : {
        by: "offset",
        offset: cursor.offset ?? done,
        lastCreatedAt: cursor.lastCreatedAt ?? Date.UTC(2024, 0, 1),
        lastIds: ["org_x"],
      },
    done,
    total: done,
    counts,
    failures: [],
    startedAt: now,
    updatedAt: now,
  };
}

Deno.test("runBackfill() --resume refuses a cursor in the future or an offset past Clerk's count", async () => {
  const p = prefix();
  await withHarness({ users: fakeUsers(10, p) }, async (h) => {
    const resume = () =>
      runBackfill(sourceFor(h.clerk), h.store, {
        statePath: h.statePath,
        resume: true,
        target: "test",
      });
    await saveState(h.statePath, savedState(5, { lastCreatedAt: Date.now() + 86_400_000 }));
    await assert.rejects(
      resume(),
      /cannot be resumed: its cursor is in the future \(a user created at .*\)\. Start over without --resume/,
    );
    // Offset listings: the offset may not lie past the count of that phase's listing.
    await saveState(h.statePath, savedState(3, { offset: 3 }, "organizations"));
    await assert.rejects(
      resume(),
      /cannot be resumed: its cursor \(offset 3\) is past the 0 organizations Clerk has now/,
    );
    await saveState(
      h.statePath,
      savedState(3, { lastCreatedAt: Date.now() + 86_400_000 }, "memberships"),
    );
    await assert.rejects(resume(), /its cursor is in the future \(a membership created at /);
    assert.equal(await profileCount(h.sql, p), 0, "nothing written");

    // Through the command: exit 2 and the message; without --resume the file is ignored.
    const target = `${h.clerk.url} -> ${h.supabaseUrl}`;
    await saveState(h.statePath, { ...savedState(500, { offset: 500 }, "memberships"), target });
    const refused = await cli(h, ["--resume"]);
    assert.equal(refused.code, EXIT.error);
    assert.match(refused.stderr, /Start over without --resume \(safe: every write is guarded/);
    const fresh = await cli(h, []);
    assert.equal(fresh.code, EXIT.ok, fresh.stdout + fresh.stderr);
    assert.match(fresh.stderr, /Found an unfinished run \(memberships: 500 done\); starting over/);
    assert.equal(await profileCount(h.sql, p), 10);
  });
});

Deno.test("loadState() refuses counts that do not add up to done, negative ones, and old files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "backfill-state-" });
  const path = `${dir}/state.json`;
  const write = (value: unknown) => Deno.writeTextFile(path, JSON.stringify(value));
  try {
    const good = savedState(975);
    await write(good);
    assert.deepEqual(await loadState(path), good);
    const inPhase = savedState(20, {}, "memberships");
    await write(inPhase);
    assert.deepEqual(await loadState(path), inPhase);
    const users = (counts: Record<string, number>) => ({ ...good.counts, users: counts });
    const cases: [unknown, RegExp][] = [
      [{ ...good, done: 1000 }, /its counts of users add up to 975, not to done \(1000\)/],
      [
        { ...good, counts: users({ ...good.counts.users, applied: 980, stale: -5 }) },
        /its counts are not all counts/,
      ],
      [
        { ...good, counts: users({ ...good.counts.users, applied: 975.5 }) },
        /its counts are not all counts/,
      ],
      [
        { ...good, counts: users({ applied: 975, stale: 0, unchanged: 0, failed: 0 }) },
        /not all counts/,
      ],
      [{ ...good, counts: { users: good.counts.users } }, /not all counts/],
      [
        { ...good, counts: { ...good.counts, organizations: { ...emptyCounts(), stale: 1 } } },
        /it counts organizations before their phase/,
      ],
      [{ ...inPhase, done: 30 }, /its counts of memberships add up to 20, not to done \(30\)/],
      [{ ...good, phase: "teams" }, /its phase is not users, organizations or memberships/],
      [
        { ...good, failures: [{ kind: "users", id: "user_1", reason: "x" }] },
        /failures do not match/,
      ],
      [
        {
          ...good,
          counts: users({ ...good.counts.users, applied: 974, failed: 1 }),
          failures: [{ userId: "user_1", reason: "x" }],
        },
        /failures do not match/,
      ],
      [{ ...good, cursor: { ...good.cursor, after: 42 } }, /its cursor is malformed/],
      [{ ...good, cursor: { ...good.cursor, after: "" } }, /its cursor is malformed/],
      [{ ...good, cursor: inPhase.cursor }, /its cursor is malformed/],
      [{ ...inPhase, cursor: { ...inPhase.cursor, offset: -1 } }, /its cursor is malformed/],
      [{ ...inPhase, cursor: good.cursor }, /its cursor is malformed/],
      [{ ...good, cursor: { ...good.cursor, lastCreatedAt: "soon" } }, /its cursor is malformed/],
      [{ ...good, version: 1 }, /written by an older version/],
      [{ ...good, version: 2 }, /written by an older version/],
      [{ ...good, startedAt: "yesterday" }, /its times are malformed/],
      [[], /not a backfill state file/],
    ];
    for (const [value, message] of cases) {
      await write(value);
      await assert.rejects(loadState(path), message);
    }
    await Deno.writeTextFile(path, "{not json");
    await assert.rejects(loadState(path), /it is not JSON\. Start over without --resume/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the command escapes control characters in user ids, reasons and Clerk's messages", async () => {
  const p = prefix();
  const forged = `user_${p}Eve\nSuccessfully synced profile for user user_forged`;
  const all = [
    ...fakeUsers(2, p),
    fakeClerkUser(3, { prefix: p, fields: { id: forged, updated_at: 0 } }),
  ];
  await withHarness({ users: all }, async (h) => {
    const run = await cli(h, []);
    assert.equal(run.code, EXIT.error, "a user failed");
    assert.doesNotMatch(run.stdout, /^Successfully/m);
    assert.ok(
      run.stdout.includes(`    user_${p}Eve\\nSuccessfully synced profile for user user_forged: `),
      run.stdout,
    );

    h.clerk.injectFault({ status: 422, message: "bad\r\nSuccessfully synced \x1b[2Jeverything" });
    const refused = await cli(h, []);
    assert.equal(refused.code, EXIT.error);
    assert.doesNotMatch(refused.stderr, /^Successfully/m);
    assert.match(
      refused.stderr,
      /backfill: Clerk answered 422: bad\\r\\nSuccessfully synced \\u001b\[2Jeverything \(internal_clerk_error\)\n/,
    );
  });
});

Deno.test("formatReconcileReport() and formatBackfillSummary() print values from Clerk escaped", () => {
  const hostile = "user_a\nSuccessfully synced profile for user user_b\u2028\u202e";
  const report: ReconcileReport = {
    instance: { id: "ins_2abc", environmentType: "production" },
    organizationsEnabled: true,
    apply: false,
    kinds: {
      users: { ...emptyKindReport("users"), clerk: 2, rows: 1, missing: [hostile] },
      organizations: { ...emptyKindReport("organizations"), orphans: [`org_${hostile}`] },
      memberships: { ...emptyKindReport("memberships"), outdated: [`orgmem_${hostile}`] },
    },
    refused: null,
    failures: [{ kind: "users", id: hostile, reason: "no valid updated_at\r\nIn sync." }],
    interrupted: false,
    seconds: 0,
  };
  const text = formatReconcileReport(report);
  assert.doesNotMatch(text, /^(Successfully|In sync)/m);
  assert.match(
    text,
    /missing in Supabase +1 {2}user_a\\nSuccessfully synced .*user_b\\u2028\\u202e\n/,
  );
  assert.match(text, /orphaned rows +1 {2}org_user_a\\nSuccessfully synced .*\\u202e\n/);
  assert.match(text, /older than Clerk +1 {2}orgmem_user_a\\nSuccessfully synced .*\\u202e\n/);
  assert.match(text, /user_a\\n.*: no valid updated_at\\r\\nIn sync\.\n/);
  assert.match(text, /Drift: 1 user, 1 organization, 1 membership\. Run with --apply/);

  const counts = emptyKindCounts();
  counts.users.failed = 1;
  counts.memberships.failed = 1;
  const result: BackfillResult = {
    instance: { id: "ins_2abc", environmentType: "production" },
    organizationsEnabled: true,
    kinds: [...KINDS],
    counts,
    carried: null,
    failures: [
      { kind: "users", id: hostile, reason: "\x1b[31mred" },
      { kind: "memberships", id: `orgmem_${hostile}`, reason: "data.role is missing" },
    ],
    totals: { users: 1, organizations: 0, memberships: 1 },
    phase: "memberships",
    processed: 2,
    interrupted: false,
    seconds: 1,
  };
  const summary = formatBackfillSummary(result, "state.json");
  assert.doesNotMatch(summary, /^Successfully/m);
  assert.match(summary, /: \\u001b\[31mred\n {4}orgmem_user_a\\n.*: data\.role is missing$/);
  assert.match(summary, /^ {2}failed +1 +0 +1$/m);
});

// ---- units ----

Deno.test("classifyClerkError() retries 429 after Retry-After, 5xx and network failures", () => {
  assert.deepEqual(classifyClerkError({ status: 429, retryAfter: 3 }), {
    kind: "rate_limited",
    delayMs: 3000,
    reason: "Clerk answered 429 Too Many Requests",
  });
  assert.equal(classifyClerkError({ status: 429 }).kind, "rate_limited");
  assert.equal(classifyClerkError({ status: 502 }).kind, "transient");
  assert.equal(
    classifyClerkError({ errors: [{ code: "unexpected_error" }] }).kind,
    "transient",
  );
  assert.equal(classifyClerkError({ status: 401 }).kind, "fatal");
  assert.equal(classifyClerkError(new TypeError("bug")).kind, "fatal");
});

/** A backfill store on its own PostgREST stand-in (options: the stand-in's), and its retries. */
async function withRetryingStore(
  options: Partial<PostgrestStandInOptions>,
  fn: (
    store: BackfillStore,
    notes: string[],
    onRetry: (then: () => unknown) => void,
  ) => Promise<void>,
): Promise<void> {
  const rest = createPostgrestStandIn({
    jwtSecret: JWT_SECRET,
    secretKeys: [SECRET_KEY],
    ...options,
    databaseUrl: options.databaseUrl ?? roleUrl("authenticator"),
  });
  const notes: string[] = [];
  let next: (() => unknown) | null = null;
  const supabase = createClient("http://stand-in.local", SECRET_KEY, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: { fetch: (input, init) => rest.handler(new Request(input, init)) },
  });
  const store = createSupabaseBackfillStore(supabase, {
    retry: {
      ...FAST_RETRY,
      onRetry: (notice) => {
        notes.push(notice.reason);
        next?.();
        next = null;
      },
    },
  });
  try {
    await fn(store, notes, (then) => next = then);
  } finally {
    await rest.close();
  }
}

Deno.test("createSupabaseBackfillStore() retries a page whose lock wait the server cancelled (55P03)", async () => {
  const user = fakeClerkUser(1, { prefix: prefix() });
  const url = new URL(roleUrl("authenticator"));
  // The platform's 8 s lock_timeout, shortened: a startup option overrides the role's setting.
  url.searchParams.set("lock_timeout", "200ms");
  const sql = postgres(databaseUrl(), { max: 1, onnotice: () => {} });
  const holder = await sql.reserve();
  try {
    await holder`begin`;
    await holder`select clerk_sync.lock_users(array[${user.id}]::text[])`;
    await withRetryingStore({ databaseUrl: url.toString() }, async (store, notes, onRetry) => {
      onRetry(() => holder`commit`.execute());
      const outcomes = await store.syncUsers([toProfile(user)]);
      assert.deepEqual([...outcomes], [[user.id, "applied"]]);
      assert.deepEqual(notes, [
        "sync_clerk_users: HTTP 500 55P03: canceling statement due to lock timeout",
      ]);
    });
  } finally {
    await holder`rollback`.catch(() => {});
    holder.release();
    await sql.end();
  }
});

Deno.test("createSupabaseBackfillStore() retries the gateway's 520 and 502 pages", async () => {
  const user = fakeClerkUser(1, { prefix: prefix() });
  const faults: (520 | 502)[] = [520, 502];
  await withRetryingStore({ gatewayFault: () => faults.shift() ?? null }, async (store, notes) => {
    const outcomes = await store.syncUsers([toProfile(user)]);
    assert.deepEqual([...outcomes], [[user.id, "applied"]]);
    assert.deepEqual(notes, [
      "sync_clerk_users: HTTP 520: stand-in.local | 520: Web server is returning an unknown error",
      "sync_clerk_users: HTTP 502: stand-in.local | 502: Bad gateway",
    ]);
  });
});

Deno.test("classifyRpcError() retries what the webhook answers 503 for, and nothing else", () => {
  const verdict = (status: number, code: string) =>
    classifyRpcError(new RpcError("f", status, code, "m")).kind;
  const transient: [number, string][] = [
    [0, ""],
    [500, "55P03"],
    [500, "57014"],
    [503, "57P01"],
    [500, "57P02"],
    [500, "57P03"],
    [503, "08006"],
    [503, "53300"],
    [503, "PGRST000"],
    [503, "PGRST001"],
    [503, "PGRST002"],
    [504, "PGRST003"],
    [502, ""],
    [520, ""],
    [522, ""],
    [500, ""],
    [500, "40001"],
    [500, "40P01"],
  ];
  for (const [status, code] of transient) {
    assert.equal(verdict(status, code), "transient", `${status} ${code}`);
  }
  const fatal: [number, string][] = [
    [500, "53400"],
    [500, "XX000"],
    [400, "22023"],
    [401, "42501"],
    [404, "PGRST202"],
    [200, ""],
  ];
  for (const [status, code] of fatal) {
    assert.equal(verdict(status, code), "fatal", `${status} ${code}`);
  }
  assert.equal(verdict(429, ""), "rate_limited");
  assert.equal(classifyRpcError(new RpcError("f", 0, "", "m", true)).kind, "transient");
});

Deno.test("the backfill's per-call deadline is just over the server's statement and lock timeouts", async () => {
  const sql = postgres(databaseUrl(), { max: 1, onnotice: () => {} });
  try {
    // What a call through PostgREST runs under: authenticator's settings (service_role has none).
    const rows = await sql`
      select split_part(c, '=', 1) as name, split_part(c, '=', 2) as value
        from pg_roles, unnest(rolconfig) as c
       where rolname = 'authenticator'
         and split_part(c, '=', 1) in ('statement_timeout', 'lock_timeout')`;
    const limits = Object.fromEntries(rows.map((r) => [r.name, r.value]));
    assert.deepEqual(limits, { statement_timeout: "8s", lock_timeout: "8s" });
    assert.ok(CALL_TIMEOUT_MS > 8000, "the server's answer (57014, 55P03) comes first");
    assert.ok(CALL_TIMEOUT_MS <= 8000 + 5000, `${CALL_TIMEOUT_MS} ms waits on a lost call`);
  } finally {
    await sql.end();
  }
});

Deno.test("parseArgs() reads the modes; --apply wins over the reconcile script's --dry-run", () => {
  assert.equal(parseArgs([]).mode, "backfill");
  assert.equal(parseArgs(["--dry-run"]).mode, "dry-run");
  assert.equal(parseArgs(["--dry-run", "--apply"]).mode, "apply");
  assert.equal(parseArgs(["--resume", "--state=x.json"]).statePath, "x.json");
  assert.equal(parseArgs(["--max-orphans", "7", "--apply"]).maxOrphans, 7);
  assert.equal(parseArgs(["--apply"]).maxOrphanPercent, 10);
  assert.equal(parseArgs(["--apply", "--max-orphan-percent=2.5"]).maxOrphanPercent, 2.5);
  for (const bad of ["-1", "101", "ten", "1e1", ""]) {
    assert.throws(
      () => parseArgs(["--apply", "--max-orphan-percent", bad]),
      /--max-orphan-percent (must be a number from 0 to 100|needs a value)/,
    );
  }
  assert.throws(() => parseArgs(["--dry-run", "--resume"]), UsageError);
  assert.throws(() => parseArgs(["--bogus"]), /unknown option --bogus/);
});

Deno.test("readEnv() prefers SUPABASE_SECRET_KEYS and names what is missing", () => {
  const env = (vars: Record<string, string>) => new Map(Object.entries(vars));
  const base = { CLERK_SECRET_KEY: "sk_test_x", SUPABASE_URL: "http://127.0.0.1:54321" };
  assert.deepEqual(
    readEnv(env({
      ...base,
      SUPABASE_SECRET_KEYS: '{"default":"sb_secret_a"}',
      SUPABASE_SERVICE_ROLE_KEY: "jwt",
    })),
    {
      clerkSecretKey: "sk_test_x",
      clerkApiUrl: undefined,
      supabaseUrl: "http://127.0.0.1:54321",
      serviceKey: "sb_secret_a",
    },
  );
  assert.equal(
    readEnv(env({ ...base, SUPABASE_SERVICE_ROLE_KEY: "jwt", CLERK_API_URL: "http://x" }))
      .clerkApiUrl,
    "http://x",
  );
  assert.throws(() => readEnv(env(base)), /SUPABASE_SERVICE_ROLE_KEY is not set/);
  assert.throws(
    () => readEnv(env({ ...base, SUPABASE_SERVICE_ROLE_KEY: "k", CLERK_API_URL: "ftp://x" })),
    /CLERK_API_URL is not an http\(s\) URL/,
  );
  assert.throws(() => readEnv(env({ SUPABASE_URL: "http://x" })), /CLERK_SECRET_KEY is not set/);
});

Deno.test("createProgress() redraws a bar on a terminal and prints plain lines otherwise", () => {
  let clock = 0;
  const tty = recorder(true);
  const bar = createProgress(tty, { label: "backfill", now: () => clock });
  clock = 2000;
  bar.update(1000, 4000);
  bar.finish();
  assert.equal(
    tty.text(),
    "\rbackfill ███████░░░░░░░░░░░░░░░░░░░░░ 1,000/4,000  25%  500 users/s  ETA 0:06\x1b[K" +
      "\rbackfill ███████░░░░░░░░░░░░░░░░░░░░░ 1,000/4,000  25%  500 users/s  ETA 0:06\x1b[K\n",
  );
  clock = 0;
  const log = recorder(false);
  const lines = createProgress(log, { label: "backfill", now: () => clock });
  clock = 1000;
  lines.update(500, 4000);
  clock = 2000;
  lines.update(1000, 4000);
  clock = 6000;
  lines.update(3000, 4000);
  lines.finish();
  assert.equal(
    log.text(),
    "backfill: 500/4,000  12%, 500 users/s  ETA 0:07\n" +
      "backfill: 3,000/4,000  75%, 500 users/s  ETA 0:02\n" +
      "backfill: 3,000/4,000  75%, 500 users/s  ETA 0:02\n",
  );
});
