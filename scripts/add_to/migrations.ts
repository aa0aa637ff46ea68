/**
 * The migrations part of add-to's plan (scripts/add_to/plan.ts): which of this project's
 * migrations the user's project lacks, the names they get there, and the clashes with what the
 * user's own migrations leave.
 */
import { type InstalledMigration, type Manifest, sha256 } from "./manifest.ts";
import type { Operation, Refusal, Source, Target } from "./plan.ts";
import { createdObjects, sameObject, type SqlObject, survivingObjects } from "./sql_objects.ts";

/** The heading of the documentation's recipe for a project that already has these tables. */
export const ADOPTION_RECIPE = "Adopting an existing profiles table";
/** The user's migrations folder, from the project's root. */
export const MIGRATIONS_DIR = "supabase/migrations";
const MIGRATION_NAME = /^([0-9]+)_(.+\.sql)$/;

/** The migration operations of a plan, and the migrations installed after it. */
export interface MigrationPlan {
  operations: Operation[];
  installed: Record<string, InstalledMigration>;
}

/**
 * Our migrations the user's project does not have yet, dated after its latest; refusals for what
 * their migrations leave that the new ones create; notes for what an upgrade cannot change.
 */
export function planMigrations(
  source: Source,
  target: Target,
  manifest: Manifest | null,
  now: Date,
  refusals: Refusal[],
  notes: string[],
): MigrationPlan {
  const theirs = (target.migrations ?? []).filter((m) => MIGRATION_NAME.test(m.name));
  const byName = new Map(theirs.map((m) => [m.name, m]));
  const installed: Record<string, InstalledMigration> = {};
  const ours = new Set<string>();
  for (const [name, entry] of Object.entries(manifest?.migrations ?? {})) {
    installed[name] = entry;
    if (byName.has(entry.file)) ours.add(entry.file);
    else notes.push(`${MIGRATIONS_DIR}/${entry.file} (our ${name}) is gone; not added again`);
  }
  for (const m of source.migrations) {
    const entry = installed[m.name];
    if (entry && entry.sha256 !== sha256(m.content)) {
      notes.push(
        `our migration ${m.name} changed since it was installed as ${entry.file}; migrations ` +
          "are never re-applied, so the installed copy stays",
      );
    }
  }
  // A copy of one of ours already there (same suffix, same bytes), from a run that stopped
  // before writing the manifest: recorded, not copied again.
  for (const m of source.migrations) {
    if (installed[m.name]) continue;
    const suffix = m.name.match(MIGRATION_NAME)![2];
    const copy = theirs.find((t) =>
      !ours.has(t.name) && t.name.match(MIGRATION_NAME)![2] === suffix && t.content === m.content
    );
    if (copy) {
      installed[m.name] = { file: copy.name, sha256: sha256(m.content) };
      ours.add(copy.name);
      const later = theirs.find((t) =>
        t.name > copy.name && !source.migrations.some((s) => s.content === t.content)
      );
      if (later) {
        notes.push(
          `${MIGRATIONS_DIR}/${copy.name} is our ${m.name}, dated before your ${later.name}: ` +
            "if `supabase db push` has not applied it yet, it will ask for --include-all",
        );
      }
    }
  }
  const pending = source.migrations.filter((m) => !installed[m.name]);

  // What their migrations leave must not clash with what the pending ones create anew.
  const before = source.migrations.filter((m) => installed[m.name])
    .flatMap((m) => createdObjects(m.content));
  const created: { object: SqlObject; by: string }[] = pending.flatMap((m) =>
    createdObjects(m.content).map((object) => ({ object, by: m.name }))
  );
  const clashes = new Map<string, string[]>();
  for (const { object, createdBy } of survivingObjects(theirs.filter((t) => !ours.has(t.name)))) {
    const clash = created.find((c) => sameObject(c.object, object));
    if (!clash) continue;
    if (before.some((b) => sameObject(b, object))) {
      notes.push(
        `${MIGRATIONS_DIR}/${createdBy} creates ${object.label}, which our new migration ` +
          `${clash.by} defines again: check that yours still holds after it`,
      );
    } else {
      const list = clashes.get(createdBy) ?? [];
      if (!list.includes(object.label)) list.push(object.label);
      clashes.set(createdBy, list);
    }
  }
  for (const [file, labels] of clashes) {
    refusals.push({
      path: `${MIGRATIONS_DIR}/${file}`,
      reason: `creates ${labels.join(", ")}, which clerk-supabase-sync's migrations create: ` +
        `see "${ADOPTION_RECIPE}" in its documentation`,
    });
  }

  // Dated after their latest migration, in our order, so `supabase db push` applies them
  // without --include-all (it compares versions as text: supabase/cli pkg/migration/apply.go).
  const operations: Operation[] = [];
  if (pending.length === 0) return { operations, installed };
  const latest = theirs.map((t) => t.name).sort().at(-1);
  const latestVersion = latest === undefined ? "" : latest.match(MIGRATION_NAME)![1];
  let next = timestamp(now);
  if (latest !== undefined && !(next > latestVersion && `${next}_` > latest)) {
    if (!/^[0-9]{14}$/.test(latestVersion)) {
      refusals.push({
        path: `${MIGRATIONS_DIR}/${latest}`,
        reason: "its version is not a YYYYMMDDHHMMSS timestamp earlier than now, so add-to " +
          "cannot date its migrations after it",
      });
      return { operations, installed };
    }
    next = addSecond(latestVersion);
  }
  for (const m of pending) {
    const file = `${next}_${m.name.match(MIGRATION_NAME)![2]}`;
    installed[m.name] = { file, sha256: sha256(m.content) };
    operations.push({
      kind: "create",
      path: `${MIGRATIONS_DIR}/${file}`,
      content: m.content,
      before: null,
      note: `our ${m.name}`,
    });
    next = addSecond(next);
  }
  return { operations, installed };
}

function timestamp(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

function addSecond(version: string): string {
  const [y, mo, d, h, mi, s] = [0, 4, 6, 8, 10, 12].map((i, n) =>
    Number(version.slice(i, n === 0 ? 4 : i + 2))
  );
  return timestamp(new Date(Date.UTC(y, mo - 1, d, h, mi, s + 1)));
}
