/**
 * `npm run dev`: the whole sync on this machine without Docker, in the foreground until Ctrl-C.
 * Starts a throwaway PostgreSQL (Supabase mirror + migrations), the PostgREST stand-in, the
 * Clerk API stand-in and the real clerk-webhook and clerk-profile-sync functions (see
 * tests/support/local_stack.ts), then prints FUNCTION_URL, PROFILE_SYNC_URL, DATABASE_URL,
 * SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY, CLERK_API_URL and CLERK_SECRET_KEY (the stand-in's,
 * when it runs: `npm run backfill` and `npm run reconcile` read exactly these) and
 * CLERK_WEBHOOK_SECRET as KEY=value lines (another terminal exports them with
 * `eval "$(npm run -s dev-env)"`, scripts/dev_env.ts), then a few hint lines starting with `#`,
 * and passes the functions' log lines through. The Clerk API stand-in holds three users and two
 * organizations with four memberships; with `--no-organizations` it is an instance with the
 * Organizations feature off (most instances).
 *
 * Ctrl-C or SIGTERM (to dev alone or to its whole process group, once or repeatedly, also during
 * start-up) stops the functions and the stand-ins, stops PostgreSQL and deletes its data: exit 0.
 * A function that refuses its configuration (`Configuration error: ...`) stops dev the same way,
 * with that message and exit 1.
 *
 * Environment: PORT and PROFILE_SYNC_PORT (the functions' ports; free ones when unset),
 * CLERK_WEBHOOK_SECRET (used when set, generated otherwise), CLERK_SECRET_KEY, CLERK_JWT_KEY and
 * CLERK_API_URL (when any is set, clerk-profile-sync gets these and talks to that Clerk instance;
 * otherwise to the Clerk API stand-in, whose users get session tokens from `npm run token`),
 * CLERK_AUTHORIZED_PARTIES, PROFILE_SYNC_MIN_INTERVAL_S and PROFILE_SYNC_ALLOWED_ORIGINS (passed
 * to clerk-profile-sync when set), CLERK_SYNC_DEV_STATE (where the KEY=value lines are also
 * written for `npm run send` and `npm run token`, with the stand-in's private signing key;
 * default supabase/.temp/dev-stack.env, mode 0600, removed on exit).
 */
import { printable } from "../supabase/functions/_shared/log.ts";
import {
  type ClerkSettings,
  EXAMPLE_USER_ID,
  type FunctionName,
  type LocalStack,
  startLocalStack,
} from "../tests/support/local_stack.ts";
import { defaultStatePath, exportSessionKey, SESSION_KEY, writeDevState } from "./dev_state.ts";

const encoder = new TextEncoder();
const STOP_SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM"];
// A function's first line, written before it listens (index.ts): ready, or what it refuses.
const FIRST_LINE: Record<FunctionName, RegExp> = {
  "clerk-webhook": /^(clerk-webhook ready|Configuration error: )/,
  "clerk-profile-sync": /^(clerk-profile-sync ready|Configuration error: )/,
};
const CONFIG_ERROR = /^Configuration error: (.*)$/;
// Which Clerk instance clerk-profile-sync talks to: any of these set means the developer's own.
const CLERK_VARIABLES = ["CLERK_SECRET_KEY", "CLERK_JWT_KEY", "CLERK_API_URL"] as const;
// Passed to clerk-profile-sync as they are when set.
const PROFILE_SYNC_VARIABLES = [
  "CLERK_AUTHORIZED_PARTIES",
  "PROFILE_SYNC_MIN_INTERVAL_S",
  "PROFILE_SYNC_ALLOWED_ORIGINS",
];

function write(stream: "stdout" | "stderr", line: string): void {
  const target = stream === "stdout" ? Deno.stdout : Deno.stderr;
  target.writeSync(encoder.encode(`${line}\n`));
}

// An error's message for a dev: line, each of its lines escaped (it may quote the function).
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n").map(printable).join("\n");
}

function readPort(name: string): number | undefined {
  const value = Deno.env.get(name)?.trim();
  if (!value) return undefined;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port <= 0 || port > 65535) {
    throw new Error(`${name} must be a port number, got "${printable(value)}"`);
  }
  return port;
}

// The developer's Clerk instance, when the environment names one (blank values count as unset).
function readClerkSettings(): ClerkSettings | undefined {
  const [secretKey, jwtKey, apiUrl] = CLERK_VARIABLES.map((name) =>
    Deno.env.get(name)?.trim() || undefined
  );
  if (secretKey === undefined && jwtKey === undefined && apiUrl === undefined) return undefined;
  return { secretKey, jwtKey, apiUrl };
}

function readProfileSyncEnv(): Record<string, string> {
  return Object.fromEntries(PROFILE_SYNC_VARIABLES.flatMap((name) => {
    const value = Deno.env.get(name);
    return value === undefined ? [] : [[name, value]];
  }));
}

// Why a function refused its configuration, and a hint when the value came from the environment.
function refusal(fn: FunctionName, reason: string, envSecret: boolean, fromEnv: string[]): string {
  let hint = "";
  if (fn === "clerk-webhook" && envSecret && reason.includes("CLERK_WEBHOOK_SECRET")) {
    hint = " (CLERK_WEBHOOK_SECRET comes from your environment: set it to the endpoint's " +
      "signing secret whsec_..., or unset it to have one generated)";
  }
  const named = fromEnv.filter((name) => reason.includes(name));
  if (fn === "clerk-profile-sync" && named.length > 0) {
    const clerk = named.some((name) => (CLERK_VARIABLES as readonly string[]).includes(name));
    hint = ` (${named.join(", ")} ${named.length === 1 ? "comes" : "come"} from your ` +
      "environment" +
      (clerk
        ? ": set CLERK_SECRET_KEY (and CLERK_JWT_KEY) of one Clerk instance, or unset " +
          `${CLERK_VARIABLES.join(", ")} to use the Clerk API stand-in)`
        : ")");
  }
  return `dev: ${fn} refused its configuration: ${printable(reason)}${hint}`;
}

/** Why dev stops and with which exit code: the first reason wins, later ones change nothing. */
interface Stop {
  /** Asks dev to stop; `reason` is written to stderr when it is the first. */
  request(code: number, reason?: string): void;
  /** The exit code once a stop was requested. */
  readonly code: number | undefined;
  /** Resolves on the first request. */
  readonly requested: Promise<void>;
}

function createStop(): Stop {
  let code: number | undefined;
  let wake: () => void = () => {};
  const requested = new Promise<void>((resolve) => wake = resolve);
  return {
    request(next, reason) {
      if (code !== undefined) return;
      code = next;
      if (reason) write("stderr", reason);
      wake();
    },
    get code() {
      return code;
    },
    requested,
  };
}

async function main(): Promise<number> {
  const unknown = Deno.args.filter((arg) => arg !== "--no-organizations");
  if (unknown.length > 0) {
    write("stderr", `dev: unknown option ${printable(unknown[0])} (dev takes --no-organizations)`);
    return 1;
  }
  const statePath = Deno.env.get("CLERK_SYNC_DEV_STATE")?.trim() || defaultStatePath();
  const envSecret = Deno.env.get("CLERK_WEBHOOK_SECRET")?.trim();
  const stop = createStop();
  // Installed before anything starts and kept until everything is removed: a Ctrl-C reaches dev
  // from the terminal and again from npm, which forwards it, and a signal nobody listens to would
  // end dev half-way through its cleanup, leaving PostgreSQL running.
  const onSignal = () => stop.request(0);
  for (const signal of STOP_SIGNALS) Deno.addSignalListener(signal, onSignal);
  // `npm run` can end without passing a SIGTERM on (for example when it is killed): notice that
  // the parent is gone (this process was re-parented) and shut down as if signalled.
  const parent = Deno.ppid;
  const orphanWatch = setInterval(() => {
    if (Deno.ppid !== parent) stop.request(0, "dev: the parent process is gone");
  }, 500);
  try {
    return await run(statePath, envSecret, stop);
  } finally {
    clearInterval(orphanWatch);
    for (const signal of STOP_SIGNALS) Deno.removeSignalListener(signal, onSignal);
  }
}

async function run(statePath: string, envSecret: string | undefined, stop: Stop): Promise<number> {
  write(
    "stderr",
    "dev: starting PostgreSQL, the PostgREST and Clerk API stand-ins, clerk-webhook and " +
      "clerk-profile-sync ...",
  );
  let functionPort: number | undefined;
  let profileSyncPort: number | undefined;
  try {
    functionPort = readPort("PORT");
    profileSyncPort = readPort("PROFILE_SYNC_PORT");
  } catch (error) {
    write("stderr", `dev: ${describe(error)}`);
    return 1;
  }
  const clerk = readClerkSettings();
  const fromEnv = [...CLERK_VARIABLES, ...PROFILE_SYNC_VARIABLES].filter((name) =>
    Deno.env.get(name)?.trim()
  );
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      functionPort,
      profileSyncPort,
      webhookSecret: envSecret || undefined,
      clerk,
      clerkOrganizations: !Deno.args.includes("--no-organizations"),
      profileSyncEnv: readProfileSyncEnv(),
      onLog: (line, stream, fn) => {
        write(stream, line);
        const refused = CONFIG_ERROR.exec(line);
        if (refused) stop.request(1, refusal(fn, refused[1], Boolean(envSecret), fromEnv));
      },
      onFunctionExit: (status, fn) => {
        // Ctrl-C (or a SIGTERM to the group) reaches the functions too: that is no failure.
        if (status.signal === "SIGINT" || status.signal === "SIGTERM") return stop.request(0);
        stop.request(1, `dev: ${fn} exited (code ${status.code}); shutting down`);
      },
    });
  } catch (error) {
    // startLocalStack removed whatever it had started. Stopped during start-up, the functions got
    // the Ctrl-C as well: that failure is expected.
    const code = stop.code;
    if (code === undefined) {
      write("stderr", `dev: failed to start: ${describe(error)}`);
      return 1;
    }
    write("stderr", "dev: stopped; the database is removed");
    return code;
  }

  // The first lines are written before the ports open: wait for both, so a refused configuration
  // stops dev before it prints URLs nobody can use.
  if (stop.code === undefined) {
    await Promise.all([
      stack.waitForLog(FIRST_LINE["clerk-webhook"], 5000).catch(() => {}),
      stack.profileSync.waitForLog(FIRST_LINE["clerk-profile-sync"], 5000).catch(() => {}),
    ]);
  }
  let wroteState = false;
  if (stop.code === undefined) {
    const lines = [
      `FUNCTION_URL=${stack.functionUrl}`,
      `PROFILE_SYNC_URL=${stack.profileSyncUrl}`,
      `DATABASE_URL=${stack.databaseUrl}`,
      `SUPABASE_URL=${stack.supabaseUrl}`,
      `SUPABASE_SERVICE_ROLE_KEY=${stack.serviceRoleKey}`,
      ...(stack.clerk
        ? [`CLERK_API_URL=${stack.clerk.url}`, `CLERK_SECRET_KEY=${stack.clerk.secretKey}`]
        : []),
      `CLERK_WEBHOOK_SECRET=${stack.webhookSecret}`,
    ];
    const secrets = stack.clerkSigningKey
      ? [`${SESSION_KEY}=${await exportSessionKey(stack.clerkSigningKey)}`]
      : [];
    // The same lines (and the stand-in's signing key) for `npm run send` and `npm run token`,
    // written before the lines are printed: whoever reads them may run those at once.
    await writeDevState(statePath, [`DEV_PID=${Deno.pid}`, ...lines, ...secrets]);
    wroteState = true;
    for (const line of lines) write("stdout", line);
    write(
      "stdout",
      `# In another terminal: eval "$(npm run -s dev-env)"   (exports the lines above)`,
    );
    write("stdout", "# Send a test event:  npm run send -- user.created");
    write("stdout", `# Look at the row:    psql "$DATABASE_URL" -c 'select * from profiles'`);
    write(
      "stdout",
      stack.clerk
        ? '# Sync on visit:      curl -X POST -H "Authorization: Bearer ' +
          `$(npm run -s token -- ${EXAMPLE_USER_ID})" "$PROFILE_SYNC_URL"`
        : "# Sync on visit:      POST to PROFILE_SYNC_URL with a session token of your Clerk " +
          "instance (Authorization: Bearer ...)",
    );
    if (stack.clerk) {
      write("stdout", "# Backfill:           npm run backfill   (then npm run reconcile)");
    }
    write("stdout", "# Stop with Ctrl-C.");
  }

  await stop.requested;
  write("stderr", "dev: stopping ...");
  if (wroteState) await Deno.remove(statePath).catch(() => {});
  try {
    await stack.close();
  } catch (error) {
    write("stderr", `dev: cleanup failed: ${describe(error)}`);
    return 1;
  }
  write("stderr", "dev: stopped; the database is removed");
  return stop.code ?? 0;
}

Deno.exit(await main());
