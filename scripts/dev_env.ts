/**
 * `npm run -s dev-env`: prints the values a running `npm run dev` printed (FUNCTION_URL,
 * PROFILE_SYNC_URL, DATABASE_URL, SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY, CLERK_API_URL,
 * CLERK_SECRET_KEY, CLERK_WEBHOOK_SECRET) as `export NAME='value'` lines, read from dev's state
 * file (CLERK_SYNC_DEV_STATE, default supabase/.temp/dev-stack.env), so another terminal takes
 * them with
 *
 *   eval "$(npm run -s dev-env)"
 *
 * The stand-in's private signing key stays in the file (`npm run token` reads it there). When no
 * dev is running, the output is a command that reports it on stderr and fails (`false`), so the
 * `eval` fails too, also under `set -e`; the exit code is 1.
 */
import { printable } from "../supabase/functions/_shared/log.ts";
import { defaultStatePath, readDevState, SESSION_KEY } from "./dev_state.ts";

const NAME = /^[A-Z][A-Z0-9_]*$/;

/** `value` as one single-quoted shell word. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** The export lines for a dev state file's values (without dev's pid and signing key). */
export function exportLines(values: Record<string, string>): string[] {
  return Object.entries(values)
    .filter(([name]) => NAME.test(name) && name !== "DEV_PID" && name !== SESSION_KEY)
    .map(([name, value]) => `export ${name}=${shellQuote(value)}`);
}

// Whether the process that wrote the file still runs: Linux's /proc tells; elsewhere, assume so.
function running(pid: string | undefined): boolean {
  if (!pid || !/^\d+$/.test(pid)) return true;
  try {
    Deno.statSync("/proc/self");
  } catch {
    return true;
  }
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

function fail(message: string): number {
  console.log(`echo ${shellQuote(`dev-env: ${message}`)} >&2; false`);
  return 1;
}

async function main(): Promise<number> {
  if (Deno.args.length > 0) {
    return fail(`takes no arguments (got ${printable(Deno.args[0])})`);
  }
  const statePath = Deno.env.get("CLERK_SYNC_DEV_STATE")?.trim() || defaultStatePath();
  const values = await readDevState(statePath);
  if (!values) {
    return fail(
      `no running npm run dev found (${
        printable(statePath)
      } does not exist): start it in another terminal`,
    );
  }
  if (!running(values.DEV_PID)) {
    return fail(
      `the npm run dev that wrote ${printable(statePath)} is no longer running: start it again`,
    );
  }
  for (const line of exportLines(values)) console.log(line);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
