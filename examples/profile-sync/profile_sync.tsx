/** @jsxImportSource react */
// `deno check` covers this file. In this repository import_map.json maps `react` to @types/react:
// types only, since nothing here runs React, and a real `react` there would become the optional
// peer of @clerk/backend's @clerk/shared and change the functions' dependency graph.
/**
 * Sync on visit in React: `<ProfileSync>` invokes `clerk-profile-sync` once per signed-in Clerk
 * session and keeps the answer, so the app renders the user's profile even before the
 * `user.created` webhook has arrived.
 *
 * ```tsx
 * const { session } = useSession(); // @clerk/nextjs or @clerk/clerk-react
 * const supabase = useMemo(() =>
 *   createClient(SUPABASE_URL, SUPABASE_PUBLISHABLE_KEY, {
 *     accessToken: async () => (await session?.getToken()) ?? null,
 *   }), [session]);
 *
 * <ProfileSync supabase={supabase} sessionId={session?.id}>
 *   {(sync) => sync.state === "synced" && sync.answer.status !== "deleted"
 *     ? <p>Hello {sync.answer.profile.first_name}</p>
 *     : <p>Loading…</p>}
 * </ProfileSync>
 * ```
 */
import { type ReactNode, useEffect, useState } from "react";
import type { SupabaseClient } from "@supabase/supabase-js";
import { type ProfileSyncAnswer, syncProfileOnce } from "./sync_profile.ts";

/** Where the sync of the current session stands. */
export type ProfileSyncState =
  | { state: "signed-out" }
  | { state: "syncing" }
  | { state: "synced"; answer: ProfileSyncAnswer }
  | { state: "failed"; error: unknown };

/** Syncs the profile once per session id (none: signed out) and keeps the answer. */
export function useProfileSync(
  supabase: SupabaseClient,
  sessionId: string | null | undefined,
): ProfileSyncState {
  const [sync, setSync] = useState<ProfileSyncState>({ state: "signed-out" });
  useEffect(() => {
    if (!sessionId) {
      setSync({ state: "signed-out" });
      return;
    }
    // A newer session (or an unmount) makes this call's answer stale.
    let current = true;
    setSync({ state: "syncing" });
    syncProfileOnce(supabase, sessionId).then(
      (answer) => current && setSync({ state: "synced", answer }),
      (error) => current && setSync({ state: "failed", error }),
    );
    return () => {
      current = false;
    };
    // A new client for the same session re-runs this effect, not the sync: once per session id.
  }, [supabase, sessionId]);
  return sync;
}

/** Renders `children` with the sync of the signed-in user's profile. */
export function ProfileSync(
  { supabase, sessionId, children }: {
    supabase: SupabaseClient;
    sessionId: string | null | undefined;
    children: (sync: ProfileSyncState) => ReactNode;
  },
) {
  return <>{children(useProfileSync(supabase, sessionId))}</>;
}
