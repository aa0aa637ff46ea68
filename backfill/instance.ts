/**
 * One database, one Clerk instance: before a backfill or reconcile reads a listing or writes a
 * row, the instance of CLERK_SECRET_KEY (`GET /v1/instance`) is compared with the one the database
 * follows (`public.follow_clerk_instance`, recorded on first use). Another instance's key is
 * refused whatever the flags say: its objects would all be rows no event of the right instance
 * ever matches, and the right instance's rows would all look orphaned.
 */
import { logLine } from "../supabase/functions/_shared/log.ts";
import type { ClerkInstance, ClerkSources } from "./clerk_source.ts";
import type { BackfillStore, InstanceStatus } from "./store.ts";

/** The key belongs to another instance than the one the database follows. */
export class InstanceMismatchError extends Error {
  override name = "InstanceMismatchError";

  constructor(readonly followed: string, readonly keyInstance: string) {
    // Longer than one logged value may be: only the ids are values (escaped, capped).
    super(
      logLine`refused: this database follows Clerk instance ${followed}, but CLERK_SECRET_KEY ` +
        logLine`is a key of instance ${keyInstance}; nothing was read or written. Use a secret ` +
        logLine`key of ${followed}. To move this database to ${keyInstance} instead (it removes ` +
        logLine`every row of ${followed}: profiles, organizations, memberships, tombstones, and ` +
        "app rows that cascade from them), run as the database owner: " +
        logLine`select clerk_sync.move_to_clerk_instance('${keyInstance}');`,
    );
  }
}

/** The instance of the run's secret key, and how the database's record compares. */
export interface InstanceCheck {
  instance: ClerkInstance;
  status: InstanceStatus;
}

/**
 * Compares the key's instance with the database's (recording it on first use when `record`);
 * throws {@linkcode InstanceMismatchError} on another instance. Logs one line naming the instance.
 */
export async function checkClerkInstance(
  sources: Pick<ClerkSources, "instance">,
  store: Pick<BackfillStore, "followInstance">,
  run: { source: "backfill" | "reconcile"; record: boolean; log?: (line: string) => void },
): Promise<InstanceCheck> {
  const instance = await sources.instance();
  const followed = await store.followInstance(instance.id, run.source, run.record);
  if (followed.status === "mismatch") {
    throw new InstanceMismatchError(followed.instanceId ?? "(unknown)", instance.id);
  }
  const how = followed.status === "recorded"
    ? "recorded now as the instance this database follows"
    : followed.status === "matches"
    ? "the instance this database follows"
    : "no instance recorded yet (a dry run records none)";
  run.log?.(`Clerk instance ${instance.id} (${instance.environmentType}): ${how}.`);
  return { instance, status: followed.status };
}
