/** The closing summary of a backfill and the drift report of a reconcile. */
import { fmt } from "./progress.ts";
import { driftCount, type ReconcileReport } from "./reconcile.ts";
import type { BackfillResult } from "./run_backfill.ts";
import type { Failure } from "./state.ts";

const SHOWN = 10;

/** The backfill's summary: counts per outcome, rate, failures. */
export function formatBackfillSummary(result: BackfillResult, statePath: string): string {
  const { counts } = result;
  const rate = result.processed / Math.max(result.seconds, 1e-3);
  const lines = [
    `${result.interrupted ? "Backfill interrupted" : "Backfill finished"}: ` +
    `${fmt(result.startDone + result.processed)} of ${fmt(result.total)} Clerk users, ` +
    `${fmt(result.processed)} in this run in ${result.seconds.toFixed(1)} s ` +
    `(${fmt(Math.round(rate))} users/s)${
      result.startDone ? `, resumed after ${fmt(result.startDone)}` : ""
    }`,
    row("applied", counts.applied, "inserted or updated"),
    row("stale", counts.stale, "kept newer webhook data or a deletion"),
    row("unchanged", counts.unchanged, "already up to date"),
    row("failed", counts.failed, ""),
    ...failureLines(result.failures, counts.failed),
  ];
  if (result.interrupted) {
    lines.push(`Progress saved in ${statePath}: run again with --resume to continue.`);
  }
  return lines.join("\n");
}

/** The reconcile report: drift per kind with example ids, and what --apply did. */
export function formatReconcileReport(report: ReconcileReport): string {
  const drift = driftCount(report);
  const lines = [
    `Reconcile (${report.apply ? "apply" : "dry run"}): ${fmt(report.clerkUsers)} Clerk users, ` +
    `${fmt(report.profiles)} profiles, ${report.seconds.toFixed(1)} s`,
    row("in sync", report.inSync, ""),
    row("missing in Supabase", report.missing.length, examples(report.missing)),
    row("older than Clerk", report.outdated.length, examples(report.outdated)),
    row("orphaned profiles", report.orphans.length, examples(report.orphans)),
    row("newer than Clerk", report.newer, "a webhook was faster; not drift"),
    row("deleted meanwhile", report.deleted, "tombstoned; not drift"),
  ];
  if (report.failures.length > 0) {
    lines.push(row("failed", report.failures.length, ""));
    lines.push(...failureLines(report.failures, report.failures.length));
  }
  if (report.interrupted) lines.push("Interrupted: the comparison is incomplete.");
  if (report.repaired) {
    const r = report.repaired;
    lines.push(
      `Repaired: ${fmt(r.applied)} written, ${fmt(r.tombstoned)} orphans tombstoned` +
        (r.stale ? `, ${fmt(r.stale)} skipped (a webhook was newer)` : "") +
        (r.unchanged ? `, ${fmt(r.unchanged)} already fixed meanwhile` : ""),
    );
  }
  if (report.refused) lines.push(`Orphans left alone: ${report.refused}`);
  if (drift === 0) lines.push("In sync.");
  else if (!report.apply) lines.push(`Drift: ${fmt(drift)} users. Run with --apply to repair.`);
  else lines.push(`Drift: ${fmt(drift)} users found.`);
  return lines.join("\n");
}

function row(label: string, count: number, note: string): string {
  return `  ${label.padEnd(21)}${fmt(count).padStart(9)}${note ? `  ${note}` : ""}`;
}

function examples(ids: string[]): string {
  if (ids.length === 0) return "";
  const shown = ids.slice(0, SHOWN).join(", ");
  return ids.length > SHOWN ? `${shown}, … (+${fmt(ids.length - SHOWN)})` : shown;
}

function failureLines(failures: Failure[], count: number): string[] {
  const lines = failures.slice(0, SHOWN).map((f) => `    ${f.userId}: ${f.reason}`);
  if (count > lines.length) lines.push(`    … and ${fmt(count - lines.length)} more`);
  return lines;
}
