/**
 * The closing summary of a backfill and the drift report of a reconcile, with a column or a
 * section per kind (users, organizations, memberships). Every id and reason (from Clerk or the
 * database) goes through printable: a value cannot start a line of its own.
 */
import { printable } from "../supabase/functions/_shared/log.ts";
import { counted, type Kind, KINDS, NOUN } from "./kinds.ts";
import { type Counts, countsTotal, type Failure } from "./outcomes.ts";
import { fmt } from "./progress.ts";
import {
  driftCount,
  kindDrift,
  kindRemaining,
  type KindReport,
  type ReconcileReport,
  rowsWhileOff,
} from "./reconcile.ts";
import type { BackfillResult } from "./run_backfill.ts";

const SHOWN = 10;
const LABEL = 21;
const COLUMN = 15;

const OUTCOMES: [keyof Counts, string][] = [
  ["applied", "inserted or updated"],
  ["restored", "inferred tombstone lifted: Clerk lists it again"],
  ["stale", "kept newer webhook data or a deletion (memberships also: no organization row)"],
  ["unchanged", "already up to date"],
  ["failed", ""],
];

const TITLE: Record<Kind, string> = {
  users: "Users",
  organizations: "Organizations",
  memberships: "Memberships",
};

/** The summary's line when the Organizations feature is off in the Clerk instance. */
export const ORGANIZATIONS_OFF =
  "Organizations are off in this Clerk instance: organizations and memberships were skipped.";

/**
 * The backfill's summary: counts per outcome and kind (users alone when organizations are off),
 * rate, failures. After a resume, the objects carried over from the state file are shown apart.
 */
export function formatBackfillSummary(result: BackfillResult, statePath: string): string {
  const { counts, carried } = result;
  const shown = result.kinds;
  const reached = shown.slice(0, shown.indexOf(result.phase) + 1);
  const done = reached.map((kind) => {
    const n = countsTotal(counts[kind]);
    const total = result.totals[kind];
    const noun = kind === "users" ? "Clerk users" : NOUN[kind].many;
    return total === null ? `${fmt(n)} ${noun}` : `${fmt(n)} of ${fmt(total)} ${noun}`;
  });
  const rate = result.processed / Math.max(result.seconds, 1e-3);
  const before = carried
    ? shown.filter((kind) => countsTotal(carried[kind]) > 0).map((kind) =>
      counted(countsTotal(carried[kind]), kind)
    )
    : [];
  const lines = [
    `${result.interrupted ? "Backfill interrupted" : "Backfill finished"}: ${done.join(", ")}; ` +
    `${fmt(result.processed)} in this run in ${result.seconds.toFixed(1)} s ` +
    `(${fmt(Math.round(rate))}/s)${before.length ? `, resumed after ${before.join(", ")}` : ""}`,
    `${" ".repeat(LABEL + 2)}${shown.map((kind) => kind.padStart(COLUMN)).join("")}`,
  ];
  const cells = (value: (kind: Kind) => number) =>
    shown.map((kind) => fmt(value(kind)).padStart(COLUMN)).join("");
  for (const [key, note] of OUTCOMES) {
    // The memberships' own reason for `stale` only where memberships are shown.
    const shownNote = shown.includes("memberships")
      ? note
      : note.replace(/ \(memberships.*\)$/, "");
    lines.push(
      `  ${key.padEnd(LABEL)}${cells((kind) => counts[kind][key])}${
        shownNote ? `  ${shownNote}` : ""
      }`,
    );
  }
  if (carried) {
    lines.push(
      `  ${"carried over".padEnd(LABEL)}${cells((kind) => countsTotal(carried[kind]))}` +
        "  written before this run (state file)",
    );
  }
  const failed = KINDS.reduce((n, kind) => n + counts[kind].failed, 0);
  lines.push(...failureLines(result.failures, failed));
  if (!result.organizationsEnabled) lines.push(ORGANIZATIONS_OFF);
  if (result.interrupted) {
    lines.push(`Progress saved in ${statePath}: run again with --resume to continue.`);
  }
  return lines.join("\n");
}

/** The reconcile report: drift per kind with example ids, and what --apply did or refused. */
export function formatReconcileReport(report: ReconcileReport): string {
  const lines = [
    `Reconcile (${report.apply ? "apply" : "dry run"}) in ${report.seconds.toFixed(1)} s`,
  ];
  for (const kind of KINDS) {
    const r = report.kinds[kind];
    if (r.skipped) lines.push(skippedSection(r));
    else lines.push(...section(r, report.failures.filter((f) => f.kind === kind)));
  }
  if (report.interrupted) lines.push("Interrupted: the comparison is incomplete, nothing written.");
  if (report.refused) {
    lines.push(
      report.apply
        ? `Refused to repair, nothing written: ${report.refused}`
        : `--apply would refuse: ${report.refused}`,
    );
  }
  if (!report.organizationsEnabled) {
    const held = rowsWhileOff(report);
    const { organizations, memberships } = report.kinds;
    lines.push(
      held === 0 ? ORGANIZATIONS_OFF : "Organizations are off in this Clerk instance, but " +
        `organizations holds ${fmt(organizations.rows)} and organization_memberships ` +
        `${fmt(memberships.rows)} rows: they were not compared and are left as they are ` +
        "(turn Organizations on in Clerk to compare them, or remove those rows yourself).",
    );
  }
  const drift = driftCount(report);
  const found = driftList(report, kindDrift);
  if (drift === 0) lines.push(rowsWhileOff(report) > 0 ? "Users in sync." : "In sync.");
  else if (!report.apply) {
    lines.push(`Drift: ${found}.${report.refused ? "" : " Run with --apply to repair."}`);
  } else if (KINDS.every((kind) => !report.kinds[kind].repaired)) {
    lines.push(`Drift: ${found} found, none repaired.`);
  } else {
    const left = KINDS.reduce((n, kind) => n + kindRemaining(report.kinds[kind]), 0);
    lines.push(
      `Drift: ${found} found, ` +
        (left === 0 ? "all repaired." : `${driftList(report, kindRemaining)} not repaired.`),
    );
  }
  return lines.join("\n");
}

// A kind of the Organizations feature while it is off.
function skippedSection(r: KindReport): string {
  return `${TITLE[r.kind]}: off in this Clerk instance, not compared; ${fmt(r.rows)} in ` +
    NOUN[r.kind].table;
}

function section(r: KindReport, failures: Failure[]): string[] {
  const { table } = NOUN[r.kind];
  const lines = [
    `${TITLE[r.kind]}: ${fmt(r.clerk)} in Clerk, ${fmt(r.rows)} in ${table}`,
    row("in sync", r.inSync, ""),
    row("missing in Supabase", r.missing.length, examples(r.missing)),
    row("older than Clerk", r.outdated.length, examples(r.outdated)),
    row("wrongly tombstoned", r.restorable.length, examples(r.restorable)),
    row("orphaned rows", r.orphans.length, examples(r.orphans)),
    row("newer than Clerk", r.newer, "a webhook was faster; not drift"),
    row("deleted meanwhile", r.deleted, "deletion announced by Clerk; not drift"),
  ];
  if (failures.length > 0) {
    lines.push(row("failed", failures.length, ""));
    lines.push(...failureLines(failures, failures.length));
  }
  if (r.repaired) {
    const p = r.repaired;
    lines.push(
      `  Repaired: ${fmt(p.applied)} written, ${fmt(p.restored)} restored, ` +
        `${fmt(p.tombstoned)} orphans tombstoned` +
        (p.stale ? `, ${fmt(p.stale)} skipped (a webhook was newer)` : "") +
        (p.unchanged ? `, ${fmt(p.unchanged)} already fixed meanwhile` : ""),
    );
  }
  return lines;
}

// "4 users, 1 organization": the kinds with a non-zero count.
function driftList(report: ReconcileReport, count: (r: KindReport) => number): string {
  const parts = KINDS.filter((kind) => count(report.kinds[kind]) > 0)
    .map((kind) => counted(count(report.kinds[kind]), kind));
  return parts.length > 0 ? parts.join(", ") : counted(0, "users");
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
    `    ${printable(f.id)}: ${printable(f.reason)}`
  );
  if (count > lines.length) lines.push(`    … and ${fmt(count - lines.length)} more`);
  return lines;
}
