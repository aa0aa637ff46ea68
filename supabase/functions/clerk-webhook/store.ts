import type { SupabaseClient } from "@supabase/supabase-js";
import type { SyncEvent } from "./clerk_event.ts";
import { StoreError } from "../_shared/errors.ts";
import { callRpc } from "../_shared/rpc.ts";
import { InstanceMismatchError, MembershipConflictError } from "./errors.ts";

/** What applying one event did, as the sync functions report it. */
export type Outcome = "applied" | "duplicate" | "stale" | "deleted";

/** Persists the events the function applies: users, organizations, memberships. */
export interface WebhookStore {
  /**
   * Applies one event in one transaction; throws {@linkcode InstanceMismatchError} (an event of
   * another Clerk instance), {@linkcode MembershipConflictError} (a membership id stored for
   * another organization or user), StoreError or StoreUnavailableError.
   */
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
      let data: unknown;
      try {
        data = await callRpc(client, fn, args, options.timeoutMs);
      } catch (error) {
        throw refusal(error, event);
      }
      if (typeof data !== "string" || !OUTCOMES.includes(data)) {
        throw new StoreError("database", `${fn} returned an unexpected result`);
      }
      return data as Outcome;
    },
  };
}

// The sync functions' own refusals (their SQLSTATEs, which PostgREST answers 400 and passes on),
// as typed errors; anything else unchanged.
function refusal(error: unknown, event: SyncEvent): unknown {
  if (!(error instanceof StoreError) || !error.answer) return error;
  const { code, message } = error.answer;
  if (code === "CS409" && event.instanceId) {
    // clerk_sync.check_clerk_instance: "this database follows Clerk instance <id>, not <id>".
    const recorded = /follows Clerk instance (ins_[A-Za-z0-9]+)/.exec(message)?.[1];
    if (recorded) return new InstanceMismatchError(recorded, event.instanceId);
  }
  if (code === "CSMEM" && event.kind === "membership") {
    return new MembershipConflictError(event.membership.membership_id, message);
  }
  return error;
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
        p_instance_id: event.instanceId,
      }];
    case "organization":
      return ["sync_clerk_organization", {
        p_svix_id: event.svixId,
        p_event_type: event.type,
        p_org_id: event.orgId,
        p_occurred_at: event.occurredAt,
        p_organization: event.organization,
        p_instance_id: event.instanceId,
      }];
    case "membership":
      return ["sync_clerk_membership", {
        p_svix_id: event.svixId,
        p_event_type: event.type,
        p_occurred_at: event.occurredAt,
        p_membership: event.membership,
        p_organization: event.organization,
        p_instance_id: event.instanceId,
      }];
  }
}
