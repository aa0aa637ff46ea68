/**
 * Sync on visit without a framework: ask `clerk-profile-sync` for the signed-in user's profile.
 * The Supabase client carries the Clerk session token (`accessToken`); the function verifies it,
 * reads the user from Clerk's Backend API and answers with the stored row. Nothing the browser
 * sends chooses the user or the data.
 *
 * ```ts
 * const supabase = createClient(SUPABASE_URL, SUPABASE_PUBLISHABLE_KEY, {
 *   accessToken: async () => (await clerk.session?.getToken()) ?? null,
 * });
 * const { data, error } = await supabase.functions.invoke("clerk-profile-sync");
 * if (!error) render(data.profile);
 * ```
 */
import { FunctionsHttpError, type SupabaseClient } from "@supabase/supabase-js";

/** A row of `public.profiles`, as its owner reads it. */
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
  created_at: string;
  updated_at: string;
}

/** What `clerk-profile-sync` answers the signed-in user. */
export type ProfileSyncAnswer =
  /** Written from Clerk now; Clerk had nothing newer; or confirmed against Clerk moments ago. */
  | { status: "applied" | "unchanged" | "recent"; profile: Profile }
  /** The user was deleted in Clerk: sign them out. */
  | { status: "deleted" };

/**
 * Syncs the signed-in user's profile. Resolves with the answer (410 becomes
 * `{ status: "deleted" }`); rejects with supabase-js's FunctionsHttpError (401: no or a refused
 * session token; 503: try again later, `Retry-After` on its `context`) or FunctionsFetchError.
 */
export async function syncProfile(supabase: SupabaseClient): Promise<ProfileSyncAnswer> {
  const { data, error } = await supabase.functions.invoke<ProfileSyncAnswer>("clerk-profile-sync");
  if (error instanceof FunctionsHttpError && error.context.status === 410) {
    return { status: "deleted" };
  }
  if (error) throw error;
  if (data === null || typeof data !== "object" || typeof data.status !== "string") {
    throw new Error("clerk-profile-sync answered no profile");
  }
  return data;
}

const synced = new Map<string, Promise<ProfileSyncAnswer>>();

/**
 * {@linkcode syncProfile} once per Clerk session (`sessionId`, Clerk's `session.id`): later calls
 * with the same session share the first call's answer; a failed call is forgotten, so the next
 * call tries again.
 */
export function syncProfileOnce(
  supabase: SupabaseClient,
  sessionId: string,
): Promise<ProfileSyncAnswer> {
  let answer = synced.get(sessionId);
  if (!answer) {
    answer = syncProfile(supabase);
    synced.set(sessionId, answer);
    const pending = answer;
    pending.catch(() => {
      if (synced.get(sessionId) === pending) synced.delete(sessionId);
    });
  }
  return answer;
}
