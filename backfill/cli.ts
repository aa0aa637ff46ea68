/** The command behind `npm run backfill` and `npm run reconcile`, with its I/O injected. */
import { createClient } from "@supabase/supabase-js";
import { printable } from "../supabase/functions/_shared/log.ts";
import { createClerkApi, DEFAULT_CLERK_API_URL } from "./clerk_api.ts";
import { createClerkSources, describeClerkError } from "./clerk_source.ts";
import { parseArgs, readEnv, USAGE, UsageError } from "./config.ts";
import { InstanceMismatchError } from "./instance.ts";
import { KINDS } from "./kinds.ts";
import { errorText } from "./outcomes.ts";
import { createProgress, formatDuration, type ProgressOutput } from "./progress.ts";
import { remainingDrift, rowsWhileOff, runReconcile } from "./reconcile.ts";
import { formatBackfillSummary, formatReconcileReport } from "./report.ts";
import type { RetryPolicy } from "./retry.ts";
import { runBackfill } from "./run_backfill.ts";
import { createSupabaseBackfillStore } from "./store.ts";

/**
 * Exit codes: `drift` when a reconcile leaves drift (a dry run: any; `--apply`: what it did not
 * repair; also rows of organizations or memberships while Organizations is off in the instance),
 * `error` also when `--apply` refused to repair, and when the key is another Clerk instance's.
 */
export const EXIT = { ok: 0, drift: 1, error: 2, interrupted: 130 } as const;

/** What the command reads and writes. */
export interface CliIo {
  argv: string[];
  env: { get(name: string): string | undefined };
  /** Summary and report. */
  stdout: (text: string) => void;
  /** Progress, notes and errors (every value from Clerk or the database through printable). */
  stderr: ProgressOutput;
  /** Aborted on Ctrl-C: the run stops after the page being written. */
  signal?: AbortSignal;
  /** Retry timing (tests shorten the backoff). */
  retry?: RetryPolicy;
  /** Objects per Clerk page (default 500). */
  pageSize?: number;
}

/** Runs the command; resolves to its exit code. */
export async function runCli(io: CliIo): Promise<number> {
  const note = (line: string) => io.stderr.write(`${line}\n`);
  try {
    const args = parseArgs(io.argv);
    if (args.help) {
      io.stdout(USAGE);
      return EXIT.ok;
    }
    const env = readEnv(io.env);
    const clerk = createClerkApi({ secretKey: env.clerkSecretKey, apiUrl: env.clerkApiUrl });
    const retry: RetryPolicy = {
      ...io.retry,
      signal: io.signal,
      onRetry: ({ delayMs, reason }) =>
        note(`${printable(reason)}; retrying in ${formatDuration(delayMs / 1000)}`),
    };
    const sources = createClerkSources(clerk, { pageSize: io.pageSize, retry });
    const supabase = createClient(env.supabaseUrl, env.serviceKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    });
    const store = createSupabaseBackfillStore(supabase, { retry });
    const target = `${env.clerkApiUrl ?? DEFAULT_CLERK_API_URL} -> ${env.supabaseUrl}`;

    if (args.mode === "backfill") {
      const result = await runBackfill(sources, store, {
        statePath: args.statePath,
        resume: args.resume,
        target,
        progress: (kind, startDone) =>
          createProgress(io.stderr, { label: `backfill ${kind}`, unit: kind, startDone }),
        log: note,
        signal: io.signal,
      });
      io.stdout(formatBackfillSummary(result, args.statePath));
      if (result.interrupted) return EXIT.interrupted;
      return KINDS.some((kind) => result.counts[kind].failed > 0) ? EXIT.error : EXIT.ok;
    }

    const report = await runReconcile(sources, store, {
      apply: args.mode === "apply",
      maxOrphans: args.maxOrphans,
      maxOrphanPercent: args.maxOrphanPercent,
      progress: (kind) => createProgress(io.stderr, { label: `reconcile ${kind}`, unit: kind }),
      log: note,
      signal: io.signal,
    });
    io.stdout(formatReconcileReport(report));
    if (report.interrupted) return EXIT.interrupted;
    if (report.failures.length > 0 || (report.apply && report.refused)) return EXIT.error;
    return remainingDrift(report) + rowsWhileOff(report) > 0 ? EXIT.drift : EXIT.ok;
  } catch (error) {
    if (io.signal?.aborted) {
      note(`backfill: interrupted (${printable(errorText(error))})`);
      return EXIT.interrupted;
    }
    if (error instanceof UsageError) {
      note(`backfill: ${printable(error.message)} (--help shows the usage)`);
    } else if (error instanceof InstanceMismatchError) {
      note(`backfill: ${error.message}`);
    } else note(`backfill: ${printable(describeClerkError(error) ?? errorText(error))}`);
    return EXIT.error;
  }
}
