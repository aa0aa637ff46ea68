/**
 * The Deno that function processes run on: the one switch FUNCTION_DENO (a path to a Deno binary;
 * default this process's own, `Deno.execPath()`). scripts/test.ts sets it to the hosted Edge
 * Runtime's Deno 2.1 for its platform pass; whatever spawns a function (tests/support/local_stack.ts,
 * so `npm run dev` too, and tests that start a function themselves) asks this module for the
 * command.
 *
 * Deno 2.1 cannot read the version 5 `deno.lock` of the development Deno, so it gets a lock of its
 * own, `deno.2.1.lock` (committed, written by Deno 2.1 itself, read with `--frozen`), and
 * DENO_TLS_CA_STORE=system, without which it does not trust this machine's route to the npm
 * registry.
 */

const ROOT = new URL("../../", import.meta.url).pathname;
/** The lock Deno 2.1 reads and writes (deno.json's `deno.lock` is version 5, which it cannot read). */
export const DENO_21_LOCK = `${ROOT}deno.2.1.lock`;
/** Where `npm ci` puts Deno 2.1 (package.json: `deno21-linux-x64-glibc`, npm's @deno/linux-x64-glibc). */
export const DENO_21_PATH = `${ROOT}node_modules/deno21-linux-x64-glibc/deno`;

/** A Deno to run functions on, and how to run it from the project root. */
export interface FunctionDeno {
  /** The binary. */
  readonly path: string;
  /** Its version, for example `2.1.14`. */
  readonly version: string;
  /** Flags for `deno run`/`test`/`check` that pick the lock it can read (empty: deno.json's). */
  readonly lockArgs: readonly string[];
  /** Environment it needs on top of what a function gets. */
  readonly env: Readonly<Record<string, string>>;
}

const cache = new Map<string, FunctionDeno>();

/** The Deno at `path` (default: FUNCTION_DENO, else this process's own), with its lock and env. */
export function functionDeno(path: string = functionDenoPath()): FunctionDeno {
  let found = cache.get(path);
  if (!found) {
    found = describeDeno(path);
    cache.set(path, found);
  }
  return found;
}

/** FUNCTION_DENO when set (and not blank), else `Deno.execPath()`. */
export function functionDenoPath(): string {
  return Deno.env.get("FUNCTION_DENO")?.trim() || Deno.execPath();
}

/**
 * `deno run` arguments for a function entrypoint (a path from the project root, run with the
 * project root as cwd), with the permissions the edge runtime grants: network and environment.
 */
export function functionRunArgs(entrypoint: string, deno: FunctionDeno = functionDeno()): string[] {
  return ["run", "--allow-net", "--allow-env", "--frozen", ...deno.lockArgs, entrypoint];
}

function describeDeno(path: string): FunctionDeno {
  const version = path === Deno.execPath() ? Deno.version.deno : readVersion(path);
  if (version === Deno.version.deno) return { path, version, lockArgs: [], env: {} };
  if (version.startsWith("2.1.")) {
    return {
      path,
      version,
      lockArgs: [`--lock=${DENO_21_LOCK}`],
      env: { DENO_TLS_CA_STORE: "system" },
    };
  }
  throw new Error(
    `FUNCTION_DENO is Deno ${version}: only this Deno (${Deno.version.deno}) and Deno 2.1 ` +
      "(the hosted Edge Runtime's, with deno.2.1.lock) have a lock here",
  );
}

function readVersion(path: string): string {
  let output: Deno.CommandOutput;
  try {
    output = new Deno.Command(path, { args: ["--version"], stdout: "piped", stderr: "piped" })
      .outputSync();
  } catch (error) {
    throw new Error(`FUNCTION_DENO=${path} does not run: ${(error as Error).message}`);
  }
  const match = /^deno (\d+\.\d+\.\d+)/.exec(new TextDecoder().decode(output.stdout));
  if (!output.success || !match) throw new Error(`FUNCTION_DENO=${path} is not a Deno binary`);
  return match[1];
}
