/**
 * The closing summary of a backfill and the drift report of a reconcile. Every user id and reason
 * (from Clerk or the database) goes through printable: a value cannot start a line of its own.
 */
import { printable } from "../supabase/functions/_shared/log.ts";
import { fmt } from "./progress.ts";
import { driftCount, type ReconcileReport, remainingDrift } from "./reconcile.ts";
import type { BackfillResult } from "./run_backfill.ts";
import { type Counts, type Failure, subtractCounts } from "./state.ts";

const SHOWN = 10;
const LABEL = 21;

const OUTCOMES: [keyof Counts, string][] = [
  ["applied", "inserted or updated"],
  ["restored", "inferred tombstone lifted: Clerk lists the user"],
  ["stale", "kept newer webhook data or an announced deletion"],
  ["unchanged", "already up to date"],
  ["failed", ""],
];

/**
 * The backfill's summary: counts per outcome, rate, failures. After a resume, the counts carried
 * over from the state file are shown apart from this run's.
 */
export function formatBackfillSummary(result: BackfillResult, statePath: string): string {
  const { counts, carried } = result;
  const rate = result.processed / Math.max(result.seconds, 1e-3);
  const lines = [
    `${result.interrupted ? "Backfill interrupted" : "Backfill finished"}: ` +
    `${fmt(result.startDone + result.processed)} of ${fmt(result.total)} Clerk users, ` +
    `${fmt(result.processed)} in this run in ${result.seconds.toFixed(1)} s ` +
    `(${fmt(Math.round(rate))} users/s)${
      result.startDone ? `, resumed after ${fmt(result.startDone)}` : ""
    }`,
  ];
  if (carried) {
    const thisRun = subtractCounts(counts, carried);
    lines.push(
      `${" ".repeat(LABEL + 2)}${"total".padStart(9)}${"this run".padStart(11)}` +
        "carried over".padStart(14),
    );
    for (const [key, note] of OUTCOMES) {
      lines.push(
        `  ${key.padEnd(LABEL)}${fmt(counts[key]).padStart(9)}${fmt(thisRun[key]).padStart(11)}` +
          `${fmt(carried[key]).padStart(14)}${note ? `  ${note}` : ""}`,
      );
    }
  } else {
    for (const [key, note] of OUTCOMES) lines.push(row(key, counts[key], note));
  }
  lines.push(...failureLines(result.failures, counts.failed));
  if (result.interrupted) {
    lines.push(`Progress saved in ${statePath}: run again with --resume to continue.`);
  }
  return lines.join("\n");
}

/** The reconcile report: drift per kind with example ids, and what --apply did or refused. */
export function formatReconcileReport(report: ReconcileReport): string {
  const drift = driftCount(report);
  const lines = [
    `Reconcile (${report.apply ? "apply" : "dry run"}): ${fmt(report.clerkUsers)} Clerk users, ` +
    `${fmt(report.profiles)} profiles, ${report.seconds.toFixed(1)} s`,
    row("in sync", report.inSync, ""),
    row("missing in Supabase", report.missing.length, examples(report.missing)),
    row("older than Clerk", report.outdated.length, examples(report.outdated)),
    row("wrongly tombstoned", report.restorable.length, examples(report.restorable)),
    row("orphaned profiles", report.orphans.length, examples(report.orphans)),
    row("newer than Clerk", report.newer, "a webhook was faster; not drift"),
    row("deleted meanwhile", report.deleted, "deletion announced by Clerk; not drift"),
  ];
  if (report.failures.length > 0) {
    lines.push(row("failed", report.failures.length, ""));
    lines.push(...failureLines(report.failures, report.failures.length));
  }
  if (report.interrupted) lines.push("Interrupted: the comparison is incomplete, nothing written.");
  if (report.repaired) {
    const r = report.repaired;
    lines.push(
      `Repaired: ${fmt(r.applied)} written, ${fmt(r.restored)} restored, ` +
        `${fmt(r.tombstoned)} orphans tombstoned` +
        (r.stale ? `, ${fmt(r.stale)} skipped (a webhook was newer)` : "") +
        (r.unchanged ? `, ${fmt(r.unchanged)} already fixed meanwhile` : ""),
    );
  }
  if (report.refused) {
    lines.push(
      report.apply
        ? `Refused to repair, nothing written: ${report.refused}`
        : `--apply would refuse: ${report.refused}`,
    );
  }
  if (drift === 0) lines.push("In sync.");
  else if (!report.apply) {
    lines.push(
      `Drift: ${fmt(drift)} users.${report.refused ? "" : " Run with --apply to repair."}`,
    );
  } else if (!report.repaired) lines.push(`Drift: ${fmt(drift)} users found, none repaired.`);
  else {
    const left = remainingDrift(report);
    lines.push(
      `Drift: ${fmt(drift)} users found, ` +
        (left === 0 ? "all repaired." : `${fmt(left)} not repaired.`),
    );
  }
  return lines.join("\n");
}

function row(label: string, count: number, note: string): string {
  return `  ${label.padEnd(LABEL)}${fmt(count).padStart(9)}${note ? `  ${note}` : ""}`;
}

function examples(ids: string[]): string {
  if (ids.length === 0) return "";
  const shown = ids.slice(0, SHOWN).map(printable).join(", ");
  return ids.length > SHOWN ? `${shown}, … (+${fmt(ids.length - SHOWN)})` : shown;
}

function failureLines(failures: Failure[], count: number): string[] {
  const lines = failures.slice(0, SHOWN).map((f) =>
    `    ${printable(f.userId)}: ${printable(f.reason)}`
  );
  if (count > lines.length) lines.push(`    … and ${fmt(count - lines.length)} more`);
  return lines;
}
