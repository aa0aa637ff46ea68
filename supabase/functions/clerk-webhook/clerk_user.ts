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

/** Maps a Clerk user object to a profile row; private and unsafe metadata are never read. */
export function toProfile(user: ClerkUserJson): Profile {
  const userId = textOrNull(user.id);
  if (!userId) throw new PayloadError("user has no id");
  const updatedAt = epochMsToIso(user.updated_at);
  if (!updatedAt) throw new PayloadError(`user ${userId} has no valid updated_at`);
  return {
    user_id: userId,
    email: primaryEntry(user.email_addresses, user.primary_email_address_id, "email_address"),
    phone: primaryEntry(user.phone_numbers, user.primary_phone_number_id, "phone_number"),
    first_name: textOrNull(user.first_name),
    last_name: textOrNull(user.last_name),
    username: textOrNull(user.username),
    image_url: textOrNull(user.image_url),
    public_metadata: isRecord(user.public_metadata) ? user.public_metadata : {},
    clerk_created_at: epochMsToIso(user.created_at),
    clerk_updated_at: updatedAt,
  };
}

/** The name a log line shows for a profile: first and last name, else the username. */
export function displayName(profile: Profile): string | null {
  const fullName = [profile.first_name, profile.last_name].filter(Boolean).join(" ");
  return fullName || profile.username;
}

/** Converts Clerk's epoch milliseconds to an ISO timestamp, or null when absent or invalid. */
export function epochMsToIso(value: unknown): string | null {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
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

function textOrNull(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}
