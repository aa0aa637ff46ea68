// A benchmark server (the peer, the relay) as its own `deno run` process, started the way the
// local stack starts the function: the same flags, a cleared environment plus what Deno needs
// to find its cache, its output read line by line on this process's main thread.
import { freePort } from "../tests/support/pg_cluster.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** The local stack's command line for the function (tests/support/local_stack.ts). */
export const RUN_FLAGS = ["run", "--allow-net", "--allow-env", "--frozen"];
const INHERITED_ENV = ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "NO_COLOR"];
const KEPT_LINES = 20;

/** A running server process. */
export interface ServerProcess {
  /** `http://127.0.0.1:<port>/`. */
  readonly url: string;
  readonly pid: number;
  /** How many lines it has written to stdout and stderr. */
  readonly lines: number;
  /** Its last lines, for error messages. */
  readonly tail: string[];
  /** SIGTERM, then waits for it to end. */
  stop(): Promise<void>;
}

/** The variables of this process that a child needs to find Deno's cache. */
export function inheritedEnv(): Record<string, string> {
  return Object.fromEntries(INHERITED_ENV.flatMap((name) => {
    const value = Deno.env.get(name);
    return value === undefined ? [] : [[name, value]];
  }));
}

/** Starts `script` (relative to the repository) with `env` and PORT; resolves once it listens. */
export async function startServerProcess(
  script: string,
  env: Record<string, string>,
): Promise<ServerProcess> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [...RUN_FLAGS, script],
    cwd: ROOT,
    clearEnv: true,
    env: { ...inheritedEnv(), DENO_NO_UPDATE_CHECK: "1", ...env, PORT: String(port) },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let lines = 0;
  const tail: string[] = [];
  const onLine = (line: string) => {
    lines++;
    tail.push(line);
    if (tail.length > KEPT_LINES) tail.shift();
  };
  const pumps = [pumpLines(child.stdout, onLine), pumpLines(child.stderr, onLine)];
  let ended = false;
  const status = child.status.finally(() => ended = true);
  const stop = async () => {
    if (!ended) child.kill("SIGTERM");
    await status;
    await Promise.all(pumps);
  };
  try {
    await waitUntilListening(port, () => ended);
  } catch (error) {
    await stop();
    throw new Error(
      `${script}: ${error instanceof Error ? error.message : error}\n${tail.join("\n")}`,
    );
  }
  return {
    url: `http://127.0.0.1:${port}/`,
    pid: child.pid,
    get lines() {
      return lines;
    },
    tail,
    stop,
  };
}

async function waitUntilListening(port: number, ended: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (ended()) throw new Error("exited during start-up");
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  throw new Error(`did not listen on port ${port} within 30 s`);
}

async function pumpLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    parts.forEach(onLine);
  }
  if (rest !== "") onLine(rest);
}
