import {
  cleanMetadata,
  clerkIdOf,
  epochMsToIso,
  exactText,
  invalidTimestamp,
  isRecord,
  optionalTimestamp,
  textOrNull,
} from "./clerk_user.ts";
import { PayloadError } from "./errors.ts";

/** The fields of Clerk's organization object (webhook `data`, Backend API JSON) the sync reads. */
export interface ClerkOrganizationJson {
  id?: unknown;
  name?: unknown;
  slug?: unknown;
  image_url?: unknown;
  public_metadata?: unknown;
  created_by?: unknown;
  created_at?: unknown;
  updated_at?: unknown;
}

/** The fields of Clerk's organization membership object that the sync reads. */
export interface ClerkMembershipJson {
  id?: unknown;
  role?: unknown;
  role_name?: unknown;
  permissions?: unknown;
  public_metadata?: unknown;
  organization?: unknown;
  public_user_data?: unknown;
  created_at?: unknown;
  updated_at?: unknown;
}

/** One row of `public.organizations` as the sync writes it (`p_organization`). */
export interface Organization {
  org_id: string;
  name: string;
  slug: string | null;
  image_url: string | null;
  public_metadata: Record<string, unknown>;
  created_by: string | null;
  clerk_created_at: string | null;
  clerk_updated_at: string;
}

/** One row of `public.organization_memberships` as the sync writes it (`p_membership`). */
export interface Membership {
  membership_id: string;
  org_id: string;
  user_id: string;
  /** Exactly as Clerk sends it: `org:admin`, `org:member`, `org:<custom>`, `admin`, ... */
  role: string;
  role_name: string | null;
  permissions: string[];
  public_metadata: Record<string, unknown>;
  clerk_created_at: string;
  clerk_updated_at: string;
}

/** A mapped membership and the organization snapshot it carries. */
export interface MappedMembership {
  membership: Membership;
  organization: Organization;
}

/**
 * Maps a Clerk organization object (at `path` of the payload, for error messages) to a row;
 * `private_metadata` is never read. The name, image URL and metadata are cleaned as a user's
 * profile is (NUL characters and lone surrogates dropped); the id, slug and creator are stored
 * exactly or refused. Throws {@linkcode PayloadError} naming the field for what cannot be stored
 * (no usable id or name, a slug or creator with control characters or lone surrogates, a timestamp
 * out of range, metadata nested too deep).
 */
export function toOrganization(org: ClerkOrganizationJson, path = "data"): Organization {
  const orgId = clerkIdOf(org.id, `${path}.id`);
  if (orgId === null) throw new PayloadError(`${path}.id is missing`);
  if (typeof org.name !== "string") throw new PayloadError(`${path}.name is missing`);
  const updatedAt = epochMsToIso(org.updated_at);
  if (!updatedAt) throw new PayloadError(invalidTimestamp(`${path}.updated_at`));
  return {
    org_id: orgId,
    name: textOrNull(org.name) ?? "",
    // Apps address organizations by slug (Clerk's middleware activates one from the URL's slug).
    slug: exactText(org.slug, `${path}.slug`),
    image_url: textOrNull(org.image_url),
    public_metadata: cleanMetadata(org.public_metadata, `${path}.public_metadata`),
    created_by: exactText(org.created_by, `${path}.created_by`),
    clerk_created_at: optionalTimestamp(org.created_at, `${path}.created_at`),
    clerk_updated_at: updatedAt,
  };
}

/**
 * Maps a Clerk organization membership (webhook `data`) to a row and its nested `organization`
 * snapshot, which is required. The member is `public_user_data.user_id`; the role and every
 * permission are stored exactly as sent, or refused when they hold control characters or lone
 * surrogates (they grant rights: cleaning could turn them into others); the role's display name
 * and the metadata are cleaned; `private_metadata` is never read. Throws
 * {@linkcode PayloadError} naming the field.
 */
export function toMembership(member: ClerkMembershipJson): MappedMembership {
  const membershipId = clerkIdOf(member.id, "data.id");
  if (membershipId === null) throw new PayloadError("data.id is missing");
  if (!isRecord(member.organization)) throw new PayloadError("data.organization is missing");
  const organization = toOrganization(member.organization, "data.organization");
  const userId = memberIdOf(member.public_user_data);
  if (userId === null) throw new PayloadError("data.public_user_data.user_id is missing");
  const role = exactText(member.role, "data.role");
  if (role === null) throw new PayloadError("data.role is missing");
  const createdAt = epochMsToIso(member.created_at);
  if (!createdAt) throw new PayloadError(invalidTimestamp("data.created_at"));
  const updatedAt = epochMsToIso(member.updated_at);
  if (!updatedAt) throw new PayloadError(invalidTimestamp("data.updated_at"));
  return {
    membership: {
      membership_id: membershipId,
      org_id: organization.org_id,
      user_id: userId,
      role,
      role_name: textOrNull(member.role_name),
      permissions: permissionsOf(member.permissions),
      public_metadata: cleanMetadata(member.public_metadata, "data.public_metadata"),
      clerk_created_at: createdAt,
      clerk_updated_at: updatedAt,
    },
    organization,
  };
}

// Each permission exactly as sent; entries that are not strings, or empty, are no permission.
function permissionsOf(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value
    .map((permission, i) => exactText(permission, `data.permissions[${i}]`))
    .filter((permission): permission is string => permission !== null);
}

/**
 * The member's user id from a membership's `public_user_data` (null when absent), for the mapping
 * and for naming the user of a refused event.
 */
export function memberIdOf(publicUserData: unknown): string | null {
  if (!isRecord(publicUserData)) return null;
  return clerkIdOf(publicUserData.user_id, "data.public_user_data.user_id");
}
