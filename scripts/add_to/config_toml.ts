/**
 * The user's `supabase/config.toml`, read without re-serialising it: add-to only appends (every
 * byte before its block stays), so all it needs to know is which tables the file already
 * defines. A line scanner is enough for that: table headers (`[a.b]`, `[[a.b]]`) and dotted keys
 * (`functions.name.verify_jwt = false` at the top, or `name = {...}` under `[functions]`),
 * skipping comments and multi-line strings.
 */

/** The tables of a config.toml that add-to looks at. */
export interface ConfigFacts {
  /** Every table the file defines (headers and dotted-key parents), dotted, unquoted. */
  readonly tables: ReadonlySet<string>;
  /** `enabled` under `[auth.third_party.clerk]` (`true`, `false`), null when not set. */
  readonly clerkAuthEnabled: boolean | null;
  /** `deno_version` under `[edge_runtime]`, null when not set. */
  readonly denoVersion: number | null;
  /** The line ending the file uses (`\r\n` if any line has one). */
  readonly newline: "\n" | "\r\n";
}

const CLERK_AUTH = "auth.third_party.clerk";

/** Reads the tables `text` defines. */
export function scanConfig(text: string): ConfigFacts {
  const tables = new Set<string>();
  let current: string[] = [];
  let clerkAuthEnabled: boolean | null = null;
  let denoVersion: number | null = null;
  let multiline: string | null = null;
  for (const raw of text.split(/\r?\n/)) {
    if (multiline !== null) {
      if (countUnescaped(raw, multiline) % 2 === 1) multiline = null;
      continue;
    }
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const header = line.match(/^\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$/);
    if (header) {
      current = splitKey(header[1]);
      addWithParents(tables, current);
      continue;
    }
    const key = line.match(
      /^((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=\s*(.*)$/,
    );
    if (!key) continue;
    const path = [...current, ...splitKey(key[1])];
    const value = key[2];
    // A dotted key defines its parents; an inline table value defines the key itself.
    addWithParents(tables, path.slice(0, -1));
    if (value.startsWith("{")) addWithParents(tables, path);
    if (path.join(".") === `${CLERK_AUTH}.enabled`) {
      clerkAuthEnabled = /^true\b/.test(value) ? true : /^false\b/.test(value) ? false : null;
    }
    if (path.join(".") === "edge_runtime.deno_version") {
      denoVersion = /^[0-9]+\b/.test(value) ? parseInt(value) : null;
    }
    for (const quote of ['"""', "'''"]) {
      if (value.includes(quote) && countUnescaped(value, quote) % 2 === 1) multiline = quote;
    }
  }
  return {
    tables,
    clerkAuthEnabled,
    denoVersion,
    newline: text.includes("\r\n") ? "\r\n" : "\n",
  };
}

/** Whether the file defines `[functions.<name>]` (or anything below it). */
export function definesFunction(facts: ConfigFacts, name: string): boolean {
  return facts.tables.has(`functions.${name}`);
}

/** Whether the file defines `[auth.third_party.clerk]`. */
export function definesClerkAuth(facts: ConfigFacts): boolean {
  return facts.tables.has(CLERK_AUTH);
}

/**
 * The `[functions.<name>]` tables add-to appends, as `supabase functions new` writes them
 * (supabase/cli internal/functions/new/templates/config.toml): paths relative to `supabase/`,
 * the function's own `deno.json` as its import map. `verify_jwt = false`: Clerk's webhooks carry
 * a Svix signature and sync on visit a Clerk session token, neither of which the platform's JWT
 * check accepts; both functions verify what they receive themselves.
 */
export function functionTables(names: readonly string[]): string {
  return names.map((name) =>
    [
      `[functions.${name}]`,
      "enabled = true",
      "verify_jwt = false",
      `import_map = "./functions/${name}/deno.json"`,
      `entrypoint = "./functions/${name}/index.ts"`,
      "",
    ].join("\n")
  ).join("\n");
}

/**
 * What add-to says about Clerk as a third-party auth provider: the block commented out when the
 * file has none, a pointer to the user's own when it is there but not enabled, nothing when enabled.
 */
export function clerkAuthHint(facts: ConfigFacts): string {
  if (facts.clerkAuthEnabled === true) return "";
  const what = "your Clerk instance's Frontend API domain (Clerk Dashboard, " +
    "https://dashboard.clerk.com/setup/supabase)";
  if (definesClerkAuth(facts)) {
    return [
      "# Clerk session tokens for your tables' RLS: in [auth.third_party.clerk] above, set",
      `# enabled = true and domain = ${what}.`,
      "",
    ].join("\n");
  }
  return [
    "# Clerk session tokens for your tables' RLS: uncomment, with domain set to",
    `# ${what}.`,
    "# [auth.third_party.clerk]",
    "# enabled = true",
    '# domain = "your-instance.clerk.accounts.dev"',
    "",
  ].join("\n");
}

/** The comment that opens add-to's block. */
export const BLOCK_HEADER = [
  "# clerk-supabase-sync: added by its add-to command (installed version: clerk-sync.json).",
  "# verify_jwt = false: Clerk's webhooks carry a Svix signature and sync on visit a Clerk",
  "# session token; the platform's JWT check accepts neither, and both functions verify theirs.",
  "",
].join("\n");

/**
 * `text` with add-to's block appended after a blank line, in the file's line endings; the bytes
 * of `text` are the new file's first bytes.
 */
export function appendBlock(text: string, block: string, newline: "\n" | "\r\n"): string {
  const body = newline === "\n" ? block : block.replaceAll("\n", "\r\n");
  const separator = text === "" ? "" : text.endsWith("\n") ? newline : newline + newline;
  return text + separator + body;
}

function splitKey(key: string): string[] {
  const parts = key.match(/"[^"]*"|'[^']*'|[^.\s]+/g) ?? [];
  return parts.map((p) => p.startsWith('"') || p.startsWith("'") ? p.slice(1, -1) : p);
}

function addWithParents(tables: Set<string>, path: string[]): void {
  for (let i = 1; i <= path.length; i++) tables.add(path.slice(0, i).join("."));
}

function countUnescaped(text: string, quote: string): number {
  return text.split(quote).length - 1;
}
