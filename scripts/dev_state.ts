/**
 * The file through which a running `npm run dev` tells `npm run send` (in another terminal)
 * where the function is and which secret it verifies with: the KEY=value lines dev prints.
 */

import { readTextFileIfExists } from "../backfill/optional_file.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** Where dev writes its lines unless CLERK_SYNC_DEV_STATE says otherwise (gitignored). */
export function defaultStatePath(): string {
  return `${ROOT}supabase/.temp/dev-stack.env`;
}

/** The lines of a running dev stack, or null when no state file exists at `path`. */
export async function readDevState(path: string): Promise<Record<string, string> | null> {
  const text = await readTextFileIfExists(path);
  if (text === null) return null;
  const values: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0 && !line.startsWith("#")) values[line.slice(0, at)] = line.slice(at + 1);
  }
  return values;
}
