/** The add-to command with its I/O injected (scripts/add_to.ts is the adapter). */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { ApplyError, applyPlan } from "./apply.ts";
import { FUNCTION_NAMES, SourceError } from "./bundle.ts";
import type { SourceVersion } from "./manifest.ts";
import { MIGRATIONS_DIR, type Operation, type Plan, planAddTo } from "./plan.ts";
import { readSource } from "./source.ts";
import { readTarget, TargetError } from "./target.ts";
import { printable } from "../../supabase/functions/_shared/log.ts";

/** Exit codes. */
export const EXIT = {
  ok: 0,
  /** Something of the user's is in the way; nothing written. */
  refused: 1,
  /** Bad arguments, or a folder that is not a Supabase project (or not this project's tree). */
  usage: 2,
  /** A write failed part-way; what was written is listed. */
  failed: 3,
} as const;

export const USAGE =
  `usage: npm run add-to -- <your-project> [--dry-run] [--from <clerk-supabase-sync>]

Adds clerk-supabase-sync to the Supabase project in <your-project> (the folder that holds its
supabase/), or upgrades what an earlier run added:
  supabase/functions/clerk-webhook/, clerk-profile-sync/  the two functions, each with a deno.json
  supabase/functions/_clerk_sync/                          the code they share
  supabase/migrations/<new timestamp>_<name>.sql          the migrations it does not have yet
  supabase/config.toml                                    [functions.*] tables appended
  supabase/clerk-sync.json                                what was installed, for upgrades
Nothing of yours is overwritten: anything in the way stops the run before it writes.

  --dry-run   list what would be written; write nothing
  --from DIR  install from this clerk-supabase-sync tree (default: the one this command is in)

Exit codes: 0 done (or nothing to do), 1 refused (something of yours is in the way; nothing
written), 2 usage (bad arguments, not a Supabase project), 3 a write failed part-way.`;

/** What the command reads and writes. */
export interface AddToIo {
  argv: readonly string[];
  /** Where relative paths start (npm passes the caller's folder in INIT_CWD). */
  cwd: string;
  /** The clerk-supabase-sync tree used without --from. */
  defaultSource: string;
  stdout: (line: string) => void;
  stderr: (line: string) => void;
  now?: () => Date;
}

class UsageError extends Error {}

/** Runs the command; resolves to its exit code. */
export async function runAddTo(io: AddToIo): Promise<number> {
  try {
    const { values, positionals } = parseCommandLine(io.argv);
    if (values.help) {
      io.stdout(USAGE);
      return EXIT.ok;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length === 0 ? "no project folder given" : "one project folder only",
      );
    }
    const root = resolve(io.cwd, positionals[0]);
    const from = values.from === undefined ? io.defaultSource : resolve(io.cwd, values.from);
    const source = await readSource(from);
    const target = await readTarget(root);
    const plan = planAddTo(source, target, (io.now ?? (() => new Date()))());
    for (const note of plan.notes) io.stderr(`note: ${printable(note)}`);
    if (plan.refusals.length > 0) {
      io.stderr(`add-to: refused, nothing written (${printable(root)}):`);
      for (const r of plan.refusals) {
        // File names are the user's: control characters are shown escaped, never sent raw.
        const reason = r.reason.split("\n").map(printable).join("\n    ");
        io.stderr(`  ${printable(r.path)}: ${reason}`);
      }
      return EXIT.refused;
    }
    report(plan, root, values["dry-run"] === true, io);
    if (values["dry-run"] || plan.operations.length === 0) return EXIT.ok;
    await applyPlan(root, plan.operations);
    io.stdout(done(plan));
    return EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`add-to: ${error.message}\n\n${USAGE}`);
      return EXIT.usage;
    }
    if (error instanceof SourceError || error instanceof TargetError) {
      io.stderr(`add-to: ${printable(error.message)}`);
      return EXIT.usage;
    }
    if (error instanceof ApplyError) {
      io.stderr(`add-to: ${printable(error.message)}; written before it:`);
      for (const op of error.done) io.stderr(`  ${op.kind} ${printable(op.path)}`);
      io.stderr("Run add-to again once the cause is fixed: it picks up what is already there.");
      return EXIT.failed;
    }
    throw error;
  }
}

function parseCommandLine(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        "dry-run": { type: "boolean" },
        from: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** How a version is named in the output. */
export function describeVersion(v: SourceVersion): string {
  if (v.commit === null) return `${v.version} (not from a git checkout)`;
  return `${v.version} (commit ${v.commit.slice(0, 12)}${
    v.modified ? ", with uncommitted changes" : ""
  })`;
}

function report(plan: Plan, dir: string, dryRun: boolean, io: AddToIo): void {
  const root = printable(dir);
  const to = describeVersion(plan.source);
  if (plan.operations.length === 0) {
    io.stdout(`Nothing to do: ${root} has what clerk-supabase-sync ${to} installs.`);
    return;
  }
  const prefix = dryRun ? "Dry run: " : "";
  io.stdout(
    plan.installed
      ? `${prefix}Upgrading clerk-supabase-sync in ${root}: ${
        describeVersion(plan.installed)
      } -> ${to}`
      : `${prefix}Adding clerk-supabase-sync ${to} to ${root}`,
  );
  for (const op of plan.operations) {
    io.stdout(`  ${op.kind.padEnd(6)}  ${printable(op.path)}${op.note ? `  (${op.note})` : ""}`);
  }
  if (dryRun) io.stdout(`Dry run: nothing written (${count(plan.operations)}).`);
}

function done(plan: Plan): string {
  const ops = plan.operations;
  const migrations = ops.filter((op) =>
    op.kind === "create" && op.path.startsWith(`${MIGRATIONS_DIR}/`)
  );
  const code = ops.some((op) => op.path.startsWith("supabase/functions/"));
  const lines = [`Done (${count(ops)}). Next, from the folder that holds supabase/:`];
  if (migrations.length > 0) {
    const what = migrations.length === 1 ? "new migration" : `${migrations.length} new migrations`;
    lines.push(`  supabase db push    # applies the ${what}`);
  }
  if (!plan.installed) {
    lines.push(
      "  supabase secrets set CLERK_WEBHOOK_SECRET=whsec_... CLERK_SECRET_KEY=sk_live_...",
    );
  }
  if (code) lines.push(`  supabase functions deploy ${FUNCTION_NAMES.join(" ")}`);
  return lines.join("\n");
}

function count(ops: readonly Operation[]): string {
  const by = (kind: Operation["kind"]) => ops.filter((op) => op.kind === kind).length;
  const parts = [
    [by("create"), "created"],
    [by("update") + by("append"), "changed"],
    [by("delete"), "deleted"],
  ].filter(([n]) => n !== 0).map(([n, what]) => `${n} ${what}`);
  return `${ops.length} file${ops.length === 1 ? "" : "s"}: ${parts.join(", ")}`;
}
