// Paging at any depth (issue 16, point 3): users by Clerk's `starting_after` cursor, never a
// growing offset, so a backfill and a reconcile go past the depth where the stand-in's offsets
// time out (as Clerk's spec says deep offsets do); the stand-in's cursor rules; resume files of
// the version before still resume; and the backfill's modules import in one direction.
import assert from "node:assert/strict";
import { createClerkApi } from "../backfill/clerk_api.ts";
import { usersByOffset } from "../backfill/clerk_source.ts";
import { EXIT } from "../backfill/cli.ts";
import { readPages } from "../backfill/read_ahead.ts";
import { runBackfill } from "../backfill/run_backfill.ts";
import { loadState } from "../backfill/state.ts";
import {
  fakeUsers,
  FAST_RETRY,
  idPrefixes,
  runBackfillCli,
  sourcesFor,
  withBackfillHarness,
  withOwnCluster,
} from "./support/backfill_harness.ts";

const prefix = idPrefixes("bp");

// Offsets of 1,000 and more time out: 2,345 users are deep enough.
const SHALLOW = { offsetTimeoutAt: 1000 };

Deno.test("backfill and reconcile read 2,345 users past the depth where offset pages time out", async () => {
  await withOwnCluster(async (databaseUrl) => {
    const all = fakeUsers(2345, "");
    await withBackfillHarness(
      { databaseUrl, clerk: { users: all, paging: SHALLOW } },
      async (h) => {
        // By offset (how the backfill read users before), the third page times out: Clerk's
        // "progressively slower and eventually times out".
        const byOffset = usersByOffset(
          createClerkApi({ secretKey: h.clerk.secretKey, apiUrl: h.clerk.url }),
          { retry: { ...FAST_RETRY, maxAttempts: 2 } },
        );
        await assert.rejects(
          async () => {
            for await (const _ of readPages(byOffset, byOffset.start)) { /* read on */ }
          },
          /GET \/users: HTTP 504: A large `offset` has to walk and discard every row before it, so it gets progressively slower and eventually times out\. Paginate with `starting_after`\. \(request_timeout\)/,
        );

        const before = h.clerk.requests.length;
        const backfill = await runBackfillCli(h, []);
        assert.equal(backfill.code, EXIT.ok, backfill.stdout + backfill.stderr);
        assert.match(backfill.stdout, /^Backfill finished: 2,345 of 2,345 Clerk users/);
        const reconcile = await runBackfillCli(h, ["--dry-run"]);
        assert.equal(reconcile.code, EXIT.ok, reconcile.stdout + reconcile.stderr);
        assert.match(reconcile.stdout, /^ {2}in sync +2,345$/m);
        const pages = h.clerk.requests.slice(before).filter((r) => r.path === "/v1/users");
        assert.equal(pages.length, 10, "5 pages each");
        for (const page of pages) {
          assert.equal(page.status, 200);
          assert.equal(new URLSearchParams(page.query).get("offset"), null, page.query);
        }
      },
    );
  });
});

Deno.test("a version 3 resume file in the users phase continues after its last user, by cursor", async () => {
  const p = prefix();
  const all = fakeUsers(2345, p);
  await withBackfillHarness({ clerk: { users: all, paging: SHALLOW } }, async (h) => {
    // What the version before wrote after its second page (offset 475 + 500) of users 1..975.
    const now = new Date().toISOString();
    const none = { applied: 0, restored: 0, stale: 0, unchanged: 0, failed: 0 };
    const version3 = {
      version: 3,
      target: "test",
      phase: "users",
      cursor: { offset: 975, lastCreatedAt: all[974].created_at, lastIds: [all[974].id] },
      done: 975,
      total: 2345,
      counts: { users: { ...none, applied: 975 }, organizations: none, memberships: none },
      failures: [],
      startedAt: now,
      updatedAt: now,
    };
    await Deno.writeTextFile(h.statePath, JSON.stringify(version3));
    assert.deepEqual((await loadState(h.statePath))?.cursor, {
      by: "starting_after",
      after: all[974].id,
      lastCreatedAt: all[974].created_at,
      lastIds: [all[974].id],
    });
    const result = await runBackfill(sourcesFor(h.clerk), h.store, {
      statePath: h.statePath,
      resume: true,
      target: "test",
    });
    assert.equal(result.interrupted, false);
    assert.deepEqual(result.counts.users, { ...none, applied: 2345 });
    assert.deepEqual(result.carried?.users, { ...none, applied: 975 });
    const cursors = h.clerk.requests.filter((r) => r.path === "/v1/users").map((r) =>
      new URLSearchParams(r.query).get("starting_after")
    );
    assert.deepEqual(cursors, [all[974].id, all[1474].id, all[1974].id], "none read again");
    const [{ n }] = await h.sql`
      select count(*)::int as n from public.profiles where user_id like ${`user_${p}%`}`;
    assert.equal(n, 1370, "the 975 before were written by the earlier run");
  });
});

Deno.test("the backfill's modules import in one direction: no cycle, the resume state owned by the run loop", async () => {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "backfill/main.ts"],
    cwd: new URL("../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(success);
  const info = JSON.parse(new TextDecoder().decode(stdout)) as {
    modules: {
      specifier: string;
      dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
    }[];
  };
  const name = (specifier: string) => /\/backfill\/([^/]+\.ts)$/.exec(specifier)?.[1];
  // Every import, type-only ones included, between modules of backfill/.
  const graph = new Map<string, string[]>();
  for (const module of info.modules) {
    const from = name(module.specifier);
    if (!from) continue;
    graph.set(
      from,
      (module.dependencies ?? []).flatMap((d) =>
        [d.code?.specifier, d.type?.specifier].flatMap((s) => (s && name(s)) || [])
      ),
    );
  }
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const visit = (node: string, path: string[]) => {
    state.set(node, "open");
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") cycles.push([...path, node, next].join(" -> "));
      else if (!state.has(next)) visit(next, [...path, node]);
    }
    state.set(node, "done");
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node, []);
  assert.deepEqual(cycles, []);
  const importers = (target: string) =>
    [...graph].filter(([, deps]) => deps.includes(target)).map(([from]) => from).sort();
  assert.deepEqual(importers("state.ts"), ["run_backfill.ts"]);
  for (const part of ["clerk_source.ts", "read_ahead.ts", "rows.ts", "writer.ts"]) {
    const reaches = graph.get(part) ?? [];
    for (const loop of ["run_backfill.ts", "reconcile.ts", "state.ts", "cli.ts"]) {
      assert.ok(!reaches.includes(loop), `${part} imports ${loop}`);
    }
  }
});
