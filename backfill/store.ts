/** The backfill's database calls: the batch RPCs of the backfill migration, through supabase-js. */
import type { SupabaseClient } from "@supabase/supabase-js";
import type { Profile } from "../supabase/functions/_shared/clerk_user.ts";
import { withDeadline } from "../supabase/functions/_shared/rpc.ts";
import { type RetryPolicy, type Verdict, withRetry } from "./retry.ts";

/**
 * What `public.sync_clerk_users` did for one user: `restored` means an inferred tombstone was
 * lifted and the row written again.
 */
export type SyncOutcome = "applied" | "restored" | "stale" | "unchanged";

/**
 * How `public.diff_clerk_users` sees one Clerk user: `deleted` has an announced tombstone (not
 * drift), `restorable` an inferred one (drift: Clerk lists the user).
 */
export type DiffState = "in_sync" | "missing" | "outdated" | "newer" | "deleted" | "restorable";

/** A Clerk user's id and version, as the diff compares them. */
export interface UserVersion {
  user_id: string;
  clerk_updated_at: string;
}

/** Reads and writes the mirror. */
export interface BackfillStore {
  /**
   * Applies up to 1000 profiles in one transaction (newer data and announced tombstones win;
   * inferred tombstones are lifted).
   */
  syncUsers(profiles: Profile[]): Promise<Map<string, SyncOutcome>>;
  /** Classifies up to 1000 Clerk users against the mirror, read-only. */
  diffUsers(users: UserVersion[]): Promise<Map<string, DiffState>>;
  /** Up to `limit` profile ids after `after`, in id order. */
  listProfileIds(after: string | null, limit: number): Promise<string[]>;
  /** Tombstones up to 1000 users as inferred and removes their rows. */
  tombstoneUsers(userIds: string[], deletedAt: string): Promise<number>;
}

/** A failed RPC, with PostgREST's HTTP status and the SQLSTATE or PGRST code. */
export class RpcError extends Error {
  override name = "RpcError";

  constructor(
    readonly fn: string,
    readonly status: number,
    readonly code: string,
    message: string,
    readonly timedOut = false,
  ) {
    super(
      `${fn}: ${timedOut ? "timed out" : `HTTP ${status}${code ? ` ${code}` : ""}`}: ${message}`,
    );
  }

  /** The database refused the data itself (bad value, constraint): splitting the batch helps. */
  get isDataError(): boolean {
    return this.status === 400 && /^2[23]/.test(this.code);
  }
}

/** Options of {@linkcode createSupabaseBackfillStore}. */
export interface StoreOptions {
  /** Abort one call after this long (default 60 s). */
  timeoutMs?: number;
  /** Retry policy for unavailability (503, timeouts, network, serialization failures). */
  retry?: RetryPolicy;
}

const SYNC_OUTCOMES: readonly SyncOutcome[] = ["applied", "restored", "stale", "unchanged"];
const DIFF_STATES: readonly DiffState[] = [
  "in_sync",
  "missing",
  "outdated",
  "newer",
  "deleted",
  "restorable",
];

/** A store that calls the backfill RPCs with a service-role supabase-js client. */
export function createSupabaseBackfillStore(
  client: SupabaseClient,
  options: StoreOptions = {},
): BackfillStore {
  const timeoutMs = options.timeoutMs ?? 60_000;

  async function call(fn: string, args: Record<string, unknown>): Promise<unknown> {
    return await withRetry(
      async () => {
        const { result: { data, error, status }, timedOut } = await withDeadline(
          timeoutMs,
          (signal) => client.rpc(fn, args).abortSignal(signal),
        );
        if (error) throw new RpcError(fn, status, error.code ?? "", error.message, timedOut);
        return data;
      },
      classifyRpcError,
      options.retry,
    );
  }

  return {
    async syncUsers(profiles) {
      const data = await call("sync_clerk_users", { p_users: profiles });
      return outcomeMap("sync_clerk_users", data, SYNC_OUTCOMES);
    },
    async diffUsers(users) {
      const data = await call("diff_clerk_users", { p_users: users });
      return outcomeMap("diff_clerk_users", data, DIFF_STATES);
    },
    async listProfileIds(after, limit) {
      const data = await call("list_profile_ids", { p_after: after, p_limit: limit });
      if (!Array.isArray(data) || !data.every((id) => typeof id === "string")) {
        throw new RpcError("list_profile_ids", 200, "", "unexpected result");
      }
      return data;
    },
    async tombstoneUsers(userIds, deletedAt) {
      const data = await call("tombstone_clerk_users", {
        p_user_ids: userIds,
        p_deleted_at: deletedAt,
      });
      return outcomeMap("tombstone_clerk_users", data, ["deleted"]).size;
    },
  };
}

// The functions answer {"<outcome>": ["<user_id>", ...], ...}; anything else breaks the contract.
function outcomeMap<T extends string>(
  fn: string,
  data: unknown,
  allowed: readonly T[],
): Map<string, T> {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new RpcError(fn, 200, "", "unexpected result");
  }
  const map = new Map<string, T>();
  for (const [key, ids] of Object.entries(data)) {
    const outcome = allowed.find((a) => a === key);
    if (outcome === undefined || !Array.isArray(ids)) {
      throw new RpcError(fn, 200, "", `unexpected outcome ${key}`);
    }
    for (const id of ids) map.set(String(id), outcome);
  }
  return map;
}

/**
 * Which RPC failures are worth retrying: the database or gateway being unavailable (HTTP 0, 502,
 * 503, 504), a timeout (ours or 57014), a lost serialization race (40001, 40P01), exhausted
 * resources (53xxx) or a lost connection (08xxx). A refused key, a bad argument: not.
 */
export function classifyRpcError(error: unknown): Verdict {
  if (!(error instanceof RpcError)) return { kind: "fatal" };
  if (error.timedOut) return { kind: "transient", reason: `${error.fn} timed out` };
  if (error.status === 429) return { kind: "rate_limited", delayMs: null, reason: error.message };
  if ([0, 502, 503, 504].includes(error.status) || /^(57014|40001|40P01|53|08)/.test(error.code)) {
    return { kind: "transient", reason: error.message };
  }
  return { kind: "fatal" };
}
