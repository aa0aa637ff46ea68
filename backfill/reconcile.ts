/**
 * Reconcile: compares Clerk with the mirror (profiles, organizations, memberships), and with
 * `apply` repairs the drift. The comparison of every kind only reads; the writes come after all
 * of it, and only if the guards of every kind let them.
 */
import { printable } from "../supabase/functions/_shared/log.ts";
import {
  type ClerkInstance,
  type ClerkListing,
  type ClerkObject,
  type ClerkSources,
  isOrganizationsOff,
} from "./clerk_source.ts";
import { checkClerkInstance } from "./instance.ts";
import { type Kind, KINDS, NOUN, type PerKind } from "./kinds.ts";
import { type Counts, emptyCounts, errorText, type Failure } from "./outcomes.ts";
import { type Progress, silentProgress } from "./progress.ts";
import { readPages } from "./read_ahead.ts";
import { mapItems, MEMBERSHIP_ROWS, ORGANIZATION_ROWS, type RowKind, USER_ROWS } from "./rows.ts";
import type { BackfillStore, DiffState, MembershipKey } from "./store.ts";
import { writeRows } from "./writer.ts";

/** Default of `--max-orphans`. */
export const DEFAULT_MAX_ORPHANS = 100;

/** Default of `--max-orphan-percent`. */
export const DEFAULT_MAX_ORPHAN_PERCENT = 10;

/** Options of {@linkcode runReconcile}. */
export interface ReconcileOptions {
  /** Repair: write missing, outdated and restorable objects, tombstone orphans. Else only report. */
  apply: boolean;
  /** Refuse to repair when more rows of a kind than this are orphans (default 100). */
  maxOrphans?: number;
  /** Refuse to repair when more than this percentage of a kind's rows are orphans (default 10). */
  maxOrphanPercent?: number;
  /** Makes the progress display of each kind's comparison. */
  progress?: (kind: Kind) => Progress;
  log?: (line: string) => void;
  /** Aborting stops the comparison early; the report is then incomplete and nothing is written. */
  signal?: AbortSignal;
  /** Clock for the orphans' tombstones (default: now). */
  now?: () => Date;
}

/** What reconcile found (and, with `apply`, repaired) for one kind. */
export interface KindReport {
  kind: Kind;
  /** Objects read from Clerk (its listing, then the lookup by id of orphan candidates). */
  clerk: number;
  /** Rows in Supabase when the run started. */
  rows: number;
  inSync: number;
  /** Rows newer than Clerk's listing: a webhook got there first (not drift). */
  newer: number;
  /** Objects listed by Clerk with an announced tombstone: deleted meanwhile (not drift). */
  deleted: number;
  /** Clerk objects without a row. */
  missing: string[];
  /** Rows older than Clerk. */
  outdated: string[];
  /** Objects listed by Clerk whose tombstone was inferred: `apply` restores them. */
  restorable: string[];
  /** Rows whose Clerk object no longer exists (memberships: shown by membership id). */
  orphans: string[];
  /** With `apply`: outcomes of the writes, and the tombstones made. */
  repaired: (Counts & { tombstoned: number }) | null;
  /** Why this kind's drift may not be repaired. */
  refused: string | null;
  /**
   * Organizations and memberships when the Organizations feature is off in the instance: not
   * compared, nothing of them written (`rows` still counts the table's rows).
   */
  skipped: boolean;
}

/** What reconcile found (and, with `apply`, repaired). */
export interface ReconcileReport {
  /** The Clerk instance of the secret key (the one the database follows, or none yet). */
  instance: ClerkInstance;
  /** False when the Organizations feature is off: organizations and memberships were skipped. */
  organizationsEnabled: boolean;
  apply: boolean;
  kinds: PerKind<KindReport>;
  /** Why the drift may not be repaired, all kinds together (with `apply`: nothing was written). */
  refused: string | null;
  failures: Failure[];
  interrupted: boolean;
  seconds: number;
}

/**
 * Rows of organizations and memberships while Organizations is off in the instance: reported (not
 * compared, never touched), and drift for the exit code.
 */
export function rowsWhileOff(report: ReconcileReport): number {
  return report.kinds.organizations.skipped || report.kinds.memberships.skipped
    ? report.kinds.organizations.rows + report.kinds.memberships.rows
    : 0;
}

/** Objects of one kind found drifting: missing, outdated, restorable and orphaned. */
export function kindDrift(report: KindReport): number {
  return report.missing.length + report.outdated.length + report.restorable.length +
    report.orphans.length;
}

/** Drift of one kind still there at the end: all of it in a dry run, what `apply` did not settle. */
export function kindRemaining(report: KindReport): number {
  const r = report.repaired;
  if (!r) return kindDrift(report);
  // A stale or unchanged write is settled too: a webhook wrote newer data or deleted the object.
  const settled = r.applied + r.restored + r.stale + r.unchanged + r.tombstoned;
  return Math.max(0, kindDrift(report) - settled);
}

/** Objects found drifting, all kinds. */
export function driftCount(report: ReconcileReport): number {
  return KINDS.reduce((n, kind) => n + kindDrift(report.kinds[kind]), 0);
}

/** Drift that is still there at the end, all kinds. */
export function remainingDrift(report: ReconcileReport): number {
  return KINDS.reduce((n, kind) => n + kindRemaining(report.kinds[kind]), 0);
}

/** An empty report of one kind. */
export function emptyKindReport(kind: Kind): KindReport {
  return {
    kind,
    clerk: 0,
    rows: 0,
    inSync: 0,
    newer: 0,
    deleted: 0,
    missing: [],
    outdated: [],
    restorable: [],
    orphans: [],
    repaired: null,
    refused: null,
    skipped: false,
  };
}

const ID_PAGE = 5000;
const BATCH = 1000;

/**
 * How reconcile handles one kind. A row of the mirror has an identity (what Clerk's listing must
 * show for it not to be an orphan) and a key its tombstone is written with.
 */
interface Spec<J extends ClerkObject, R, K> {
  rows: RowKind<J, R>;
  /** The mirror's rows before Clerk is read: identity → key. */
  readMirror(store: BackfillStore): Promise<Map<string, K>>;
  /** A listed object's identity, read from Clerk's JSON (also when the mapping refuses it). */
  identity(item: J): string | null;
  /** How an orphan is shown. */
  display(key: K): string;
  diff(store: BackfillStore, rows: R[]): Promise<Map<string, DiffState>>;
  tombstone(store: BackfillStore, keys: K[], deletedAt: string): Promise<number>;
}

const USERS: Spec<ClerkObject, unknown, string> = spec({
  rows: USER_ROWS,
  readMirror: (store) => readIds((after) => store.listProfileIds(after, ID_PAGE)),
  identity: (user) => typeof user.id === "string" ? user.id : null,
  display: (id) => id,
  diff: (store, profiles) =>
    store.diffUsers(profiles.map((p) => ({
      user_id: p.user_id,
      clerk_updated_at: p.clerk_updated_at,
    }))),
  tombstone: (store, ids, deletedAt) => store.tombstoneUsers(ids, deletedAt),
});

const ORGANIZATIONS: Spec<ClerkObject, unknown, string> = spec({
  rows: ORGANIZATION_ROWS,
  readMirror: (store) => readIds((after) => store.listOrganizationIds(after, ID_PAGE)),
  identity: (org) => typeof org.id === "string" ? org.id : null,
  display: (id) => id,
  diff: (store, orgs) =>
    store.diffOrganizations(orgs.map((o) => ({
      org_id: o.org_id,
      clerk_updated_at: o.clerk_updated_at,
    }))),
  tombstone: (store, ids, deletedAt) => store.tombstoneOrganizations(ids, deletedAt),
});

// A member of an organization is one row, whatever the membership id: a member removed and
// added again has a new membership that replaces the row.
const MEMBERSHIPS: Spec<ClerkObject, unknown, MembershipKey> = spec({
  rows: MEMBERSHIP_ROWS,
  async readMirror(store) {
    const keys = new Map<string, MembershipKey>();
    for (let after: MembershipKey | null = null;;) {
      const page: MembershipKey[] = await store.listMembershipKeys(after, ID_PAGE);
      for (const key of page) keys.set(memberIdentity(key), key);
      if (page.length < ID_PAGE) return keys;
      after = page[page.length - 1];
    }
  },
  identity(member) {
    const org = member.organization as { id?: unknown } | null | undefined;
    const user = member.public_user_data as { user_id?: unknown } | null | undefined;
    if (typeof org?.id !== "string" || typeof user?.user_id !== "string") return null;
    return memberIdentity({ org_id: org.id, user_id: user.user_id });
  },
  display: (key) => key.membership_id,
  diff: (store, members) =>
    store.diffMemberships(members.map((m) => ({
      membership_id: m.membership_id,
      org_id: m.org_id,
      user_id: m.user_id,
      clerk_created_at: m.clerk_created_at,
      clerk_updated_at: m.clerk_updated_at,
    }))),
  tombstone: (store, keys, deletedAt) => store.tombstoneMemberships(keys, deletedAt),
});

const SPECS: PerKind<Spec<ClerkObject, unknown, unknown>> = {
  users: USERS as Spec<ClerkObject, unknown, unknown>,
  organizations: ORGANIZATIONS as Spec<ClerkObject, unknown, unknown>,
  memberships: MEMBERSHIPS as Spec<ClerkObject, unknown, unknown>,
};

// Erases a spec's types for the table above; each spec is checked where it is written.
function spec<J extends ClerkObject, R, K>(s: Spec<J, R, K>): Spec<ClerkObject, unknown, K> {
  return s as unknown as Spec<ClerkObject, unknown, K>;
}

function memberIdentity(key: { org_id: string; user_id: string }): string {
  return JSON.stringify([key.org_id, key.user_id]);
}

async function readIds(
  page: (after: string | null) => Promise<string[]>,
): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (let after: string | null = null;;) {
    const chunk = await page(after);
    for (const id of chunk) ids.set(id, id);
    if (chunk.length < ID_PAGE) return ids;
    after = chunk[chunk.length - 1];
  }
}

/** One kind compared: its report, the rows to write and the orphans' tombstone keys. */
interface Compared<K> {
  report: KindReport;
  repair: unknown[];
  orphanKeys: K[];
  /** Objects in Clerk's listing (without the lookup). */
  listed: number;
  complete: boolean;
  /** When the mirror's rows were read: every orphan existed then. */
  readAt: Date;
}

/**
 * Checks the key's Clerk instance against the database's (refusing another one before anything is
 * read or written; `apply` records it on first use, a dry run records nothing), finds out whether
 * Organizations is on, then runs the comparison; see {@linkcode ReconcileReport}. With
 * Organizations off, organizations and memberships are not compared and nothing of them is
 * written: a listing Clerk refuses says nothing about which rows are orphans.
 */
export async function runReconcile(
  sources: ClerkSources,
  store: BackfillStore,
  options: ReconcileOptions,
): Promise<ReconcileReport> {
  const started = performance.now();
  const { instance } = await checkClerkInstance(sources, store, {
    source: "reconcile",
    record: options.apply,
    log: options.log,
  });
  let organizationsEnabled = await sources.organizationsEnabled();
  const failures: Failure[] = [];
  const compared = {} as PerKind<Compared<unknown>>;
  let interrupted = false;
  for (const kind of KINDS) {
    let result: Compared<unknown> | null = null;
    if (interrupted) result = notCompared(kind, false);
    else if (kind !== "users" && !organizationsEnabled) {
      result = await skipped(SPECS[kind], store);
    } else {
      try {
        result = await compareKind(SPECS[kind], sources[kind], store, failures, options);
      } catch (error) {
        // Turned off in Clerk during the run: as if it had been off from the start.
        if (kind === "users" || !isOrganizationsOff(error)) throw error;
        organizationsEnabled = false;
        result = await skipped(SPECS[kind], store);
      }
    }
    compared[kind] = result;
    if (!result.complete) interrupted = true;
  }
  if (!organizationsEnabled && !compared.organizations.report.skipped) {
    // Organizations compared before memberships found the feature off: drop that comparison too.
    compared.organizations = await skipped(SPECS.organizations, store);
  }
  const report: ReconcileReport = {
    instance,
    organizationsEnabled,
    apply: options.apply,
    kinds: {
      users: compared.users.report,
      organizations: compared.organizations.report,
      memberships: compared.memberships.report,
    },
    refused: null,
    failures,
    interrupted,
    seconds: 0,
  };
  if (interrupted) return finish(report, started);

  const kinds = KINDS.filter((kind) => !report.kinds[kind].skipped);
  for (const kind of kinds) {
    report.kinds[kind].refused = refusal(kind, report.kinds[kind], compared[kind].listed, options);
  }
  const reasons = kinds.flatMap((kind) => report.kinds[kind].refused ?? []);
  if (reasons.length > 0) {
    report.refused = `${
      reasons.join("; ")
    }: is CLERK_SECRET_KEY the key of this project's Clerk instance?`;
  }
  if (!options.apply || report.refused) return finish(report, started);

  // Everything is compared and the guards of every kind agree: now write. Users first, then
  // organizations, then memberships (a membership needs its organization's row and its user's
  // tombstone lifted).
  for (const kind of kinds) {
    const spec = SPECS[kind];
    const { repair } = compared[kind];
    const repaired = { ...emptyCounts(), tombstoned: 0 };
    report.kinds[kind].repaired = repaired;
    for (let i = 0; i < repair.length; i += BATCH) {
      const written = await writeRows(store, spec.rows, repair.slice(i, i + BATCH));
      for (const outcome of written.outcomes.values()) repaired[outcome]++;
      repaired.failed += written.failures.length;
      failures.push(...written.failures);
    }
  }
  for (const kind of kinds) {
    const spec = SPECS[kind];
    const { orphanKeys, readAt } = compared[kind];
    // A membership's tombstone blocks the memberships created up to its time: when the mirror
    // was read and the orphan was known to exist, so that a member added again since (by a
    // webhook delivered during the run) keeps the new membership.
    const deletedAt = kind === "memberships"
      ? readAt.toISOString()
      : (options.now?.() ?? new Date()).toISOString();
    const repaired = report.kinds[kind].repaired!;
    for (let i = 0; i < orphanKeys.length; i += BATCH) {
      repaired.tombstoned += await spec.tombstone(
        store,
        orphanKeys.slice(i, i + BATCH),
        deletedAt,
      );
    }
  }
  return finish(report, started);
}

function notCompared(kind: Kind, complete: boolean): Compared<unknown> {
  return {
    report: emptyKindReport(kind),
    repair: [],
    orphanKeys: [],
    listed: 0,
    complete,
    readAt: new Date(),
  };
}

// A kind of the Organizations feature while it is off: only its rows are counted.
async function skipped<K>(spec: Spec<ClerkObject, unknown, K>, store: BackfillStore) {
  const result = notCompared(spec.rows.kind, true);
  result.report.rows = (await spec.readMirror(store)).size;
  result.report.skipped = true;
  return result;
}

/** Reads the mirror's rows of one kind, then Clerk's listing, and classifies, read-only. */
async function compareKind<K>(
  spec: Spec<ClerkObject, unknown, K>,
  listing: ClerkListing<ClerkObject>,
  store: BackfillStore,
  failures: Failure[],
  options: ReconcileOptions,
): Promise<Compared<K>> {
  const kind = spec.rows.kind;
  const report = emptyKindReport(kind);
  const progress = options.progress?.(kind) ?? silentProgress;
  // The rows to write, kept until the comparison is complete. Drift is normally small; a whole
  // missing table is the backfill's job.
  const repair: unknown[] = [];

  // Rows that exist before Clerk is read. One that Clerk's listing does not show is an orphan
  // candidate; rows created later (by the webhook) are never candidates.
  const readAt = options.now?.() ?? new Date();
  const unseen = await spec.readMirror(store);
  report.rows = unseen.size;

  async function compare(items: ClerkObject[]): Promise<void> {
    const mapped = mapItems(spec.rows, items);
    report.clerk += items.length;
    failures.push(...mapped.failures);
    // Listed is listed: an object the mapping refuses is a failure, never an orphan.
    for (const item of items) {
      const identity = spec.identity(item);
      if (identity !== null) unseen.delete(identity);
    }
    const states = await spec.diff(store, mapped.rows);
    for (const row of mapped.rows) {
      const id = spec.rows.key(row);
      const state = states.get(id);
      if (state === "in_sync") report.inSync++;
      else if (state === "newer") report.newer++;
      else if (state === "deleted") report.deleted++;
      else if (state === "missing" || state === "outdated" || state === "restorable") {
        report[state].push(id);
        repair.push(row);
      } else failures.push({ kind, id, reason: "no diff state" });
    }
  }

  let total = await listing.count();
  progress.update(0, total);
  let complete = false;
  let listed = 0;
  try {
    for await (const page of readPages(listing, listing.start, options.signal)) {
      if (options.signal?.aborted) break;
      total = page.totalCount ?? total;
      listed += page.items.length;
      await compare(page.items);
      progress.update(report.clerk, total);
      complete = page.last;
    }
  } catch (error) {
    if (!options.signal?.aborted) throw error;
    options.log?.(`Stopped while waiting: ${printable(errorText(error))}`);
  } finally {
    progress.finish();
  }
  if (!complete) return { report, repair, orphanKeys: [], listed, complete, readAt };

  // Ask Clerk about each candidate by id before calling it an orphan (a listing is not a
  // snapshot), and compare the ones that do exist. Memberships have no lookup: their listing,
  // read with the offset-shift protection of every listing, is the source.
  if (listing.lookup && unseen.size > 0) {
    const found = await listing.lookup([...unseen.keys()]);
    for (let i = 0; i < found.length; i += BATCH) await compare(found.slice(i, i + BATCH));
  }
  const orphans = [...unseen.values()]
    .map((key) => ({ key, shown: spec.display(key) }))
    .sort((a, b) => a.shown < b.shown ? -1 : a.shown > b.shown ? 1 : 0);
  report.orphans = orphans.map((o) => o.shown);
  return { report, repair, orphanKeys: orphans.map((o) => o.key), listed, complete, readAt };
}

/**
 * Why one kind's drift looks like a wrong `CLERK_SECRET_KEY` (another instance's) rather than
 * real deletions, or null. A listing of none while the mirror holds rows is always refused;
 * otherwise the orphans may be neither more than `maxOrphans` nor more than `maxOrphanPercent`
 * of the kind's rows.
 */
function refusal(
  kind: Kind,
  report: KindReport,
  listed: number,
  options: ReconcileOptions,
): string | null {
  const { one, many, table } = NOUN[kind];
  if (listed === 0 && report.rows > 0) {
    return `Clerk listed no ${many} while ${table} holds ${report.rows}`;
  }
  const orphans = report.orphans.length;
  const max = options.maxOrphans ?? DEFAULT_MAX_ORPHANS;
  const percent = options.maxOrphanPercent ?? DEFAULT_MAX_ORPHAN_PERCENT;
  const share = report.rows > 0 ? (orphans / report.rows) * 100 : 0;
  const over = [
    ...(orphans > max ? [`more than --max-orphans=${max}`] : []),
    ...(orphans * 100 > percent * report.rows
      ? [`more than --max-orphan-percent=${percent} (${share.toFixed(1)}%)`]
      : []),
  ];
  if (over.length === 0) return null;
  return `${orphans} of ${report.rows} ${table} have no Clerk ${one}, ${over.join(" and ")}`;
}

function finish(report: ReconcileReport, started: number): ReconcileReport {
  report.seconds = (performance.now() - started) / 1000;
  return report;
}
