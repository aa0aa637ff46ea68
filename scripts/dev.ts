/**
 * `npm run dev`: the whole sync on this machine without Docker, in the foreground until Ctrl-C.
 * Starts a throwaway PostgreSQL (Supabase mirror + migrations), the PostgREST stand-in and the
 * real clerk-webhook function (see tests/support/local_stack.ts), then prints FUNCTION_URL,
 * DATABASE_URL, SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY and CLERK_WEBHOOK_SECRET as KEY=value
 * lines and passes the function's log lines through. Ctrl-C or SIGTERM removes everything.
 *
 * Environment: PORT (the function's port; a free one when unset), CLERK_WEBHOOK_SECRET (used
 * when set, generated otherwise), CLERK_SYNC_DEV_STATE (where the KEY=value lines are also
 * written for `npm run send`; default supabase/.temp/dev-stack.env, removed on exit).
 */
import { type LocalStack, startLocalStack } from "../tests/support/local_stack.ts";
import { defaultStatePath } from "./dev_state.ts";

const encoder = new TextEncoder();

function write(stream: "stdout" | "stderr", line: string): void {
  const target = stream === "stdout" ? Deno.stdout : Deno.stderr;
  target.writeSync(encoder.encode(`${line}\n`));
}

function readPort(): number | undefined {
  const value = Deno.env.get("PORT")?.trim();
  if (!value) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`PORT must be a port number, got "${value}"`);
  }
  return port;
}

async function main(): Promise<number> {
  const statePath = Deno.env.get("CLERK_SYNC_DEV_STATE")?.trim() || defaultStatePath();
  const envSecret = Deno.env.get("CLERK_WEBHOOK_SECRET")?.trim();
  let exit: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => exit = resolve);

  write("stderr", "dev: starting PostgreSQL, the PostgREST stand-in and clerk-webhook ...");
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      functionPort: readPort(),
      webhookSecret: envSecret || undefined,
      onLog: (line, stream) => write(stream, line),
      onFunctionExit: (status) => {
        // Ctrl-C reaches the whole process group, the function included: that is no failure.
        if (status.signal === "SIGINT") return exit(0);
        write("stderr", `dev: the function exited (code ${status.code}); shutting down`);
        exit(1);
      },
    });
  } catch (error) {
    write("stderr", `dev: failed to start: ${error instanceof Error ? error.message : error}`);
    return 1;
  }

  const lines = [
    `FUNCTION_URL=${stack.functionUrl}`,
    `DATABASE_URL=${stack.databaseUrl}`,
    `SUPABASE_URL=${stack.supabaseUrl}`,
    `SUPABASE_SERVICE_ROLE_KEY=${stack.serviceRoleKey}`,
    `CLERK_WEBHOOK_SECRET=${stack.webhookSecret}`,
  ];
  for (const line of lines) write("stdout", line);
  write("stdout", "# Send a test event:  npm run send -- user.created");
  write("stdout", `# Look at the row:    psql "${stack.databaseUrl}" -c 'select * from profiles'`);
  write("stdout", "# Stop with Ctrl-C.");
  await writeState(statePath, lines);

  const onSignal = () => exit(0);
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  // `npm run` sends a SIGTERM it receives to its shell, which does not pass it on: notice that
  // the parent is gone (this process was re-parented) and shut down as if signalled.
  const parent = Deno.ppid;
  const orphanWatch = setInterval(() => {
    if (Deno.ppid !== parent) {
      write("stderr", "dev: the parent process is gone");
      exit(0);
    }
  }, 500);
  const code = await done;
  clearInterval(orphanWatch);
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);

  write("stderr", "dev: stopping ...");
  await Deno.remove(statePath).catch(() => {});
  try {
    await stack.close();
  } catch (error) {
    write("stderr", `dev: cleanup failed: ${error instanceof Error ? error.message : error}`);
    return 1;
  }
  write("stderr", "dev: stopped; the database is removed");
  return code;
}

// The same KEY=value lines, readable only by this user, for `npm run send` in another terminal.
async function writeState(path: string, lines: string[]): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  if (dir) await Deno.mkdir(dir, { recursive: true });
  const text = [`DEV_PID=${Deno.pid}`, ...lines].join("\n") + "\n";
  await Deno.writeTextFile(path, text, { mode: 0o600 });
}

Deno.exit(await main());
