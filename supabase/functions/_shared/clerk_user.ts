import { PayloadError } from "./errors.ts";

/** The fields of Clerk's user object (webhook `data`, Backend API JSON) that the sync reads. */
export interface ClerkUserJson {
  id?: unknown;
  email_addresses?: unknown;
  primary_email_address_id?: unknown;
  phone_numbers?: unknown;
  primary_phone_number_id?: unknown;
  first_name?: unknown;
  last_name?: unknown;
  username?: unknown;
  image_url?: unknown;
  public_metadata?: unknown;
  created_at?: unknown;
  updated_at?: unknown;
}

/** One row of `public.profiles` as the sync writes it. */
export interface Profile {
  user_id: string;
  email: string | null;
  phone: string | null;
  first_name: string | null;
  last_name: string | null;
  username: string | null;
  image_url: string | null;
  public_metadata: Record<string, unknown>;
  clerk_created_at: string | null;
  clerk_updated_at: string;
}

/** The deepest `public_metadata` stored, in levels of objects and arrays (the top one is 1). */
export const MAX_METADATA_DEPTH = 100;
/** The latest epoch milliseconds accepted: 9999-12-31T23:59:59.999Z (PostgreSQL and JS agree). */
export const MAX_EPOCH_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

// PostgreSQL's text and jsonb refuse U+0000 (22P05) and a lone surrogate (22P02, 22P05): such a
// value would fail on every retry. Stored strings drop them; an id holding them is refused.
// deno-lint-ignore no-control-regex -- U+0000 is what is matched
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
// deno-lint-ignore no-control-regex -- U+0000 is what is matched
const MAYBE_UNSTORABLE = /[\u0000\ud800-\udfff]/;
// deno-lint-ignore no-control-regex -- an id is matched against control characters on purpose
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Maps a Clerk user object to a profile row; private and unsafe metadata are never read. Strings
 * lose NUL characters and lone surrogates; throws {@linkcode PayloadError} naming the field for
 * what cannot be stored (a bad id, a timestamp out of range, metadata nested too deep).
 */
export function toProfile(user: ClerkUserJson): Profile {
  const userId = userIdOf(user.id);
  if (userId === null) throw new PayloadError("data.id is missing");
  const updatedAt = epochMsToIso(user.updated_at);
  if (!updatedAt) throw new PayloadError(invalidTimestamp("data.updated_at"));
  return {
    user_id: userId,
    email: primaryEntry(user.email_addresses, user.primary_email_address_id, "email_address"),
    phone: primaryEntry(user.phone_numbers, user.primary_phone_number_id, "phone_number"),
    first_name: textOrNull(user.first_name),
    last_name: textOrNull(user.last_name),
    username: textOrNull(user.username),
    image_url: textOrNull(user.image_url),
    public_metadata: cleanMetadata(user.public_metadata, "data.public_metadata"),
    clerk_created_at: optionalTimestamp(user.created_at, "data.created_at"),
    clerk_updated_at: updatedAt,
  };
}

/**
 * A Clerk user id from `data.id`: null when missing or empty; throws {@linkcode PayloadError} when
 * it holds control characters or lone surrogates, which no id has and no log line should show.
 */
export function userIdOf(value: unknown): string | null {
  return clerkIdOf(value, "data.id");
}

/**
 * A Clerk id (`user_...`, `org_...`, `orgmem_...`) from the field at `path`: null when missing or
 * empty; throws {@linkcode PayloadError} naming `path` when it holds control characters or lone
 * surrogates.
 */
export function clerkIdOf(value: unknown, path: string): string | null {
  return exactText(value, path);
}

/**
 * A string stored exactly as sent, never cleaned: for values that identify something or grant
 * rights (ids, roles, permissions, slugs), where a cleaned `"org:ad\u0000min"` would become another,
 * valid value (`org:admin`). Null when missing or empty; throws {@linkcode PayloadError} naming
 * `path` when it holds control characters or lone surrogates.
 */
export function exactText(value: unknown, path: string): string | null {
  if (typeof value !== "string" || value === "") return null;
  if (CONTROL.test(value) || storable(value) !== value) {
    throw new PayloadError(`${path} contains control characters or lone surrogates`);
  }
  return value;
}

/** The name a log line shows for a profile: first and last name, else the username. */
export function displayName(profile: Profile): string | null {
  const fullName = [profile.first_name, profile.last_name].filter(Boolean).join(" ");
  return fullName || profile.username;
}

/**
 * Converts Clerk's epoch milliseconds to an ISO timestamp, or null unless it is an integer from
 * 1970 to 9999 (a wider value, 8.64e15 say, is valid in JS but not in PostgreSQL: 22008/22009).
 */
export function epochMsToIso(value: unknown): string | null {
  if (typeof value !== "number" || !Number.isInteger(value)) return null;
  if (value <= 0 || value > MAX_EPOCH_MS) return null;
  return new Date(value).toISOString();
}

/** The message for a field (`data.updated_at`) whose value {@linkcode epochMsToIso} refuses. */
export function invalidTimestamp(path: string): string {
  return `${path} is not a valid timestamp (epoch milliseconds from 1970 to 9999)`;
}

/** Whether a value is a plain JSON object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// Clerk lists every address a user has; the primary one is named by id and need not be first.
function primaryEntry(entries: unknown, primaryId: unknown, field: string): string | null {
  if (!Array.isArray(entries) || typeof primaryId !== "string") return null;
  const primary = entries.find((entry) => isRecord(entry) && entry.id === primaryId);
  return isRecord(primary) ? textOrNull(primary[field]) : null;
}

/** A string made storable (NULs and lone surrogates dropped); null when absent or empty. */
export function textOrNull(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const text = storable(value);
  return text !== "" ? text : null;
}

/** An optional epoch-ms timestamp: null when absent; throws {@linkcode PayloadError} when bad. */
export function optionalTimestamp(value: unknown, path: string): string | null {
  if (value === null || value === undefined) return null;
  const iso = epochMsToIso(value);
  if (!iso) throw new PayloadError(invalidTimestamp(path));
  return iso;
}

/**
 * Metadata as stored: a copy of the object at `path` with every string and key made storable, {}
 * when it is not an object; throws {@linkcode PayloadError} naming `path` when nested deeper than
 * {@linkcode MAX_METADATA_DEPTH}.
 */
export function cleanMetadata(value: unknown, path: string): Record<string, unknown> {
  return isRecord(value) ? cleanJson(value, 1, path) as Record<string, unknown> : {};
}

// A copy of parsed JSON with every string and key made storable. Object.fromEntries defines own
// properties, so a "__proto__" key stays data, as JSON.parse made it.
function cleanJson(value: unknown, depth: number, path: string): unknown {
  if (typeof value === "string") return storable(value);
  if (typeof value !== "object" || value === null) return value;
  if (depth > MAX_METADATA_DEPTH) {
    throw new PayloadError(`${path} is nested deeper than ${MAX_METADATA_DEPTH} levels`);
  }
  if (Array.isArray(value)) return value.map((item) => cleanJson(item, depth + 1, path));
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [storable(key), cleanJson(item, depth + 1, path)]),
  );
}

function storable(text: string): string {
  return MAYBE_UNSTORABLE.test(text) ? text.replace(UNSTORABLE, "") : text;
}
