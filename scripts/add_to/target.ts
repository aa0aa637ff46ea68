/** Reads what add-to needs of the user's project (scripts/add_to/plan.ts's `Target`). */
import { readTextFileIfExists } from "../../backfill/optional_file.ts";
import { FUNCTION_DIRS } from "./bundle.ts";
import { MANIFEST_PATH } from "./manifest.ts";
import { CONFIG_PATH, type MigrationFile, MIGRATIONS_DIR, type Target } from "./plan.ts";

/** The project cannot take the sync (not a Supabase project, ...). */
export class TargetError extends Error {
  override name = "TargetError";
}

/**
 * Reads the project at `root`; throws {@linkcode TargetError} when it is not a Supabase project
 * or cannot be read.
 */
export async function readTarget(root: string): Promise<Target> {
  try {
    return await read(root);
  } catch (error) {
    const unreadable = [
      Deno.errors.PermissionDenied,
      Deno.errors.NotADirectory,
      Deno.errors.IsADirectory,
      Deno.errors.InvalidData,
    ];
    if (unreadable.some((kind) => error instanceof kind)) {
      throw new TargetError(`cannot read ${root}: ${(error as Error).message}`);
    }
    throw error;
  }
}

async function read(root: string): Promise<Target> {
  const info = await stat(root);
  if (!info?.isDirectory) throw new TargetError(`${root} is not a directory`);
  const configToml = await readTextFileIfExists(`${root}/${CONFIG_PATH}`);
  if (configToml === null) {
    throw new TargetError(
      `${root} has no ${CONFIG_PATH}: give the folder that holds your supabase/ ` +
        "(or run `supabase init` there first)",
    );
  }
  let migrations: MigrationFile[] | null = null;
  const migrationsInfo = await stat(`${root}/${MIGRATIONS_DIR}`);
  if (migrationsInfo) {
    if (!migrationsInfo.isDirectory) {
      throw new TargetError(`${root}/${MIGRATIONS_DIR} is not a directory`);
    }
    migrations = [];
    for await (const entry of Deno.readDir(`${root}/${MIGRATIONS_DIR}`)) {
      if (entry.isDirectory || !entry.name.endsWith(".sql")) continue;
      const content = await Deno.readTextFile(`${root}/${MIGRATIONS_DIR}/${entry.name}`);
      migrations.push({ name: entry.name, content });
    }
    migrations.sort((a, b) => a.name < b.name ? -1 : 1);
  }
  const files = new Map<string, string>();
  for (const dir of FUNCTION_DIRS) await readTree(root, dir, files);
  return {
    configToml,
    migrations,
    manifestText: await readTextFileIfExists(`${root}/${MANIFEST_PATH}`),
    files,
  };
}

// Every entry below `dir` that is not a directory counts as a file (a symlink too: add-to would
// not write through it).
async function readTree(root: string, dir: string, into: Map<string, string>): Promise<void> {
  const info = await stat(`${root}/${dir}`, { follow: false });
  if (!info) return;
  if (!info.isDirectory) {
    into.set(dir, "");
    return;
  }
  for await (const entry of Deno.readDir(`${root}/${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) await readTree(root, path, into);
    else if (entry.isSymlink) into.set(path, `symlink:${await Deno.readLink(`${root}/${path}`)}`);
    else into.set(path, await Deno.readTextFile(`${root}/${path}`));
  }
}

async function stat(path: string, { follow = true } = {}): Promise<Deno.FileInfo | null> {
  try {
    return await (follow ? Deno.stat(path) : Deno.lstat(path));
  } catch (error) {
    // A file where a folder of the path should be: nothing there to read (writing fails later).
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return null;
    }
    throw error;
  }
}
