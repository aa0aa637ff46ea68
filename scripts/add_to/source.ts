/**
 * Reads what add-to installs from a clerk-supabase-sync tree (this clone by default): its
 * migrations, the function graphs (scripts/add_to/bundle.ts) with `import_map.json`'s versions,
 * and which version it is (package.json's, and the git commit when the tree is a checkout).
 */
import { bundleFunctions, FUNCTION_NAMES, SHARED_SOURCE_DIR, SourceError } from "./bundle.ts";
import type { SourceVersion } from "./manifest.ts";
import type { MigrationFile, Source } from "./plan.ts";

/** The paths add-to copies from, for `git status`. */
const COPIED = ["supabase/functions", "supabase/migrations", "import_map.json"];

/** Reads the tree at `root`; throws {@linkcode SourceError} when it is not one add-to can use. */
export async function readSource(root: string): Promise<Source> {
  const packageJson = await readJson(`${root}/package.json`);
  if (packageJson?.name !== "clerk-supabase-sync" || typeof packageJson.version !== "string") {
    throw new SourceError(`${root} is not a clerk-supabase-sync tree (no package.json of it)`);
  }
  const importMap = await readJson(`${root}/import_map.json`);
  const imports = importMap?.imports;
  if (typeof imports !== "object" || imports === null) {
    throw new SourceError(`${root}/import_map.json has no "imports"`);
  }
  const files = new Map<string, string>();
  for (const dir of [...FUNCTION_NAMES.map((n) => `supabase/functions/${n}`), SHARED_SOURCE_DIR]) {
    await readTree(root, dir, files);
  }
  const migrations: MigrationFile[] = [];
  for (const entry of await listDir(`${root}/supabase/migrations`)) {
    if (!entry.isFile || !/^[0-9]+_.+\.sql$/.test(entry.name)) continue;
    const content = await Deno.readTextFile(`${root}/supabase/migrations/${entry.name}`);
    migrations.push({ name: entry.name, content });
  }
  migrations.sort((a, b) => a.name < b.name ? -1 : 1);
  if (migrations.length === 0) throw new SourceError(`${root}/supabase/migrations has none`);
  return {
    version: { version: packageJson.version, ...await gitVersion(root) },
    migrations,
    files: bundleFunctions({ files, imports: imports as Record<string, string> }),
  };
}

async function readTree(root: string, dir: string, into: Map<string, string>): Promise<void> {
  for (const entry of await listDir(`${root}/${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) await readTree(root, path, into);
    else if (entry.isFile) into.set(path, await Deno.readTextFile(`${root}/${path}`));
  }
}

async function listDir(path: string): Promise<Deno.DirEntry[]> {
  try {
    return await Array.fromAsync(Deno.readDir(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

async function readJson(path: string): Promise<Record<string, unknown> | null> {
  try {
    const value = JSON.parse(await Deno.readTextFile(path));
    return typeof value === "object" && value !== null ? value : null;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof SyntaxError) return null;
    throw error;
  }
}

// The commit of the checkout `root` is the top of, and whether the copied files differ from it;
// no commit when git is missing or `root` is not the top of a checkout (an exported tree).
async function gitVersion(root: string): Promise<Pick<SourceVersion, "commit" | "modified">> {
  const top = await git(root, ["rev-parse", "--show-toplevel"]);
  if (top === null || await Deno.realPath(top) !== await Deno.realPath(root)) {
    return { commit: null, modified: false };
  }
  const commit = await git(root, ["rev-parse", "HEAD"]);
  const status = await git(root, ["status", "--porcelain", "--", ...COPIED]);
  return { commit, modified: status !== null && status !== "" };
}

async function git(cwd: string, args: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command("git", {
      args,
      cwd,
      stdout: "piped",
      stderr: "null",
      env: { GIT_OPTIONAL_LOCKS: "0" },
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotCapable) {
      return null;
    }
    throw error;
  }
}
