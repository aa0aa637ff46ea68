import type { SupabaseClient } from "@supabase/supabase-js";
import type { UserEvent } from "./clerk_event.ts";
import { StoreError, StoreUnavailableError } from "./errors.ts";

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
      const { result: { data, error, status }, timedOut } = await withDeadline(
        options.timeoutMs,
        (signal) =>
          client.rpc("sync_clerk_user", {
            p_svix_id: event.svixId,
            p_event_type: event.type,
            p_user_id: event.userId,
            p_occurred_at: event.occurredAt,
            p_profile: event.profile,
          }).abortSignal(signal),
      );
      if (error) {
        if (timedOut) {
          throw new StoreUnavailableError(`database call timed out after ${options.timeoutMs} ms`);
        }
        throw classifyError(status, error.code, error.message);
      }
      if (typeof data !== "string" || !OUTCOMES.includes(data)) {
        throw new StoreError("database", "sync_clerk_user returned an unexpected result");
      }
      return data as Outcome;
    },
  };
}

/** Runs `call` with a signal that aborts after `timeoutMs`, and says whether it did. */
export async function withDeadline<T>(
  timeoutMs: number,
  call: (signal: AbortSignal) => PromiseLike<T>,
): Promise<{ result: T; timedOut: boolean }> {
  // A timer cleared on return rather than AbortSignal.timeout(): that one would keep every
  // call's signal, and the request state listening to it, alive for the whole timeout.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const result = await call(controller.signal);
    return { result, timedOut: controller.signal.aborted };
  } finally {
    clearTimeout(timer);
  }
}

// PostgREST's status codes (and the gateway's in front of it) say whose fault a failure is.
function classifyError(status: number, code: string, message: string): Error {
  const detail = `HTTP ${status}${code ? `, ${code}` : ""}: ${message}`;
  if (status === 0) return new StoreUnavailableError(`database unreachable (${message})`);
  if (status === 401 || status === 403) {
    return new StoreError(
      "rejected_key",
      `the service key was rejected (${detail}); check SUPABASE_SERVICE_ROLE_KEY / SUPABASE_SECRET_KEYS`,
    );
  }
  // 57014: statement timeout; 08xxx: connection failures (PostgREST answers 503 for those).
  if (status === 502 || status === 503 || status === 504 || code === "57014") {
    return new StoreUnavailableError(`database unavailable (${detail})`);
  }
  return new StoreError("database", `database error (${detail})`);
}
