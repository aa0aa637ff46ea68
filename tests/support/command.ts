/**
 * Runs a command to its end as a test wants it: nothing of the test's own environment unless
 * asked for, stdin closed, stdout and stderr captured and decoded.
 */

const decoder = new TextDecoder();

/** How a command ended and what it printed. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode runCommand}. */
export interface RunOptions {
  /** Where it runs; the test's own working directory by default. */
  cwd?: string;
  /** Its whole environment (nothing is inherited); `cleanEnv({})` by default. */
  env?: Record<string, string>;
}

/** What a fresh terminal has: none of the variables the commands read unless the test sets them. */
export function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return { ...env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...extra };
}

/** Runs `command` with `args` to its end in the environment `options.env` only, stdin closed. */
export async function runCommand(
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<CommandResult> {
  const output = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    clearEnv: true,
    env: options.env ?? cleanEnv({}),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
