/** The writer: rows of one kind written in one call of its batch function. */
import type { ClerkObject } from "./clerk_source.ts";
import type { PerKind } from "./kinds.ts";
import type { Failure } from "./outcomes.ts";
import type { RowKind } from "./rows.ts";
import { type BackfillStore, RpcError, type SyncOutcome } from "./store.ts";

type Write = (store: BackfillStore, rows: never[]) => Promise<Map<string, SyncOutcome>>;

// public.sync_clerk_users, sync_clerk_organizations, sync_clerk_memberships.
const WRITE: PerKind<Write> = {
  users: (store, rows) => store.syncUsers(rows),
  organizations: (store, rows) => store.syncOrganizations(rows),
  memberships: (store, rows) => store.syncMemberships(rows),
};

/** What a write did per object, and the objects it could not write. */
export interface Written {
  outcomes: Map<string, SyncOutcome>;
  failures: Failure[];
}

/**
 * Writes rows in one call. When the database refuses the batch's data, writes them one by one so
 * that only the offending objects fail; any other error propagates (the run stops, resumable).
 */
export async function writeRows<R>(
  store: BackfillStore,
  rowKind: RowKind<ClerkObject, R>,
  rows: R[],
): Promise<Written> {
  const failures: Failure[] = [];
  if (rows.length === 0) return { outcomes: new Map(), failures };
  const { kind } = rowKind;
  const write = (batch: R[]) => WRITE[kind](store, batch as never[]);
  let outcomes: Map<string, SyncOutcome>;
  try {
    outcomes = await write(rows);
  } catch (error) {
    if (!(error instanceof RpcError && error.isDataError)) throw error;
    outcomes = new Map();
    for (const row of rows) {
      try {
        for (const [id, outcome] of await write([row])) outcomes.set(id, outcome);
      } catch (single) {
        if (!(single instanceof RpcError && single.isDataError)) throw single;
        failures.push({ kind, id: rowKind.key(row), reason: single.message });
      }
    }
  }
  for (const row of rows) {
    const id = rowKind.key(row);
    if (!outcomes.has(id) && !failures.some((f) => f.id === id)) {
      failures.push({ kind, id, reason: "the database reported no outcome" });
    }
  }
  return { outcomes, failures };
}
