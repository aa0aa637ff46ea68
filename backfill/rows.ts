/** The mapper: Clerk's objects become rows with the webhook's own mapping. */
import {
  type ClerkMembershipJson,
  type ClerkOrganizationJson,
  type Membership,
  type Organization,
  toMembership,
  toOrganization,
} from "../supabase/functions/_shared/clerk_organization.ts";
import {
  type ClerkUserJson,
  type Profile,
  toProfile,
} from "../supabase/functions/_shared/clerk_user.ts";
import type { ClerkObject } from "./clerk_source.ts";
import type { Kind, PerKind } from "./kinds.ts";
import { errorText, type Failure } from "./outcomes.ts";

/** How one kind of Clerk object becomes a row, and the key the batch functions answer with. */
export interface RowKind<J extends ClerkObject, R> {
  kind: Kind;
  map(item: J): R;
  key(row: R): string;
}

/** Users: rows of public.profiles. */
export const USER_ROWS: RowKind<ClerkUserJson, Profile> = {
  kind: "users",
  map: (user) => toProfile(user),
  key: (profile) => profile.user_id,
};

/** Organizations: rows of public.organizations. */
export const ORGANIZATION_ROWS: RowKind<ClerkOrganizationJson, Organization> = {
  kind: "organizations",
  map: (org) => toOrganization(org),
  key: (org) => org.org_id,
};

/**
 * Memberships: rows of public.organization_memberships. The nested organization is mapped (the
 * mapping requires it) but not written: the organizations' own listing comes first.
 */
export const MEMBERSHIP_ROWS: RowKind<ClerkMembershipJson, Membership> = {
  kind: "memberships",
  map: (member) => toMembership(member).membership,
  key: (member) => member.membership_id,
};

/** The mapping of each kind, types erased for code that handles every kind alike. */
export const ROWS: PerKind<RowKind<ClerkObject, unknown>> = {
  users: USER_ROWS as unknown as RowKind<ClerkObject, unknown>,
  organizations: ORGANIZATION_ROWS as unknown as RowKind<ClerkObject, unknown>,
  memberships: MEMBERSHIP_ROWS as unknown as RowKind<ClerkObject, unknown>,
};

/** Maps objects with the webhook's mapping; objects it refuses become failures. */
export function mapItems<J extends ClerkObject, R>(
  rowKind: RowKind<J, R>,
  items: J[],
): { rows: R[]; failures: Failure[] } {
  const rows: R[] = [];
  const failures: Failure[] = [];
  for (const item of items) {
    try {
      rows.push(rowKind.map(item));
    } catch (error) {
      failures.push({
        kind: rowKind.kind,
        id: typeof item.id === "string" ? item.id : "(no id)",
        reason: errorText(error),
      });
    }
  }
  return { rows, failures };
}
