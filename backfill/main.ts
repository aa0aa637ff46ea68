/**
 * `npm run backfill` / `npm run reconcile`: copies every Clerk user, organization and membership
 * into public.profiles, public.organizations and public.organization_memberships through the
 * webhook's guarded write path, or compares them and repairs the drift. See backfill/config.ts
 * (USAGE) for flags, environment and exit codes.
 */
import { EXIT, runCli } from "./cli.ts";

if (import.meta.main) {
  const controller = new AbortController();
  const onInterrupt = () => {
    if (controller.signal.aborted) Deno.exit(EXIT.interrupted);
    console.error("\nStopping after the current page (Ctrl-C again to quit now)...");
    controller.abort(new Error("interrupted"));
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", onInterrupt);
  const encoder = new TextEncoder();
  const code = await runCli({
    argv: Deno.args,
    env: Deno.env,
    stdout: (text) => console.log(text),
    stderr: {
      isTerminal: Deno.stderr.isTerminal(),
      write: (text) => Deno.stderr.writeSync(encoder.encode(text)),
    },
    signal: controller.signal,
  });
  Deno.exit(code);
}
