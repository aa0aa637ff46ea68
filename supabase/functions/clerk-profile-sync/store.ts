import type { SupabaseClient } from "@supabase/supabase-js";
import { isRecord, type Profile } from "../_shared/clerk_user.ts";
import { StoreError } from "../_shared/errors.ts";
import { callRpc } from "../_shared/rpc.ts";

/** A profile row as the database returns it (every column of public.profiles). */
export type StoredProfile = Record<string, unknown>;

/** What `public.read_clerk_profile` says about a user. */
export type ReadResult =
  | { status: "recent"; profile: StoredProfile; confirmedAt: string }
  | { status: "deleted" }
  | { status: "check" };

/** What `public.sync_clerk_profile` did. */
export type SyncResult =
  | { status: "applied" | "unchanged"; profile: StoredProfile }
  | { status: "deleted" };

/** The database side of a sync on visit. */
export interface ProfileStore {
  /** The row if confirmed against Clerk within `maxAgeS`; throws StoreError/StoreUnavailableError. */
  read(userId: string, maxAgeS: number): Promise<ReadResult>;
  /** Writes Clerk's version of the user in one transaction; throws like {@linkcode read}. */
  sync(profile: Profile): Promise<SyncResult>;
}

/** Options of {@linkcode createSupabaseStore}. */
export interface SupabaseStoreOptions {
  /** Abort a database call after this long (503). */
  timeoutMs: number;
}

/** A store that calls the two SQL functions through the service-role supabase-js client. */
export function createSupabaseStore(
  client: SupabaseClient,
  options: SupabaseStoreOptions,
): ProfileStore {
  return {
    async read(userId, maxAgeS) {
      const data = await callRpc(client, "read_clerk_profile", {
        p_user_id: userId,
        p_max_age_s: maxAgeS,
      }, options.timeoutMs);
      if (isRecord(data)) {
        if (data.status === "deleted" || data.status === "check") return { status: data.status };
        if (
          data.status === "recent" && isRecord(data.profile) &&
          typeof data.confirmed_at === "string"
        ) {
          return { status: "recent", profile: data.profile, confirmedAt: data.confirmed_at };
        }
      }
      throw new StoreError("database", "read_clerk_profile returned an unexpected result");
    },
    async sync(profile) {
      const data = await callRpc(
        client,
        "sync_clerk_profile",
        { p_profile: profile },
        options.timeoutMs,
      );
      if (isRecord(data)) {
        if (data.status === "deleted") return { status: "deleted" };
        if ((data.status === "applied" || data.status === "unchanged") && isRecord(data.profile)) {
          return { status: data.status, profile: data.profile };
        }
      }
      throw new StoreError("database", "sync_clerk_profile returned an unexpected result");
    },
  };
}
