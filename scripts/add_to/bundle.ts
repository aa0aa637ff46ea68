/**
 * What add-to installs of the functions: each function's module graph, walked from its
 * `index.ts` over relative imports as the Supabase CLI walks it when it deploys (supabase/cli
 * pkg/function/deno.go, `WalkImportPaths`), with the shared modules moved from
 * `supabase/functions/_shared/` to `supabase/functions/_clerk_sync/` (a user's `_shared/` is
 * common) and the relative imports that reach them rewritten; plus one `deno.json` per function
 * holding the entries of this project's `import_map.json` that its graph imports (the CLI picks
 * `functions/<name>/deno.json` up as the function's import map).
 */
import { posix } from "node:path";

/** The functions add-to installs. */
export const FUNCTION_NAMES = ["clerk-webhook", "clerk-profile-sync"] as const;
/** Where the shared modules live in this project. */
export const SHARED_SOURCE_DIR = "supabase/functions/_shared";
/** Where they go in the user's project: a name no one else's `_shared/` takes. */
export const SHARED_TARGET_DIR = "supabase/functions/_clerk_sync";
/** The folders add-to writes its function code into. */
export const FUNCTION_DIRS = [
  ...FUNCTION_NAMES.map((name) => `supabase/functions/${name}`),
  SHARED_TARGET_DIR,
];

/** A file to write, by its path from the project's root (POSIX separators). */
export interface InstallFile {
  readonly path: string;
  readonly content: string;
}

/** This project's function sources. */
export interface FunctionSources {
  /** Files under `supabase/functions/` by path from the source root (read on demand). */
  readonly files: ReadonlyMap<string, string>;
  /** The `imports` of this project's `import_map.json`. */
  readonly imports: Readonly<Record<string, string>>;
}

/** The source tree cannot be installed (a module outside the folders add-to copies, ...). */
export class SourceError extends Error {
  override name = "SourceError";
}

// Static imports and re-exports with `from`, side-effect imports and dynamic imports with a
// string literal: the forms the CLI's own pattern finds. No quote or `;` may come between the
// keyword and `from`, so a comment or a string is not taken for an import.
const IMPORT_PATTERN =
  /\b(?:import|export)\b[^'"`;]*?\bfrom\s*(['"])([^'"\n]+)\1|\bimport\s*(['"])([^'"\n]+)\3|\bimport\s*\(\s*(['"])([^'"\n]+)\5\s*\)/g;

/** Every import specifier of `code`, with where its text starts and ends. */
export function importSpecifiers(
  code: string,
): { specifier: string; start: number; end: number }[] {
  const found = [];
  for (const match of code.matchAll(IMPORT_PATTERN)) {
    const specifier = match[2] ?? match[4] ?? match[6];
    const quote = match[1] ?? match[3] ?? match[5];
    // The specifier is the last quoted text of the match.
    const end = match.index + match[0].lastIndexOf(quote);
    found.push({ specifier, start: end - specifier.length, end });
  }
  return found;
}

/** Where a module of this project goes in the user's project; null outside what add-to copies. */
export function targetPath(sourcePath: string): string | null {
  if (sourcePath.startsWith(`${SHARED_SOURCE_DIR}/`)) {
    return SHARED_TARGET_DIR + sourcePath.slice(SHARED_SOURCE_DIR.length);
  }
  for (const name of FUNCTION_NAMES) {
    if (sourcePath.startsWith(`supabase/functions/${name}/`)) return sourcePath;
  }
  return null;
}

/**
 * The files of both functions as they are written into the user's project: every module of
 * each graph once (shared ones under {@linkcode SHARED_TARGET_DIR}), imports rewritten, and a
 * `deno.json` per function. Throws {@linkcode SourceError} for a graph add-to cannot install.
 */
export function bundleFunctions(sources: FunctionSources): InstallFile[] {
  const out = new Map<string, string>();
  for (const name of FUNCTION_NAMES) {
    const entry = `supabase/functions/${name}/index.ts`;
    const bare = new Set<string>();
    const queue = [entry];
    const seen = new Set<string>();
    while (queue.length > 0) {
      const path = queue.pop()!;
      if (seen.has(path)) continue;
      seen.add(path);
      const code = sources.files.get(path);
      if (code === undefined) throw new SourceError(`${path} does not exist (imported by ${name})`);
      const to = targetPath(path);
      const owner = FUNCTION_NAMES.find((other) => path.startsWith(`supabase/functions/${other}/`));
      if (to === null || (owner !== undefined && owner !== name)) {
        throw new SourceError(
          `${name} imports ${path}: add-to copies only supabase/functions/${name}/ and ` +
            `${SHARED_SOURCE_DIR}/`,
        );
      }
      let rewritten = "";
      let last = 0;
      for (const { specifier, start, end } of importSpecifiers(code)) {
        if (!specifier.startsWith("./") && !specifier.startsWith("../")) {
          if (!/^[a-z]+:/.test(specifier)) bare.add(specifier);
          continue;
        }
        const imported = posix.join(posix.dirname(path), specifier);
        queue.push(imported);
        const importedTo = targetPath(imported);
        if (importedTo === null) continue; // refused when `imported` is visited
        let next = posix.relative(posix.dirname(to), importedTo);
        if (!next.startsWith(".")) next = `./${next}`;
        if (next === specifier) continue;
        rewritten += code.slice(last, start) + next;
        last = end;
      }
      out.set(to, rewritten + code.slice(last));
    }
    out.set(`supabase/functions/${name}/deno.json`, denoJson(name, bare, sources.imports));
  }
  return [...out].map(([path, content]) => ({ path, content }))
    .sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
}

// The import map entries the graph uses (an exact key, or the longest `prefix/` key), as the
// `imports` of a deno.json (all that Supabase's own template for a function's deno.json holds).
function denoJson(
  name: string,
  bare: ReadonlySet<string>,
  imports: Readonly<Record<string, string>>,
): string {
  const used: Record<string, string> = {};
  for (const specifier of [...bare].sort()) {
    const key = specifier in imports ? specifier : Object.keys(imports)
      .filter((k) => k.endsWith("/") && specifier.startsWith(k))
      .sort((a, b) => b.length - a.length)[0];
    if (key === undefined) {
      throw new SourceError(`${name} imports "${specifier}", which import_map.json does not map`);
    }
    used[key] = imports[key];
  }
  return `${JSON.stringify({ imports: used }, null, 2)}\n`;
}
