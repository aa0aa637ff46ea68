import type { SupabaseClient } from "@supabase/supabase-js";
import type { SyncEvent } from "./clerk_event.ts";
import { StoreError } from "../_shared/errors.ts";
import { callRpc } from "../_shared/rpc.ts";

/** What applying one event did, as the sync functions report it. */
export type Outcome = "applied" | "duplicate" | "stale" | "deleted";

/** Persists the events the function applies: users, organizations, memberships. */
export interface WebhookStore {
  /** Applies one event in one transaction; throws StoreError or StoreUnavailableError. */
  apply(event: SyncEvent): Promise<Outcome>;
}

/** Options of {@linkcode createSupabaseStore}. */
export interface SupabaseStoreOptions {
  /** Abort the database call after this long, so Svix (15 s timeout) gets a 503 to retry. */
  timeoutMs: number;
}

const OUTCOMES: readonly string[] = ["applied", "duplicate", "stale", "deleted"];

/**
 * A store that calls `public.sync_clerk_user`, `public.sync_clerk_organization` or
 * `public.sync_clerk_membership` (by the event's kind) through the service-role supabase-js client.
 */
export function createSupabaseStore(
  client: SupabaseClient,
  options: SupabaseStoreOptions,
): WebhookStore {
  return {
    async apply(event) {
      const [fn, args] = rpcCall(event);
      const data = await callRpc(client, fn, args, options.timeoutMs);
      if (typeof data !== "string" || !OUTCOMES.includes(data)) {
        throw new StoreError("database", `${fn} returned an unexpected result`);
      }
      return data as Outcome;
    },
  };
}

// The database function that applies an event, and its arguments.
function rpcCall(event: SyncEvent): [string, Record<string, unknown>] {
  switch (event.kind) {
    case "user":
      return ["sync_clerk_user", {
        p_svix_id: event.svixId,
        p_event_type: event.type,
        p_user_id: event.userId,
        p_occurred_at: event.occurredAt,
        p_profile: event.profile,
      }];
    case "organization":
      return ["sync_clerk_organization", {
        p_svix_id: event.svixId,
        p_event_type: event.type,
        p_org_id: event.orgId,
        p_occurred_at: event.occurredAt,
        p_organization: event.organization,
      }];
    case "membership":
      return ["sync_clerk_membership", {
        p_svix_id: event.svixId,
        p_event_type: event.type,
        p_occurred_at: event.occurredAt,
        p_membership: event.membership,
        p_organization: event.organization,
      }];
  }
}
