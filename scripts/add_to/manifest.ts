/**
 * `supabase/clerk-sync.json` in the user's project: which version of clerk-supabase-sync add-to
 * installed, the file each of its migrations became, the hash of every function file it wrote
 * (so that an upgrade can tell a file the user edited, and leave it), and the config.toml
 * tables it appended (so that an upgrade can find them).
 */
import { createHash } from "node:crypto";

/** Where the manifest lives, from the project's root. */
export const MANIFEST_PATH = "supabase/clerk-sync.json";

/** Which clerk-supabase-sync a tree is. */
export interface SourceVersion {
  /** `version` of its package.json. */
  readonly version: string;
  /** Its git commit, null when it is not a git checkout. */
  readonly commit: string | null;
  /** Whether the files add-to copies differ from that commit. */
  readonly modified: boolean;
}

/** One of this project's migrations as installed. */
export interface InstalledMigration {
  /** The file it became in the user's `supabase/migrations/`. */
  readonly file: string;
  /** sha256 of its text (the same bytes in both projects). */
  readonly sha256: string;
}

/** The manifest's content. */
export interface Manifest {
  readonly source: SourceVersion;
  /** By this project's migration file name. */
  readonly migrations: Readonly<Record<string, InstalledMigration>>;
  /** sha256 of each function file written, by path from the project's root. */
  readonly files: Readonly<Record<string, string>>;
  /** The `[functions.*]` tables appended to supabase/config.toml, verbatim. */
  readonly config_toml: string;
}

/** The manifest cannot be read. */
export class ManifestError extends Error {
  override name = "ManifestError";
}

/** sha256 of `text` (UTF-8), hex. */
export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Parses a manifest; throws {@linkcode ManifestError} naming what is wrong. */
export function parseManifest(text: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`not JSON (${error instanceof Error ? error.message : error})`);
  }
  const m = record(value, "the manifest");
  const source = record(m.source, "source");
  const version = string(source.version, "source.version");
  const commit = source.commit === null ? null : string(source.commit, "source.commit");
  const modified = source.modified === true;
  const migrations: Record<string, InstalledMigration> = {};
  for (const [name, entry] of Object.entries(record(m.migrations, "migrations"))) {
    const e = record(entry, `migrations["${name}"]`);
    migrations[name] = {
      file: migrationFile(string(e.file, `migrations["${name}"].file`)),
      sha256: hash(e.sha256, `migrations["${name}"].sha256`),
    };
  }
  const files: Record<string, string> = {};
  for (const [path, digest] of Object.entries(record(m.files, "files"))) {
    if (!/^supabase\/functions\/[^/]+(\/[^/]+)+$/.test(path) || path.split("/").includes("..")) {
      throw new ManifestError(`files: "${path}" is not a path under supabase/functions/`);
    }
    files[path] = hash(digest, `files["${path}"]`);
  }
  const config_toml = string(m.config_toml, "config_toml");
  return { source: { version, commit, modified }, migrations, files, config_toml };
}

/** The manifest as written: stable key order, two-space indent, a final newline. */
export function renderManifest(manifest: Manifest): string {
  const sorted = <T>(o: Readonly<Record<string, T>>) =>
    Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
  const doc = {
    $comment: "Written by clerk-supabase-sync's add-to command; it reads this file to upgrade. " +
      "Do not edit.",
    source: manifest.source,
    migrations: sorted(manifest.migrations),
    files: sorted(manifest.files),
    config_toml: manifest.config_toml,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ManifestError(`${what} is not an object`);
  }
  return value as Record<string, unknown>;
}

function string(value: unknown, what: string): string {
  if (typeof value !== "string") throw new ManifestError(`${what} is not a string`);
  return value;
}

function hash(value: unknown, what: string): string {
  if (typeof value !== "string" || !/^[0-9a-f]{64}$/.test(value)) {
    throw new ManifestError(`${what} is not a sha256`);
  }
  return value;
}

function migrationFile(name: string): string {
  if (!/^[0-9]+_[^/\\]+\.sql$/.test(name)) {
    throw new ManifestError(`"${name}" is not a migration file name`);
  }
  return name;
}
