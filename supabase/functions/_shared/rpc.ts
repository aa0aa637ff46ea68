import type { SupabaseClient } from "@supabase/supabase-js";
import { StoreError, StoreUnavailableError } from "./errors.ts";

/**
 * Calls a database function through PostgREST (`supabase.rpc`) and returns its result, or throws
 * {@linkcode StoreUnavailableError} (worth retrying: unreachable, too slow) or
 * {@linkcode StoreError} (the key was refused, or the database answered with an error).
 */
export async function callRpc(
  client: SupabaseClient,
  fn: string,
  args: Record<string, unknown>,
  timeoutMs: number,
): Promise<unknown> {
  const { result: { data, error, status }, timedOut } = await withDeadline(
    timeoutMs,
    (signal) => client.rpc(fn, args).abortSignal(signal),
  );
  if (!error) return data;
  if (timedOut) throw new StoreUnavailableError(`database call timed out after ${timeoutMs} ms`);
  throw rpcFailure(status, error.code, error.message);
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
function rpcFailure(status: number, code: string, message: string): Error {
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
