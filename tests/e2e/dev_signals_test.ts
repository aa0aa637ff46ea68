// `npm run dev` stopped as terminals and supervisors stop it: a signal to the whole process group
// (Ctrl-C sends SIGINT to every process of the foreground group; npm forwards what it gets to dev
// as well, so dev sees it twice), a second Ctrl-C while it is stopping, and a Ctrl-C during
// start-up. Every time, no postgres of the run may remain and its data directory must be gone.
import assert from "node:assert/strict";
import { type DevProcess, startDev, waitFor } from "./dev_process.ts";

async function assertCleanedUp(dev: DevProcess, status: Deno.CommandStatus): Promise<void> {
  const output = `stdout:\n${dev.stdout.join("\n")}\nstderr:\n${dev.stderr.join("\n")}`;
  assert.deepEqual(dev.postgresPids(), [], `a postgres of this run is still running\n${output}`);
  assert.deepEqual(dev.clusterDirs(), [], `the data directory is left\n${output}`);
  await assert.rejects(Deno.stat(dev.statePath), Deno.errors.NotFound);
  assert.ok(dev.stderr.includes("dev: stopped; the database is removed"), output);
  assert.equal(status.code, 0, output);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`npm run dev: ${signal} to its process group stops postgres and removes its data`, async () => {
    const dev = await startDev({ npm: true });
    try {
      await dev.ready();
      assert.equal(dev.postgresPids().length, 1, "one postmaster below the run's TMPDIR");
      assert.equal(dev.clusterDirs().length, 1);
      dev.signalGroup(signal);
      await assertCleanedUp(dev, await dev.status);
    } finally {
      await dev.dispose();
    }
  });
}

Deno.test("scripts/dev.ts: a second SIGINT while it stops does not skip the cleanup", async () => {
  const dev = await startDev();
  try {
    await dev.ready();
    dev.signalGroup("SIGINT");
    await waitFor("dev: stopping ...", () => dev.stderr.includes("dev: stopping ..."), 10_000);
    dev.signalGroup("SIGINT");
    dev.signalGroup("SIGTERM");
    await assertCleanedUp(dev, await dev.status);
  } finally {
    await dev.dispose();
  }
});

Deno.test("scripts/dev.ts: SIGINT during start-up still removes the database", async () => {
  const dev = await startDev();
  try {
    // The cluster's directory exists from the first step of start-up on (initdb runs in it).
    await waitFor("the cluster directory", () => dev.clusterDirs().length > 0, 30_000);
    dev.signalGroup("SIGINT");
    await assertCleanedUp(dev, await dev.status);
  } finally {
    await dev.dispose();
  }
});
