// `npm test` stopped as terminals and supervisors stop it: Ctrl-C (SIGINT to every process of the
// foreground group) while the suites run, and SIGTERM to the test command alone while its
// clusters start. Either way no postgres of the run may remain, neither the test command's own
// clusters nor those a suite started, and no data directory either.
import assert from "node:assert/strict";
import { type DevProcess, startDev, waitFor } from "./dev_process.ts";

// Starts a local stack (its own cluster) in both passes of the test command.
const SUITE = "tests/e2e/sync_test.ts";

function assertStopped(run: DevProcess, signal: string): void {
  const output = `stdout:\n${run.stdout.join("\n")}\nstderr:\n${run.stderr.join("\n")}`;
  assert.deepEqual(run.postgresPids(), [], `a postgres of this run is still running\n${output}`);
  assert.deepEqual(run.clusterDirs(), [], `a data directory is left\n${output}`);
  assert.ok(
    run.stderr.some((l) => l.startsWith(`test command: stopped (${signal});`)),
    output,
  );
}

Deno.test("npm test: SIGINT to its process group while a suite runs stops every cluster of the run", async () => {
  const run = await startDev({ command: ["npm", "run", "--silent", "test", "--", SUITE] });
  try {
    // The test command's four clusters first; then one that is none of them: a suite's.
    await waitFor("the test command's clusters", () => run.postgresPids().length >= 4, 120_000);
    const own = new Set(run.postgresPids());
    await waitFor(
      "a cluster of a suite",
      () => run.postgresPids().some((pid) => !own.has(pid)),
      120_000,
    );
    run.signalGroup("SIGINT");
    const status = await run.status;
    assertStopped(run, "SIGINT");
    assert.notEqual(status.code, 0);
  } finally {
    await run.dispose();
  }
});

Deno.test("scripts/test.ts: SIGTERM to it alone while its clusters start stops them", async () => {
  const run = await startDev({
    command: [Deno.execPath(), "run", "-A", "--frozen", "scripts/test.ts", SUITE],
  });
  try {
    await waitFor("a cluster", () => run.postgresPids().length >= 1, 60_000);
    Deno.kill(run.pid, "SIGTERM");
    const status = await run.status;
    assertStopped(run, "SIGTERM");
    assert.equal(status.code, 143);
  } finally {
    await run.dispose();
  }
});
