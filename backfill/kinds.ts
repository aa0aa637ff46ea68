/** The kinds of Clerk object the backfill and reconcile cover, in the order they are copied. */

/** A kind of Clerk object, named as its listing is. */
export type Kind = "users" | "organizations" | "memberships";

/**
 * Users, then organizations, then memberships: a membership is written only when its
 * organization has a row (public.sync_clerk_memberships answers `stale` otherwise).
 */
export const KINDS: readonly Kind[] = ["users", "organizations", "memberships"];

/** One value per kind. */
export type PerKind<T> = Record<Kind, T>;

/** A value per kind, made by `make`. */
export function perKind<T>(make: (kind: Kind) => T): PerKind<T> {
  return {
    users: make("users"),
    organizations: make("organizations"),
    memberships: make("memberships"),
  };
}

/** Whether `value` names a kind. */
export function isKind(value: unknown): value is Kind {
  return KINDS.some((kind) => kind === value);
}

/** How messages name one object of a kind, and the table that mirrors it. */
export const NOUN: PerKind<{ one: string; many: string; table: string }> = {
  users: { one: "user", many: "users", table: "profiles" },
  organizations: { one: "organization", many: "organizations", table: "organizations" },
  memberships: { one: "membership", many: "memberships", table: "organization_memberships" },
};

/** "1 user", "2,345 users". */
export function counted(n: number, kind: Kind): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? NOUN[kind].one : NOUN[kind].many}`;
}
