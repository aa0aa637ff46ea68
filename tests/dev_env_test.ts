// `npm run dev-env` (scripts/dev_env.ts): the export lines another terminal evals to take a
// running dev's values, quoted for any value, without dev's pid and signing key; and, without a
// running dev, output that makes the `eval` fail (also under `set -e`).
import assert from "node:assert/strict";
import { exportLines, shellQuote } from "../scripts/dev_env.ts";
import { writeDevState } from "../scripts/dev_state.ts";
import { cleanEnv, runCommand } from "./support/command.ts";

const ROOT = new URL("../", import.meta.url).pathname;

function bash(script: string) {
  return runCommand("bash", ["--noprofile", "--norc", "-c", script]);
}

function devEnv(statePath: string) {
  return runCommand(Deno.execPath(), ["run", "--allow-all", "--frozen", "scripts/dev_env.ts"], {
    cwd: ROOT,
    env: cleanEnv({ CLERK_SYNC_DEV_STATE: statePath }),
  });
}

Deno.test("shellQuote() survives bash for quotes, dollars, spaces and newlines", async () => {
  const value = `it's $HOME and \`date\`\n"quoted" \\ back`;
  const { stdout } = await bash(`export X=${shellQuote(value)}; printf '%s' "$X"`);
  assert.equal(stdout, value);
});

Deno.test("exportLines() exports dev's printed values only, not its pid or signing key", () => {
  assert.deepEqual(
    exportLines({
      DEV_PID: "42",
      FUNCTION_URL: "http://127.0.0.1:1/functions/v1/clerk-webhook",
      CLERK_SESSION_SIGNING_KEY: "{}",
      "not a name": "x",
    }),
    ["export FUNCTION_URL='http://127.0.0.1:1/functions/v1/clerk-webhook'"],
  );
});

Deno.test("npm run dev-env prints export lines of a running dev that eval takes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const state = `${dir}/dev-stack.env`;
    await writeDevState(state, [
      `DEV_PID=${Deno.pid}`,
      "DATABASE_URL=postgresql://postgres:pw@127.0.0.1:5/postgres",
      "CLERK_WEBHOOK_SECRET=whsec_a+b/c=",
      'CLERK_SESSION_SIGNING_KEY={"kid":"k"}',
    ]);
    const { code, stdout } = await devEnv(state);
    assert.equal(code, 0);
    assert.doesNotMatch(stdout, /SIGNING_KEY|DEV_PID/);
    const shell = await bash(
      `set -euo pipefail; eval ${shellQuote(stdout)}; echo "$CLERK_WEBHOOK_SECRET"`,
    );
    assert.equal(shell.stdout, "whsec_a+b/c=\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("npm run dev-env without a running dev makes eval fail and says why", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = await devEnv(`${dir}/none.env`);
    assert.equal(missing.code, 1);
    const shell = await bash(`set -euo pipefail; eval ${shellQuote(missing.stdout)}; echo reached`);
    assert.notEqual(shell.code, 0);
    assert.equal(shell.stdout, "");
    assert.match(
      shell.stderr,
      /^dev-env: no running npm run dev found \(.*none\.env does not exist\)/,
    );

    // A state file left by a dev that is gone (killed): its pid no longer runs.
    const stale = `${dir}/stale.env`;
    const gone = new Deno.Command("true").spawn();
    await gone.status;
    await writeDevState(stale, [`DEV_PID=${gone.pid}`, "FUNCTION_URL=http://127.0.0.1:1/"]);
    const left = await devEnv(stale);
    assert.equal(left.code, 1);
    assert.match(left.stdout, /is no longer running: start it again' >&2; false\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
