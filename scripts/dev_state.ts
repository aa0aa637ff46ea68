/**
 * The file through which a running `npm run dev` tells `npm run send` and `npm run token` (in
 * another terminal) where the functions are, which secret the webhook verifies with and, when dev
 * runs the Clerk API stand-in, the stand-in instance's private signing key: the KEY=value lines
 * dev prints, plus that key as one JSON line. Mode 0600: only this user reads it.
 */

import { readTextFileIfExists } from "../backfill/optional_file.ts";
import type { ClerkSigningKey } from "../tests/support/clerk_session.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const RSA = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };

/** The state file's line that holds the stand-in's signing key (never printed). */
export const SESSION_KEY = "CLERK_SESSION_SIGNING_KEY";

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

/** Writes the state file atomically (a temporary file renamed over it), mode 0600. */
export async function writeDevState(path: string, lines: string[]): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  if (dir) await Deno.mkdir(dir, { recursive: true });
  const temporary = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(temporary, lines.join("\n") + "\n", { mode: 0o600 });
  // An existing file keeps its mode through writeTextFile; a new one gets it minus the umask.
  await Deno.chmod(temporary, 0o600);
  await Deno.rename(temporary, path);
}

/** The signing key as the one-line JSON value of {@linkcode SESSION_KEY}. */
export async function exportSessionKey(key: ClerkSigningKey): Promise<string> {
  const privateJwk = await crypto.subtle.exportKey("jwk", key.privateKey);
  return JSON.stringify({ kid: key.kid, jwk: key.jwk, pem: key.pem, privateJwk });
}

/** The signing key back from {@linkcode exportSessionKey}'s text; throws when it is not one. */
export async function importSessionKey(text: string): Promise<ClerkSigningKey> {
  const parsed = JSON.parse(text);
  if (
    typeof parsed?.kid !== "string" || typeof parsed.pem !== "string" ||
    typeof parsed.jwk !== "object" || typeof parsed.privateJwk !== "object"
  ) {
    throw new Error(`${SESSION_KEY} is not a signing key`);
  }
  const privateKey = await crypto.subtle.importKey("jwk", parsed.privateJwk, RSA, false, ["sign"]);
  return { kid: parsed.kid, jwk: parsed.jwk, pem: parsed.pem, privateKey };
}
