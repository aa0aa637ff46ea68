import type { SupabaseClient } from "@supabase/supabase-js";
import type { UserEvent } from "./clerk_event.ts";
import { StoreError } from "../_shared/errors.ts";
import { callRpc } from "../_shared/rpc.ts";

/** What applying one event did, as `public.sync_clerk_user` reports it. */
export type Outcome = "applied" | "duplicate" | "stale" | "deleted";

/** Persists user events. */
export interface ProfileStore {
  /** Applies one event in one transaction; throws StoreError or StoreUnavailableError. */
  apply(event: UserEvent): Promise<Outcome>;
}

/** Options of {@linkcode createSupabaseStore}. */
export interface SupabaseStoreOptions {
  /** Abort the database call after this long, so Svix (15 s timeout) gets a 503 to retry. */
  timeoutMs: number;
}

const OUTCOMES: readonly string[] = ["applied", "duplicate", "stale", "deleted"];

/** A store that calls `public.sync_clerk_user` through the service-role supabase-js client. */
export function createSupabaseStore(
  client: SupabaseClient,
  options: SupabaseStoreOptions,
): ProfileStore {
  return {
    async apply(event) {
      const data = await callRpc(client, "sync_clerk_user", {
        p_svix_id: event.svixId,
        p_event_type: event.type,
        p_user_id: event.userId,
        p_occurred_at: event.occurredAt,
        p_profile: event.profile,
      }, options.timeoutMs);
      if (typeof data !== "string" || !OUTCOMES.includes(data)) {
        throw new StoreError("database", "sync_clerk_user returned an unexpected result");
      }
      return data as Outcome;
    },
  };
}
