/**
 * The pure part of add-to: from this project's files and a snapshot of the user's project, the
 * file operations that install (or upgrade) the sync, or the reasons to refuse. Nothing here
 * reads or writes a file; scripts/add_to/apply.ts carries a plan out.
 */
import { FUNCTION_DIRS, FUNCTION_NAMES, type InstallFile } from "./bundle.ts";
import {
  appendBlock,
  BLOCK_HEADER,
  clerkAuthHint,
  definesFunction,
  functionTables,
  scanConfig,
} from "./config_toml.ts";
import {
  type Manifest,
  MANIFEST_PATH,
  ManifestError,
  parseManifest,
  renderManifest,
  sha256,
  type SourceVersion,
} from "./manifest.ts";
import { planMigrations } from "./migrations.ts";

export { ADOPTION_RECIPE, MIGRATIONS_DIR } from "./migrations.ts";

/** The user's config, from the project's root. */
export const CONFIG_PATH = "supabase/config.toml";

/** A migration file: its name and text. */
export interface MigrationFile {
  readonly name: string;
  readonly content: string;
}

/** What add-to installs, read from a clerk-supabase-sync tree. */
export interface Source {
  readonly version: SourceVersion;
  /** Its migrations, in order. */
  readonly migrations: readonly MigrationFile[];
  /** The function files as written into a project (scripts/add_to/bundle.ts). */
  readonly files: readonly InstallFile[];
}

/** What add-to reads of the user's project. */
export interface Target {
  /** `supabase/config.toml`. */
  readonly configToml: string;
  /** Every file in `supabase/migrations/`, in name order (`null` when the folder is missing). */
  readonly migrations: readonly MigrationFile[] | null;
  /** `supabase/clerk-sync.json`, null when missing. */
  readonly manifestText: string | null;
  /** Every file under the folders add-to writes functions into, by path from the root. */
  readonly files: ReadonlyMap<string, string>;
}

/** One file operation. `before` is the content the plan was made against (null: no file). */
export type Operation =
  | { kind: "create"; path: string; content: string; before: null; note?: string }
  | { kind: "update"; path: string; content: string; before: string; note?: string }
  | { kind: "append"; path: string; content: string; before: string; note?: string }
  | { kind: "delete"; path: string; before: string; note?: string };

/** Something of the user's in the way, by the file it is in. */
export interface Refusal {
  readonly path: string;
  readonly reason: string;
}

/** What add-to will do. */
export interface Plan {
  /** The version installed before (from the manifest), null on a first install. */
  readonly installed: SourceVersion | null;
  readonly source: SourceVersion;
  /** In the order they are applied (the manifest last). */
  readonly operations: readonly Operation[];
  /** Non-empty: nothing may be written. */
  readonly refusals: readonly Refusal[];
  /** Warnings that do not stop the run. */
  readonly notes: readonly string[];
}

/** Plans installing `source` into `target` at time `now` (new migrations are dated from it). */
export function planAddTo(source: Source, target: Target, now: Date): Plan {
  const refusals: Refusal[] = [];
  const notes: string[] = [];
  let manifest: Manifest | null = null;
  if (target.manifestText !== null) {
    try {
      manifest = parseManifest(target.manifestText);
    } catch (error) {
      if (!(error instanceof ManifestError)) throw error;
      refusals.push({
        path: MANIFEST_PATH,
        reason: `cannot be read (${error.message}): restore it from version control`,
      });
      return { installed: null, source: source.version, operations: [], refusals, notes };
    }
  }
  const migrationOps = planMigrations(source, target, manifest, now, refusals, notes);
  const fileOps = planFiles(source, target, manifest, refusals);
  const configOp = planConfig(target, manifest, refusals, notes);
  const changes = [...fileOps, ...migrationOps.operations, ...(configOp ? [configOp] : [])];

  const next: Manifest = {
    source: changes.length > 0 || !manifest ? source.version : manifest.source,
    migrations: migrationOps.installed,
    files: Object.fromEntries(source.files.map((f) => [f.path, sha256(f.content)])),
    config_toml: functionTables(FUNCTION_NAMES),
  };
  const manifestText = renderManifest(next);
  const operations: Operation[] = [...changes];
  if (target.manifestText === null) {
    operations.push({ kind: "create", path: MANIFEST_PATH, content: manifestText, before: null });
  } else if (target.manifestText !== manifestText) {
    operations.push({
      kind: "update",
      path: MANIFEST_PATH,
      content: manifestText,
      before: target.manifestText,
    });
  }
  return {
    installed: manifest?.source ?? null,
    source: source.version,
    operations: refusals.length > 0 ? [] : operations,
    refusals,
    notes,
  };
}

function planFiles(
  source: Source,
  target: Target,
  manifest: Manifest | null,
  refusals: Refusal[],
): Operation[] {
  const owned = manifest?.files ?? {};
  const planned = new Map(source.files.map((f) => [f.path, f.content]));
  const operations: Operation[] = [];
  for (const [path, content] of planned) {
    const current = target.files.get(path);
    if (current === undefined) {
      operations.push({ kind: "create", path, content, before: null });
    } else if (current === content) {
      continue;
    } else if (owned[path] === undefined) {
      refusals.push({ path, reason: notOurs(path) });
    } else if (sha256(current) !== owned[path]) {
      refusals.push({ path, reason: edited });
    } else {
      operations.push({ kind: "update", path, content, before: current });
    }
  }
  for (const [path, digest] of Object.entries(owned)) {
    const current = target.files.get(path);
    if (planned.has(path) || current === undefined) continue;
    if (sha256(current) !== digest) {
      refusals.push({ path, reason: `${edited} (this version has no such file)` });
    } else operations.push({ kind: "delete", path, before: current, note: "no longer part of it" });
  }
  // On a first install the folders must be new, or hold only what add-to would write.
  if (!manifest) {
    for (const path of target.files.keys()) {
      if (!planned.has(path)) refusals.push({ path, reason: notOurs(path) });
    }
  }
  return operations;
}

const edited = "was changed after add-to wrote it: move your change out of the file (or restore " +
  "it from version control) and run add-to again";

function notOurs(path: string): string {
  const folder = FUNCTION_DIRS.find((dir) => path.startsWith(`${dir}/`)) ?? path;
  return `exists and was not written by add-to; ${folder}/ is where add-to writes its code: ` +
    "rename or move yours";
}

function planConfig(
  target: Target,
  manifest: Manifest | null,
  refusals: Refusal[],
  notes: string[],
): Operation | null {
  const text = target.configToml;
  const facts = scanConfig(text);
  const local = (s: string) => facts.newline === "\n" ? s : s.replaceAll("\n", "\r\n");
  const tables = functionTables(FUNCTION_NAMES);
  if (text.includes(local(tables))) return null;
  if (manifest) {
    const old = local(manifest.config_toml);
    if (old !== "" && text.split(old).length === 2) {
      return {
        kind: "update",
        path: CONFIG_PATH,
        content: text.replace(old, () => local(tables)),
        before: text,
        note: "its [functions.*] tables",
      };
    }
    refusals.push({
      path: CONFIG_PATH,
      reason: `the tables add-to appended were changed; make them read:\n${tables}`,
    });
    return null;
  }
  for (const name of FUNCTION_NAMES) {
    if (definesFunction(facts, name)) {
      refusals.push({
        path: CONFIG_PATH,
        reason: `already has [functions.${name}]: remove it (add-to appends its own) and run again`,
      });
    }
  }
  const hint = clerkAuthHint(facts);
  if (facts.denoVersion !== null && facts.denoVersion < 2) {
    notes.push(
      `${CONFIG_PATH} sets [edge_runtime] deno_version = ${facts.denoVersion}: the functions ` +
        "need Deno 2 (the hosted runtime's); `supabase functions serve` uses that setting",
    );
  }
  const block = `${BLOCK_HEADER}${tables}${hint ? `\n${hint}` : ""}`;
  return {
    kind: "append",
    path: CONFIG_PATH,
    content: appendBlock(text, block, facts.newline),
    before: text,
    note: FUNCTION_NAMES.map((n) => `[functions.${n}]`).join(", ") +
      (hint ? "; [auth.third_party.clerk] to fill in" : ""),
  };
}
