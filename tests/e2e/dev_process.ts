/**
 * Runs `npm run dev` (or `deno run scripts/dev.ts`) the way a terminal does: as the leader of its
 * own process group, so a test can signal the whole group as Ctrl-C does (the terminal sends
 * SIGINT to every process of the foreground group; a supervisor's SIGTERM to the group likewise).
 * Each run gets its own TMPDIR, so the throwaway cluster's data directory, and the postgres
 * processes serving it, are found and checked without looking at other runs'.
 */

import { cleanEnv, type CommandResult, runCommand } from "../support/command.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DENO = Deno.execPath();

/** The KEY=value lines `npm run dev` prints (with its Clerk API stand-in), in order. */
export const DEV_KEYS = [
  "FUNCTION_URL",
  "PROFILE_SYNC_URL",
  "DATABASE_URL",
  "SUPABASE_URL",
  "SUPABASE_SERVICE_ROLE_KEY",
  "CLERK_API_URL",
  "CLERK_SECRET_KEY",
  "CLERK_WEBHOOK_SECRET",
];

/** Waits until `check()` holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A running dev command. */
export interface DevProcess {
  /** Its pid, which is also its process group id. */
  readonly pid: number;
  /** Its own TMPDIR; the cluster's data directory is created below it. */
  readonly tmpDir: string;
  /** Where dev writes its KEY=value lines for `npm run send`. */
  readonly statePath: string;
  readonly stdout: string[];
  readonly stderr: string[];
  readonly status: Promise<Deno.CommandStatus>;
  /** Resolves once the KEY=value lines are printed; rejects if dev ends first. */
  ready(timeoutMs?: number): Promise<Record<string, string>>;
  /** Sends `signal` to every process of the group, as a terminal's Ctrl-C does. */
  signalGroup(signal: Deno.Signal): void;
  /** The pids of postgres processes whose data directory lies below {@linkcode tmpDir}. */
  postgresPids(): number[];
  /** The `clerk-sync-pg-*` directories left below {@linkcode tmpDir}. */
  clusterDirs(): string[];
  /** Ends whatever is left (the group, leftover postgres) and removes {@linkcode tmpDir}. */
  dispose(): Promise<void>;
}

/** Options of {@linkcode startDev}. */
export interface StartDevOptions {
  /** Through `npm run dev` (npm forwards the signals it gets: dev sees them twice). */
  npm?: boolean;
  /** Environment over {@linkcode cleanEnv}. */
  env?: Record<string, string>;
  /** Options of dev (`--no-organizations`). */
  args?: string[];
  /** Another command to run the same way, from the root (the test command's signal tests). */
  command?: string[];
}

/** Starts dev in its own process group (through setsid(1)), with its own TMPDIR. */
export async function startDev(options: StartDevOptions = {}): Promise<DevProcess> {
  const tmpDir = await Deno.makeTempDir({ prefix: "clerk-sync-dev-test-" });
  // The cluster's directory below it belongs to the postgres user, who must be able to reach it.
  await Deno.chmod(tmpDir, 0o711);
  const statePath = `${tmpDir}/dev-stack.env`;
  const args = options.args ?? [];
  const command = options.command ??
    (options.npm
      ? ["npm", "run", "--silent", "dev", ...(args.length ? ["--", ...args] : [])]
      : [DENO, "run", "-A", "--frozen", "scripts/dev.ts", ...args]);
  const child = new Deno.Command("setsid", {
    args: command,
    cwd: ROOT,
    clearEnv: true,
    env: cleanEnv({ TMPDIR: tmpDir, CLERK_SYNC_DEV_STATE: statePath, ...options.env }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const pumps = [collectLines(child.stdout, stdout), collectLines(child.stderr, stderr)];
  let ended: Deno.CommandStatus | undefined;
  const status = child.status.then(async (s) => {
    await Promise.all(pumps);
    ended = s;
    return s;
  });

  function postgresPids(): number[] {
    const pids: number[] = [];
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      let args: string[];
      try {
        args = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      } catch {
        continue; // ended meanwhile
      }
      const dataDir = args[args.indexOf("-D") + 1] ?? "";
      if (args[0].endsWith("/postgres") && dataDir.startsWith(`${tmpDir}/`)) {
        pids.push(Number(entry.name));
      }
    }
    return pids;
  }

  function clusterDirs(): string[] {
    return [...Deno.readDirSync(tmpDir)]
      .filter((e) => e.name.startsWith("clerk-sync-pg-"))
      .map((e) => `${tmpDir}/${e.name}`);
  }

  return {
    pid: child.pid,
    tmpDir,
    statePath,
    stdout,
    stderr,
    status,
    async ready(timeoutMs = 60_000) {
      await waitFor(
        "the CLERK_WEBHOOK_SECRET= line",
        () => {
          if (ended) {
            throw new Error(
              `dev ended (code ${ended.code}) before it was ready:\n${stderr.join("\n")}`,
            );
          }
          return stdout.some((l) => l.startsWith("CLERK_WEBHOOK_SECRET="));
        },
        timeoutMs,
      );
      const printed = stdout.filter((l) => /^[A-Z_]+=/.test(l));
      return Object.fromEntries(
        printed.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
    },
    signalGroup(signal) {
      Deno.kill(-child.pid, signal);
    },
    postgresPids,
    clusterDirs,
    async dispose() {
      if (!ended) {
        try {
          Deno.kill(-child.pid, "SIGKILL");
        } catch {
          // The group is gone already.
        }
      }
      await status;
      // A failed run may leave its postmaster (it runs in a session of its own): stop it fast.
      for (const pid of postgresPids()) {
        try {
          Deno.kill(pid, "SIGQUIT");
        } catch {
          // Ended meanwhile.
        }
      }
      await waitFor("leftover postgres to end", () => postgresPids().length === 0, 10_000)
        .catch(() => {});
      await Deno.remove(tmpDir, { recursive: true });
    },
  };
}

/** Runs scripts/send.ts to completion (no tty, nothing exported but `env`). */
export function runSend(args: string[], env: Record<string, string> = {}): Promise<CommandResult> {
  return runCommand(DENO, ["run", "-A", "--frozen", "scripts/send.ts", ...args], {
    cwd: ROOT,
    env: cleanEnv(env),
  });
}

function collectLines(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
  return (async () => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts);
    }
    if (rest) lines.push(rest);
  })();
}
