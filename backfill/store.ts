/** The backfill's database calls: the batch RPCs of the backfill migration, through supabase-js. */
import type { SupabaseClient } from "@supabase/supabase-js";
import type { Membership, Organization } from "../supabase/functions/_shared/clerk_organization.ts";
import type { Profile } from "../supabase/functions/_shared/clerk_user.ts";
import {
  briefMessage,
  isUnavailable,
  postgrestCode,
  withDeadline,
} from "../supabase/functions/_shared/rpc.ts";
import { type RetryPolicy, type Verdict, withRetry } from "./retry.ts";

/**
 * What `public.sync_clerk_users` (`_organizations`, `_memberships`) did for one object: `restored`
 * means an inferred tombstone was lifted and the row written again.
 */
export type SyncOutcome = "applied" | "restored" | "stale" | "unchanged";

/**
 * How `public.diff_clerk_users` (`_organizations`, `_memberships`) sees one Clerk object:
 * `deleted` has an announced tombstone (not drift), `restorable` an inferred one (drift: Clerk
 * lists the object). A membership is also `deleted` or `restorable` by its organization's or
 * user's tombstone.
 */
export type DiffState = "in_sync" | "missing" | "outdated" | "newer" | "deleted" | "restorable";

/** A Clerk user's id and version, as the diff compares them. */
export interface UserVersion {
  user_id: string;
  clerk_updated_at: string;
}

/** A Clerk organization's id and version, as the diff compares them. */
export interface OrganizationVersion {
  org_id: string;
  clerk_updated_at: string;
}

/** A Clerk membership's identity and version, as the diff compares them. */
export interface MembershipVersion {
  membership_id: string;
  org_id: string;
  user_id: string;
  clerk_created_at: string;
  clerk_updated_at: string;
}

/** A member of an organization: what a membership row and its tombstone are keyed by. */
export interface MemberKey {
  org_id: string;
  user_id: string;
}

/** A membership row of the mirror. */
export interface MembershipKey extends MemberKey {
  membership_id: string;
}

/**
 * How `public.follow_clerk_instance` compares a Clerk instance with the one the database follows:
 * `recorded` (none was; now this one is), `matches`, `unrecorded` (none is, and none was recorded:
 * a dry run), `mismatch` (another one is: write nothing), `unknown` (no id given).
 */
export type InstanceStatus = "recorded" | "matches" | "unrecorded" | "mismatch" | "unknown";

/** The answer of `public.follow_clerk_instance`. */
export interface FollowedInstance {
  status: InstanceStatus;
  /** The instance the database follows (after recording), or null. */
  instanceId: string | null;
}

/** Reads and writes the mirror. */
export interface BackfillStore {
  /**
   * Compares `instanceId` with the Clerk instance the database follows and, with `record`,
   * records it when none is (`clerk_sync.clerk_instance`).
   */
  followInstance(
    instanceId: string,
    source: "backfill" | "reconcile",
    record: boolean,
  ): Promise<FollowedInstance>;
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
  /** Applies up to 1000 organizations in one transaction, with the webhook's rules. */
  syncOrganizations(orgs: Organization[]): Promise<Map<string, SyncOutcome>>;
  /**
   * Applies up to 1000 memberships in one transaction (keyed by membership_id); one whose
   * organization has no row, or whose user is deleted, is `stale`.
   */
  syncMemberships(members: Membership[]): Promise<Map<string, SyncOutcome>>;
  /** Classifies up to 1000 Clerk organizations against the mirror, read-only. */
  diffOrganizations(orgs: OrganizationVersion[]): Promise<Map<string, DiffState>>;
  /** Classifies up to 1000 Clerk memberships (keyed by membership_id), read-only. */
  diffMemberships(members: MembershipVersion[]): Promise<Map<string, DiffState>>;
  /** Up to `limit` organization ids after `after`, in id order. */
  listOrganizationIds(after: string | null, limit: number): Promise<string[]>;
  /** Up to `limit` membership rows after the member `after`, in (org_id, user_id) order. */
  listMembershipKeys(after: MemberKey | null, limit: number): Promise<MembershipKey[]>;
  /** Tombstones up to 1000 organizations as inferred and removes their rows and memberships. */
  tombstoneOrganizations(orgIds: string[], deletedAt: string): Promise<number>;
  /**
   * Tombstones up to 1000 members as inferred (blocking memberships created up to `deletedAt`)
   * and removes their rows.
   */
  tombstoneMemberships(members: MemberKey[], deletedAt: string): Promise<number>;
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
  /** Abort one call after this long (default {@linkcode CALL_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Retry policy for unavailability (503, timeouts, network, serialization failures). */
  retry?: RetryPolicy;
}

/**
 * The default per-call deadline: just over the server's own limit. On the platform a call runs
 * as authenticator, whose statement_timeout and lock_timeout are 8 s (supabase/postgres
 * migrations 20221028101028_set_authenticator_timeout.sql and
 * 20231130133139_set_lock_timeout_to_authenticator_role.sql), so a call the database is working
 * on ends by then with PostgREST's 57014 or 55P03 (retried as transient). One still unanswered
 * at 10 s is lost on the way (gateway, network) and is retried rather than waited on.
 */
export const CALL_TIMEOUT_MS = 10_000;

const INSTANCE_STATUSES: readonly InstanceStatus[] = [
  "recorded",
  "matches",
  "unrecorded",
  "mismatch",
  "unknown",
];
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
  const timeoutMs = options.timeoutMs ?? CALL_TIMEOUT_MS;

  async function call(fn: string, args: Record<string, unknown>): Promise<unknown> {
    return await withRetry(
      async () => {
        const { result: { data, error, status }, timedOut } = await withDeadline(
          timeoutMs,
          (signal) => client.rpc(fn, args).abortSignal(signal),
        );
        if (error) {
          const code = postgrestCode(error);
          const message = code === "" ? briefMessage(error.message) : error.message;
          throw new RpcError(fn, status, code, message, timedOut);
        }
        return data;
      },
      classifyRpcError,
      options.retry,
    );
  }

  return {
    async followInstance(instanceId, source, record) {
      const data = await call("follow_clerk_instance", {
        p_instance_id: instanceId,
        p_source: source,
        p_record: record,
      }) as { status?: unknown; instance_id?: unknown } | null;
      const status = INSTANCE_STATUSES.find((s) => s === data?.status);
      const recorded = data?.instance_id;
      if (!status || !(recorded === null || typeof recorded === "string")) {
        throw new RpcError("follow_clerk_instance", 200, "", "unexpected result");
      }
      return { status, instanceId: recorded };
    },
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
    async syncOrganizations(orgs) {
      const data = await call("sync_clerk_organizations", { p_orgs: orgs });
      return outcomeMap("sync_clerk_organizations", data, SYNC_OUTCOMES);
    },
    async syncMemberships(members) {
      const data = await call("sync_clerk_memberships", { p_memberships: members });
      return outcomeMap("sync_clerk_memberships", data, SYNC_OUTCOMES);
    },
    async diffOrganizations(orgs) {
      const data = await call("diff_clerk_organizations", { p_orgs: orgs });
      return outcomeMap("diff_clerk_organizations", data, DIFF_STATES);
    },
    async diffMemberships(members) {
      const data = await call("diff_clerk_memberships", { p_memberships: members });
      return outcomeMap("diff_clerk_memberships", data, DIFF_STATES);
    },
    async listOrganizationIds(after, limit) {
      const data = await call("list_organization_ids", { p_after: after, p_limit: limit });
      if (!Array.isArray(data) || !data.every((id) => typeof id === "string")) {
        throw new RpcError("list_organization_ids", 200, "", "unexpected result");
      }
      return data;
    },
    async listMembershipKeys(after, limit) {
      const data = await call("list_membership_keys", {
        p_after_org_id: after?.org_id ?? null,
        p_after_user_id: after?.user_id ?? null,
        p_limit: limit,
      });
      if (!Array.isArray(data) || !data.every(isMembershipKey)) {
        throw new RpcError("list_membership_keys", 200, "", "unexpected result");
      }
      return data;
    },
    async tombstoneOrganizations(orgIds, deletedAt) {
      const data = await call("tombstone_clerk_organizations", {
        p_org_ids: orgIds,
        p_deleted_at: deletedAt,
      });
      return outcomeMap("tombstone_clerk_organizations", data, ["deleted"]).size;
    },
    async tombstoneMemberships(members, deletedAt) {
      const data = await call("tombstone_clerk_memberships", {
        p_members: members.map(({ org_id, user_id }) => ({ org_id, user_id })),
        p_deleted_at: deletedAt,
      });
      // {"deleted": [{"org_id", "user_id"}, ...]}
      const deleted = (data as { deleted?: unknown } | null)?.deleted;
      if (!Array.isArray(deleted)) {
        throw new RpcError("tombstone_clerk_memberships", 200, "", "unexpected result");
      }
      return deleted.length;
    },
  };
}

function isMembershipKey(value: unknown): value is MembershipKey {
  if (typeof value !== "object" || value === null) return false;
  const { membership_id, org_id, user_id } = value as Record<string, unknown>;
  return typeof membership_id === "string" && typeof org_id === "string" &&
    typeof user_id === "string";
}

// The functions answer {"<outcome>": ["<id>", ...], ...}; anything else breaks the contract.
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
 * Which RPC failures are worth retrying: what the webhook answers 503 for (`isUnavailable` of
 * supabase/functions/_shared/rpc.ts: no answer, the gateway's 502/503/504/520 or any 5xx that is
 * not PostgREST's JSON, a lock wait or statement the server cancelled (55P03, 57014), a shutdown
 * (57P01-57P03), a lost connection (08xxx), exhausted resources (53xxx but 53400)), our own
 * timeout, and a lost serialization race (40001, 40P01). A refused key, a bad argument: not.
 */
export function classifyRpcError(error: unknown): Verdict {
  if (!(error instanceof RpcError)) return { kind: "fatal" };
  if (error.timedOut) return { kind: "transient", reason: `${error.fn} timed out` };
  if (error.status === 429) return { kind: "rate_limited", delayMs: null, reason: error.message };
  if (isUnavailable(error.status, error.code) || /^(40001|40P01)$/.test(error.code)) {
    return { kind: "transient", reason: error.message };
  }
  return { kind: "fatal" };
}
