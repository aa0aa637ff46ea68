import { toProfile } from "../_shared/clerk_user.ts";
import { ConfigError, PayloadError, StoreError, StoreUnavailableError } from "../_shared/errors.ts";
import { type Logger, logLine } from "../_shared/log.ts";
import type { ClerkApi } from "./clerk_api.ts";
import { corsFor, PREFLIGHT_HEADERS } from "./cors.ts";
import {
  AuthError,
  ClerkRateLimitError,
  ClerkResponseError,
  ClerkUnavailableError,
  KeysBusyError,
  UserNotFoundError,
} from "./errors.ts";
import type { InstanceCheck } from "./instance_check.ts";
import type { SessionVerifier } from "./session.ts";
import type { ProfileStore, StoredProfile, SyncResult } from "./store.ts";

/** What the handler is built from. */
export interface HandlerDeps {
  sessions: SessionVerifier;
  /** The CLERK_JWT_KEY / CLERK_SECRET_KEY pair check, before the first call to Clerk. */
  instance: InstanceCheck;
  clerk: Pick<ClerkApi, "getUser">;
  store: ProfileStore;
  log: Logger;
  /** Answer from the database when the row was confirmed less than this many seconds ago. */
  minIntervalS: number;
  /** `*`, or the origins a browser may call from. */
  allowedOrigins: "*" | readonly string[];
  /** Default `Date.now`. */
  now?: () => number;
}

/**
 * The longest `Authorization` header read: `Bearer ` and 4,096 characters. Clerk stores the session
 * token in a cookie and browsers cap a cookie at 4 KB (clerk.com/docs guides/sessions/
 * session-tokens "Size limitations"; customize-session-tokens: room for up to 1.2 KB of custom
 * claims beside the default ones), so no session token is longer. Longer headers are refused
 * before anything is decoded.
 */
export const MAX_AUTHORIZATION_CHARS = "Bearer ".length + 4096;

/** How long a finished sync is kept for requests whose database read began before it ended. */
export const FLIGHT_MEMORY_MS = 60_000;

// One sync of one user in this isolate, shared by every request for that user that arrives
// while it runs (or read the database before it committed). `settledSeq` orders its end against
// reads by a counter, not the clock: two events within one millisecond stay ordered.
interface Flight {
  result: Promise<SyncResult>;
  settledAt: number | null;
  settledSeq: number | null;
}

/**
 * Builds the sync-on-visit handler: CORS, method, bearer token, then the caller's own profile
 * from the database when recently confirmed, else from Clerk's Backend API through the guarded
 * write. The request body is never read: only the verified token's `sub` chooses the user.
 */
export function createHandler(deps: HandlerDeps): (req: Request) => Promise<Response> {
  const { sessions, instance, clerk, store, log, minIntervalS, allowedOrigins } = deps;
  const now = deps.now ?? Date.now;
  const flights = new Map<string, Flight>();
  let settles = 0;

  async function runSync(userId: string): Promise<SyncResult> {
    await instance.ensure();
    const user = await clerk.getUser(userId);
    const profile = toProfile(user);
    if (profile.user_id !== userId) {
      throw new ClerkResponseError(
        `Clerk's Backend API answered another user (${profile.user_id})`,
      );
    }
    return await store.sync(profile);
  }

  // The sync of `userId` this request shares, or a new one: a request whose read of the
  // database began before a sync finished may have missed its commit, so it takes that result.
  function sharedSync(
    userId: string,
    settlesBeforeRead: number,
  ): { result: Promise<SyncResult>; leader: boolean } {
    const current = flights.get(userId);
    if (current && (current.settledSeq === null || current.settledSeq > settlesBeforeRead)) {
      return { result: current.result, leader: false };
    }
    for (const [id, flight] of flights) {
      if (flight.settledAt !== null && flight.settledAt < now() - FLIGHT_MEMORY_MS) {
        flights.delete(id);
      }
    }
    const flight: Flight = { result: runSync(userId), settledAt: null, settledSeq: null };
    flights.set(userId, flight);
    flight.result.then(
      () => {
        flight.settledAt = now();
        flight.settledSeq = ++settles;
      },
      () => {
        // A failure is not kept: the next request tries again.
        if (flights.get(userId) === flight) flights.delete(userId);
      },
    );
    return { result: flight.result, leader: true };
  }

  return async function handle(req: Request): Promise<Response> {
    req.body?.cancel().catch(() => {});
    const origin = req.headers.get("origin");
    const cors = corsFor(origin, allowedOrigins);
    if (!cors.allowed) {
      log.warn(logLine`Rejected profile sync (403): origin ${origin} is not allowed`);
      return json(403, { error: "origin not allowed" }, cors.headers);
    }
    if (req.method === "OPTIONS") {
      return new Response(null, {
        status: 204,
        headers: { ...cors.headers, ...PREFLIGHT_HEADERS },
      });
    }
    if (req.method !== "POST") {
      log.warn(logLine`Rejected ${req.method} request (405): only POST and OPTIONS are accepted`);
      return json(405, { error: "method not allowed" }, {
        ...cors.headers,
        Allow: "POST, OPTIONS",
      });
    }

    let userId: string | undefined;
    try {
      userId = (await sessions.verify(bearerToken(req.headers))).userId;
      log.info(logLine`Profile sync requested by ${userId}`);
      const settlesBeforeRead = settles;
      const stored = await store.read(userId, minIntervalS);
      if (stored.status === "recent") {
        log.info(
          logLine`Answered profile of user ${userId} from the database (confirmed at ${stored.confirmedAt}; Clerk not called)`,
        );
        return answer(200, "recent", stored.profile, cors.headers);
      }
      if (stored.status === "deleted") {
        log.info(logLine`Refused profile sync for user ${userId} (410): the user was deleted`);
        return json(410, { status: "deleted" }, cors.headers);
      }
      const { result, leader } = sharedSync(userId, settlesBeforeRead);
      const synced = await result;
      log.info(syncedLine(synced, userId, leader));
      if (synced.status === "deleted") return json(410, { status: "deleted" }, cors.headers);
      return answer(200, synced.status, synced.profile, cors.headers);
    } catch (error) {
      return failure(error, userId, cors.headers);
    }
  };

  function failure(error: unknown, userId: string | undefined, headers: Record<string, string>) {
    const status = statusOf(error);
    const reason = error instanceof Error ? error.message : String(error);
    const subject = userId === undefined ? "" : logLine` for user ${userId}`;
    if (error instanceof AuthError) {
      log.warn(logLine`Rejected profile sync (401): ${error.reason}: ${reason}`);
      return json(401, {
        error: error.reason === "token-missing" ? "missing bearer token" : "invalid session token",
        reason: error.reason,
      }, headers);
    }
    if (error instanceof UserNotFoundError) {
      log.warn(
        logLine`Clerk has no user ${userId} (410, nothing written: the user.deleted delivery records deletions). If every user gets this, CLERK_SECRET_KEY belongs to another Clerk instance than the session tokens.`,
      );
      return json(410, { status: "deleted" }, headers);
    }
    if (error instanceof ConfigError) {
      log.error(
        logLine`Failed to sync profile${subject} (500): configuration error in ${error.variable}: ${reason}`,
      );
      return json(500, { error: "function is misconfigured" }, headers);
    }
    if (error instanceof PayloadError) {
      log.error(
        logLine`Failed to sync profile${subject} (502): Clerk's user object is unusable: ${reason}`,
      );
    } else {
      log.error(logLine`Failed to sync profile${subject} (${status}): ${reason}`);
    }
    if (error instanceof KeysBusyError) {
      return json(503, { error: "busy, retry shortly" }, {
        ...headers,
        "Retry-After": String(error.retryAfterSeconds),
      });
    }
    if (error instanceof ClerkUnavailableError && error.retryAfterSeconds !== undefined) {
      return json(503, { error: "Clerk unavailable" }, {
        ...headers,
        "Retry-After": String(error.retryAfterSeconds),
      });
    }
    if (error instanceof ClerkRateLimitError) {
      const retry: Record<string, string> = error.retryAfterSeconds === undefined
        ? {}
        : { "Retry-After": String(Math.ceil(error.retryAfterSeconds)) };
      return json(503, { error: "Clerk rate limit reached" }, { ...headers, ...retry });
    }
    return json(status, { error: errorBody(error, status) }, headers);
  }
}

/** A handler for a function whose configuration is invalid: every request but a preflight, 500. */
export function createMisconfiguredHandler(
  error: ConfigError,
  log: Logger,
  allowedOrigins: "*" | readonly string[] = "*",
): (req: Request) => Promise<Response> {
  return function handle(req: Request): Promise<Response> {
    req.body?.cancel().catch(() => {});
    // The browser must read the 500, so the CORS headers are sent; a preflight passes.
    const { headers } = corsFor(req.headers.get("origin"), allowedOrigins);
    if (req.method === "OPTIONS") {
      return Promise.resolve(
        new Response(null, { status: 204, headers: { ...headers, ...PREFLIGHT_HEADERS } }),
      );
    }
    log.error(
      logLine`Failed to handle profile sync (500): configuration error in ${error.variable}`,
    );
    return Promise.resolve(json(500, { error: "function is misconfigured" }, headers));
  };
}

// The one place where errors become HTTP statuses.
function statusOf(error: unknown): number {
  if (error instanceof AuthError) return 401;
  if (error instanceof UserNotFoundError) return 410;
  if (
    error instanceof ClerkRateLimitError || error instanceof ClerkUnavailableError ||
    error instanceof KeysBusyError || error instanceof StoreUnavailableError
  ) {
    return 503;
  }
  if (error instanceof PayloadError || error instanceof ClerkResponseError) return 502;
  if (error instanceof ConfigError || error instanceof StoreError) return 500;
  return 500;
}

function errorBody(error: unknown, status: number): string {
  if (error instanceof ClerkUnavailableError) return "Clerk unavailable";
  if (error instanceof StoreUnavailableError) return "database unavailable";
  if (status === 502) return "unexpected answer from Clerk";
  return "internal error";
}

function syncedLine(synced: SyncResult, userId: string, leader: boolean): string {
  if (!leader) {
    return logLine`Answered profile of user ${userId} from a concurrent sync (${synced.status})`;
  }
  switch (synced.status) {
    case "applied":
      return logLine`Successfully synced profile for user ${userId}`;
    case "unchanged":
      return logLine`Profile of user ${userId} is unchanged: the stored row is as new as Clerk's or newer`;
    case "deleted":
      return logLine`Refused profile sync for user ${userId} (410): the user was deleted`;
  }
}

// `Authorization: Bearer <token>` (the scheme is case-insensitive, RFC 9110 §11.1), refused
// unread when longer than any session token.
function bearerToken(headers: Headers): string {
  const header = headers.get("authorization") ?? "";
  if (header.length > MAX_AUTHORIZATION_CHARS) {
    throw new AuthError(
      "token-too-large",
      `the Authorization header has ${header.length} characters; a Clerk session token fits in ` +
        `a 4 KB cookie (at most ${MAX_AUTHORIZATION_CHARS} with "Bearer ")`,
    );
  }
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) {
    throw new AuthError("token-missing", "no bearer token in the Authorization header");
  }
  return match[1];
}

function answer(
  status: number,
  outcome: string,
  profile: StoredProfile,
  headers: Record<string, string>,
): Response {
  return json(status, { status: outcome, profile }, headers);
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...headers, "Content-Type": "application/json" },
  });
}
