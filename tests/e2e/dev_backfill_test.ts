// `npm run backfill` and `npm run reconcile` against `npm run dev`, as a new user tries them: the
// CLERK_API_URL, CLERK_SECRET_KEY, SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY lines dev prints
// (and writes to its state file) exported in another terminal, then the commands as the docs show
// them. The Clerk API stand-in of dev holds three users and two organizations with four
// memberships, or (`npm run dev -- --no-organizations`) an instance with organizations off.
import assert from "node:assert/strict";
import { type CommandResult, runCommand } from "../support/command.ts";
import { startDev } from "./dev_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The docs' line that exports dev's values, reading `statePath` (dev's state file). */
function exportLine(statePath: string): string {
  return "export $(grep -E '^(CLERK_API_URL|CLERK_SECRET_KEY|SUPABASE_URL|" +
    `SUPABASE_SERVICE_ROLE_KEY)=' ${statePath})`;
}

/** Runs `command` in a shell of a fresh terminal (nothing exported) after the export line. */
function terminal(statePath: string, command: string): Promise<CommandResult> {
  return runCommand("sh", ["-c", `${exportLine(statePath)} && ${command}`], { cwd: ROOT });
}

async function psql(databaseUrl: string, query: string): Promise<string> {
  const output = await runCommand("psql", ["-X", "-w", "-At", databaseUrl, "-c", query]);
  assert.equal(output.code, 0, output.stderr);
  return output.stdout.trim();
}

const COUNTS = "select (select count(*) from profiles) || ' ' || " +
  "(select count(*) from organizations) || ' ' || (select count(*) from organization_memberships)";

Deno.test("npm run backfill and npm run reconcile run against npm run dev with the values it prints", async () => {
  const dev = await startDev();
  try {
    const values = await dev.ready();
    assert.match(values.CLERK_SECRET_KEY, /^sk_test_[A-Za-z0-9]+$/);
    assert.match(values.CLERK_API_URL, /^http:\/\/127\.0\.0\.1:\d+$/);
    const state = await Deno.readTextFile(dev.statePath);
    assert.ok(state.includes(`\nCLERK_SECRET_KEY=${values.CLERK_SECRET_KEY}\n`));

    const backfill = await terminal(dev.statePath, "npm run --silent backfill");
    assert.equal(backfill.code, 0, backfill.stdout + backfill.stderr);
    assert.match(
      backfill.stdout,
      /^Backfill finished: 3 of 3 Clerk users, 2 of 2 organizations, 4 of 4 memberships; 9 in this run/,
    );
    assert.match(backfill.stderr, /^Clerk instance ins_\w+ \(development\): recorded now/m);
    assert.equal(await psql(values.DATABASE_URL, COUNTS), "3 2 4");

    const inSync = await terminal(dev.statePath, "npm run --silent reconcile");
    assert.equal(inSync.code, 0, inSync.stdout + inSync.stderr);
    assert.match(inSync.stdout, /\nIn sync\.\n$/);

    await psql(
      values.DATABASE_URL,
      "delete from organization_memberships where role = 'org:member' and org_id = " +
        "'org_2acmeIncExampleOrganizatio'",
    );
    const drift = await terminal(dev.statePath, "npm run --silent reconcile");
    assert.equal(drift.code, 1, drift.stdout + drift.stderr);
    assert.match(drift.stdout, /Drift: 1 membership\. Run with --apply to repair\.\n$/);
    const repair = await terminal(dev.statePath, "npm run --silent reconcile -- --apply");
    assert.equal(repair.code, 0, repair.stdout + repair.stderr);
    assert.match(repair.stdout, /Drift: 1 membership found, all repaired\.\n$/);
    assert.equal(await psql(values.DATABASE_URL, COUNTS), "3 2 4");
  } finally {
    await dev.dispose();
  }
});

Deno.test("npm run dev -- --no-organizations: the backfill copies the users and says organizations are off", async () => {
  const dev = await startDev({ npm: true, args: ["--no-organizations"] });
  try {
    const values = await dev.ready();
    const backfill = await terminal(dev.statePath, "npm run --silent backfill");
    assert.equal(backfill.code, 0, backfill.stdout + backfill.stderr);
    assert.match(backfill.stdout, /^Backfill finished: 3 of 3 Clerk users; 3 in this run/);
    assert.match(
      backfill.stdout,
      /\nOrganizations are off in this Clerk instance: organizations and memberships were skipped\.\n$/,
    );
    const reconcile = await terminal(dev.statePath, "npm run --silent reconcile");
    assert.equal(reconcile.code, 0, reconcile.stdout + reconcile.stderr);
    assert.equal(await psql(values.DATABASE_URL, COUNTS), "3 0 0");
  } finally {
    await dev.dispose();
  }
});
