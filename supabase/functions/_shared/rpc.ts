import type { SupabaseClient } from "@supabase/supabase-js";
import { StoreError, StoreUnavailableError } from "./errors.ts";

/**
 * Calls a database function through PostgREST (`supabase.rpc`) and returns its result, or throws
 * {@linkcode StoreUnavailableError} (worth retrying: unreachable, too slow, cancelled by the
 * server's timeouts, the gateway failing) or {@linkcode StoreError} (the key was refused, or the
 * database answered with an error).
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
  throw rpcFailure(status, postgrestCode(error), error.message);
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

/**
 * The SQLSTATE or PGRST code of a supabase-js error, or "" when the answer was not PostgREST's
 * JSON (postgrest-js then gives only `{ message: <the body> }`: a gateway's error page).
 */
export function postgrestCode(error: { code?: unknown }): string {
  return typeof error.code === "string" ? error.code : "";
}

/**
 * Whether a failed call is worth retrying later because the database, or the way to it, is
 * unavailable: nothing about the call itself is wrong. `code` is {@linkcode postgrestCode}.
 */
export function isUnavailable(status: number, code: string): boolean {
  // Cancelled by the server's limits: authenticator (service_role inherits it) has
  // lock_timeout = 8s (55P03) and statement_timeout = 8s (57014) on the platform (supabase/postgres
  // migrations 20231130133139_set_lock_timeout_to_authenticator_role.sql,
  // 20221028101028_set_authenticator_timeout.sql), and PostgREST answers both 500 (Error.hs
  // mapSQLtoHTTP: 55* and 57* other than 57P01). 57P01-57P03: shutting down, restarting; 08*: the
  // connection failed; 53*: out of resources, except 53400 (a configured limit: retrying won't
  // change it).
  if (/^(55P03|57014|57P0[123]|08)/.test(code)) return true;
  if (code.startsWith("53") && code !== "53400") return true;
  // 0: no answer at all. 502/520 are the gateway's (Cloudflare, Kong) with an HTML or other
  // non-PostgREST body; 503 is PostgREST's PGRST000-002 and 08/53/57P01; 504 its PGRST003.
  if ([0, 502, 503, 504, 520].includes(status)) return true;
  return status >= 500 && code === "";
}

/** A failure's message for a log line: an HTML error page's title, other text cut short. */
export function briefMessage(message: string): string {
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(message)?.[1];
  const text = (title ?? message).replace(/\s+/g, " ").trim();
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

// PostgREST's status codes (and the gateway's in front of it) say whose fault a failure is.
function rpcFailure(status: number, code: string, message: string): Error {
  const detail = code === ""
    ? `HTTP ${status}: ${briefMessage(message)}`
    : `HTTP ${status}, ${code}: ${message}`;
  if (status === 0) return new StoreUnavailableError(`database unreachable (${message})`);
  if (status === 401 || status === 403) {
    return new StoreError(
      "rejected_key",
      `the service key was rejected (${detail}); check SUPABASE_SERVICE_ROLE_KEY / SUPABASE_SECRET_KEYS`,
    );
  }
  if (isUnavailable(status, code)) {
    return new StoreUnavailableError(`database unavailable (${detail})`);
  }
  return new StoreError("database", `database error (${detail})`, { code, message });
}
