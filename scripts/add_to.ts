/**
 * `npm run add-to -- <your-project> [--dry-run] [--from DIR]`: adds clerk-supabase-sync (both
 * functions, their shared code, the migrations, config.toml tables) to an existing Supabase
 * project, or upgrades what an earlier run added. See scripts/add_to/cli.ts for the usage and
 * exit codes.
 */
import { runAddTo } from "./add_to/cli.ts";

Deno.exit(
  await runAddTo({
    argv: Deno.args,
    // npm runs scripts from the package's folder and passes the caller's in INIT_CWD.
    cwd: Deno.env.get("INIT_CWD") ?? Deno.cwd(),
    defaultSource: new URL("..", import.meta.url).pathname.replace(/\/$/, ""),
    stdout: (line) => console.log(line),
    stderr: (line) => console.error(line),
  }),
);
