/**
 * `npm run dev`: the whole sync on this machine without Docker, in the foreground until Ctrl-C.
 * Starts a throwaway PostgreSQL (Supabase mirror + migrations), the PostgREST stand-in and the
 * real clerk-webhook function (see tests/support/local_stack.ts), then prints FUNCTION_URL,
 * DATABASE_URL, SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY and CLERK_WEBHOOK_SECRET as KEY=value
 * lines and passes the function's log lines through.
 *
 * Ctrl-C or SIGTERM (to dev alone or to its whole process group, once or repeatedly, also during
 * start-up) stops the function and the stand-in, stops PostgreSQL and deletes its data: exit 0.
 * A function that refuses its configuration (`Configuration error: ...`) stops dev the same way,
 * with that message and exit 1.
 *
 * Environment: PORT (the function's port; a free one when unset), CLERK_WEBHOOK_SECRET (used
 * when set, generated otherwise), CLERK_SYNC_DEV_STATE (where the KEY=value lines are also
 * written for `npm run send`; default supabase/.temp/dev-stack.env, removed on exit).
 */
import { printable } from "../supabase/functions/_shared/log.ts";
import { type LocalStack, startLocalStack } from "../tests/support/local_stack.ts";
import { defaultStatePath } from "./dev_state.ts";

const encoder = new TextEncoder();
const STOP_SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM"];
// The function's first line, written before it listens (index.ts): ready, or what it refuses.
const FIRST_LINE = /^(clerk-webhook ready|Configuration error: )/;
const CONFIG_ERROR = /^Configuration error: (.*)$/;

function write(stream: "stdout" | "stderr", line: string): void {
  const target = stream === "stdout" ? Deno.stdout : Deno.stderr;
  target.writeSync(encoder.encode(`${line}\n`));
}

// An error's message for a dev: line, each of its lines escaped (it may quote the function).
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n").map(printable).join("\n");
}

function readPort(): number | undefined {
  const value = Deno.env.get("PORT")?.trim();
  if (!value) return undefined;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port <= 0 || port > 65535) {
    throw new Error(`PORT must be a port number, got "${printable(value)}"`);
  }
  return port;
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
  write("stderr", "dev: starting PostgreSQL, the PostgREST stand-in and clerk-webhook ...");
  let functionPort: number | undefined;
  try {
    functionPort = readPort();
  } catch (error) {
    write("stderr", `dev: ${describe(error)}`);
    return 1;
  }
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      functionPort,
      webhookSecret: envSecret || undefined,
      onLog: (line, stream) => {
        write(stream, line);
        const refused = CONFIG_ERROR.exec(line);
        if (refused) {
          const hint = envSecret && refused[1].includes("CLERK_WEBHOOK_SECRET")
            ? " (CLERK_WEBHOOK_SECRET comes from your environment: set it to the endpoint's " +
              "signing secret whsec_..., or unset it to have one generated)"
            : "";
          stop.request(
            1,
            `dev: the function refused its configuration: ${printable(refused[1])}${hint}`,
          );
        }
      },
      onFunctionExit: (status) => {
        // Ctrl-C (or a SIGTERM to the group) reaches the function too: that is no failure.
        if (status.signal === "SIGINT" || status.signal === "SIGTERM") return stop.request(0);
        stop.request(1, `dev: the function exited (code ${status.code}); shutting down`);
      },
    });
  } catch (error) {
    // startLocalStack removed whatever it had started. Stopped during start-up, the function got
    // the Ctrl-C as well: that failure is expected.
    const code = stop.code;
    if (code === undefined) {
      write("stderr", `dev: failed to start: ${describe(error)}`);
      return 1;
    }
    write("stderr", "dev: stopped; the database is removed");
    return code;
  }

  // Both first lines are written before the port opens: wait for one, so a refused configuration
  // stops dev before it prints URLs nobody can use.
  if (stop.code === undefined) await stack.waitForLog(FIRST_LINE, 5000).catch(() => {});
  let wroteState = false;
  if (stop.code === undefined) {
    const lines = [
      `FUNCTION_URL=${stack.functionUrl}`,
      `DATABASE_URL=${stack.databaseUrl}`,
      `SUPABASE_URL=${stack.supabaseUrl}`,
      `SUPABASE_SERVICE_ROLE_KEY=${stack.serviceRoleKey}`,
      `CLERK_WEBHOOK_SECRET=${stack.webhookSecret}`,
    ];
    for (const line of lines) write("stdout", line);
    write("stdout", "# Send a test event:  npm run send -- user.created");
    write(
      "stdout",
      `# Look at the row:    psql "${stack.databaseUrl}" -c 'select * from profiles'`,
    );
    write("stdout", "# Stop with Ctrl-C.");
    await writeState(statePath, lines);
    wroteState = true;
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

// The same KEY=value lines, readable only by this user, for `npm run send` in another terminal.
async function writeState(path: string, lines: string[]): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  if (dir) await Deno.mkdir(dir, { recursive: true });
  const text = [`DEV_PID=${Deno.pid}`, ...lines].join("\n") + "\n";
  await Deno.writeTextFile(path, text, { mode: 0o600 });
}

Deno.exit(await main());
