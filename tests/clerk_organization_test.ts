// The organization and membership mapping of supabase/functions/_shared/clerk_organization.ts,
// from payloads shaped like Clerk's (tests/fixtures/organization_*.json, Clerk's documented
// examples with today's fields) and from the builders typed against @clerk/backend.
import assert from "node:assert/strict";
import { toMembership, toOrganization } from "../supabase/functions/_shared/clerk_organization.ts";
import { MAX_METADATA_DEPTH } from "../supabase/functions/_shared/clerk_user.ts";
import { PayloadError } from "../supabase/functions/_shared/errors.ts";
import { clerkMembershipPayload, clerkOrganizationPayload } from "./support/clerk_payloads.ts";

async function fixture(name: string) {
  return JSON.parse(await Deno.readTextFile(new URL(`./fixtures/${name}`, import.meta.url)));
}

const orgCreated = await fixture("organization_created.json");
const memberCreated = await fixture("organization_membership_created.json");
const memberLegacy = await fixture("organization_membership_deleted_legacy.json");

function refuses(fn: () => unknown, message: string): void {
  assert.throws(fn, (error: Error) => {
    assert.ok(error instanceof PayloadError, String(error));
    assert.equal(error.message, message);
    return true;
  });
}

Deno.test("toOrganization() maps Clerk's organization object to a row", () => {
  assert.deepEqual(toOrganization(orgCreated.data), {
    org_id: "org_29w9IfBrPmcpi0IeBVaKtA7R94W",
    name: "Acme Inc",
    slug: "acme-inc",
    image_url: "https://img.clerk.com/xxxxxx",
    public_metadata: { plan: "team" },
    created_by: "user_1vq84bqWzw7qmFgqSwN4CH1Wp0n",
    clerk_created_at: "2022-05-31T16:06:42.977Z",
    clerk_updated_at: "2022-05-31T16:06:42.977Z",
  });
});

Deno.test("toOrganization() never passes private_metadata on", () => {
  const org = toOrganization(orgCreated.data);
  assert.ok(!("private_metadata" in org));
  assert.ok(!JSON.stringify(org).includes("acct_secret_42"));
});

Deno.test("toOrganization() maps the builder's organization (typed as OrganizationJSON)", () => {
  const payload = clerkOrganizationPayload({
    id: "org_built",
    name: "Büro Ünited",
    updatedAt: 1_700_000_000_000,
    createdAt: 1_600_000_000_000,
    publicMetadata: { tier: "gold" },
    privateMetadata: { secret: "never" },
  });
  const org = toOrganization(payload);
  assert.equal(org.name, "Büro Ünited");
  assert.equal(org.slug, "b-ro-nited");
  assert.deepEqual(org.public_metadata, { tier: "gold" });
  assert.equal(org.clerk_created_at, "2020-09-13T12:26:40.000Z");
  assert.equal(org.clerk_updated_at, "2023-11-14T22:13:20.000Z");
});

Deno.test("toOrganization() maps absent and null optional fields to null and {}", () => {
  assert.deepEqual(
    toOrganization({ id: "org_min", name: "Min", updated_at: 1_700_000_000_000 }),
    {
      org_id: "org_min",
      name: "Min",
      slug: null,
      image_url: null,
      public_metadata: {},
      created_by: null,
      clerk_created_at: null,
      clerk_updated_at: "2023-11-14T22:13:20.000Z",
    },
  );
  const nulls = toOrganization({
    ...orgCreated.data,
    slug: null,
    image_url: "",
    public_metadata: null,
    created_by: null,
    created_at: null,
  });
  assert.equal(nulls.slug, null);
  assert.equal(nulls.image_url, null);
  assert.deepEqual(nulls.public_metadata, {});
  assert.equal(nulls.created_by, null);
  assert.equal(nulls.clerk_created_at, null);
});

Deno.test("toOrganization() drops NUL characters and lone surrogates from its name and metadata", () => {
  const org = toOrganization({
    ...orgCreated.data,
    name: "Ac\u0000me \ud800Inc \ud83d\ude80",
    public_metadata: { "k\u0000": ["v\udfff", { deep: "x\u0000" }] },
  });
  assert.equal(org.name, "Acme Inc \u{1f680}");
  assert.deepEqual(org.public_metadata, { k: ["v", { deep: "x" }] });
});

Deno.test("toOrganization() refuses a slug or creator it would have to clean, naming the field", () => {
  const data = orgCreated.data;
  for (const slug of ["ac\u0000me", "acme\ud800", "acme\n"]) {
    refuses(
      () => toOrganization({ ...data, slug }),
      "data.slug contains control characters or lone surrogates",
    );
  }
  refuses(
    () => toOrganization({ ...data, created_by: "user_\u0000admin" }),
    "data.created_by contains control characters or lone surrogates",
  );
  refuses(
    () => toMembership({ ...memberCreated.data, organization: { ...data, slug: "a\udc00" } }),
    "data.organization.slug contains control characters or lone surrogates",
  );
  assert.equal(toOrganization({ ...data, slug: "acme-\u{1f680}" }).slug, "acme-\u{1f680}");
});

Deno.test("toOrganization() refuses what cannot be stored, naming the field", () => {
  const data = orgCreated.data;
  refuses(() => toOrganization({ ...data, id: undefined }), "data.id is missing");
  refuses(() => toOrganization({ ...data, id: "" }), "data.id is missing");
  refuses(
    () => toOrganization({ ...data, id: "org_1\norg_2" }),
    "data.id contains control characters or lone surrogates",
  );
  refuses(() => toOrganization({ ...data, name: null }), "data.name is missing");
  refuses(
    () => toOrganization({ ...data, updated_at: 8.64e15 }),
    "data.updated_at is not a valid timestamp (epoch milliseconds from 1970 to 9999)",
  );
  refuses(
    () => toOrganization({ ...data, updated_at: undefined }),
    "data.updated_at is not a valid timestamp (epoch milliseconds from 1970 to 9999)",
  );
  refuses(
    () => toOrganization({ ...data, created_at: "2022-05-31" }),
    "data.created_at is not a valid timestamp (epoch milliseconds from 1970 to 9999)",
  );
  let deep: unknown = "bottom";
  for (let i = 0; i < MAX_METADATA_DEPTH; i++) deep = [deep];
  refuses(
    () => toOrganization({ ...data, public_metadata: { deep } }),
    "data.public_metadata is nested deeper than 100 levels",
  );
});

Deno.test("toMembership() maps Clerk's membership and its organization snapshot", () => {
  assert.deepEqual(toMembership(memberCreated.data), {
    membership: {
      membership_id: "orgmem_29w9IptNja3mP8GDXpquBwN2qR9",
      org_id: "org_29w9IfBrPmcpi0IeBVaKtA7R94W",
      user_id: "user_29w83sxmDNGwOuEthce5gg56FcC",
      role: "org:admin",
      role_name: "Admin",
      permissions: [
        "org:sys_domains:manage",
        "org:sys_domains:read",
        "org:sys_memberships:manage",
        "org:sys_memberships:read",
        "org:sys_profile:delete",
        "org:sys_profile:manage",
      ],
      public_metadata: { team: "platform" },
      clerk_created_at: "2022-05-31T16:06:43.217Z",
      clerk_updated_at: "2022-05-31T16:06:43.217Z",
    },
    organization: toOrganization(memberCreated.data.organization),
  });
});

Deno.test("toMembership() never passes the membership's or the organization's private_metadata on", () => {
  const mapped = toMembership(memberCreated.data);
  assert.ok(!("private_metadata" in mapped.membership));
  assert.ok(!("private_metadata" in mapped.organization));
  const text = JSON.stringify(mapped);
  assert.ok(!text.includes("seat_cost_cents"));
  assert.ok(!text.includes("acct_secret_42"));
});

Deno.test("toMembership() keeps a legacy membership's role as sent, without role_name or permissions", () => {
  const { membership, organization } = toMembership(memberLegacy.data);
  assert.equal(membership.role, "basic_member");
  assert.equal(membership.role_name, null);
  assert.deepEqual(membership.permissions, []);
  assert.deepEqual(membership.public_metadata, {});
  assert.equal(membership.user_id, "user_29wACSk1DjeUCwsS6SbbgIgilMy");
  assert.equal(organization.image_url, "https://img.clerk.com/xxxxxx");
  assert.equal(organization.clerk_updated_at, "2022-05-31T16:12:47.994Z");
});

Deno.test("toMembership() stores custom roles exactly as sent", () => {
  const organization = clerkOrganizationPayload({ id: "org_roles", updatedAt: 1_700_000_000_000 });
  for (const role of ["org:billing_manager", "org:Admin", "admin", "org:a:b", "rôle"]) {
    const payload = clerkMembershipPayload({
      id: "orgmem_roles",
      organization,
      userId: "user_roles",
      createdAt: 1_700_000_000_000,
      role,
    });
    assert.equal(toMembership(payload).membership.role, role);
  }
  const custom = clerkMembershipPayload({
    id: "orgmem_custom",
    organization,
    userId: "user_roles",
    createdAt: 1_700_000_000_000,
    role: "org:billing_manager",
  });
  assert.equal(toMembership(custom).membership.role_name, "Billing manager");
});

Deno.test("toMembership() cleans the role's name and metadata, and keeps only string permissions", () => {
  const data = {
    ...memberCreated.data,
    role_name: "Ad\u0000min",
    permissions: ["org:a", 42, null, "", "org:b"],
    public_metadata: { "k\u0000": "v\ud800" },
  };
  const { membership } = toMembership(data);
  assert.equal(membership.role_name, "Admin");
  assert.deepEqual(membership.permissions, ["org:a", "org:b"]);
  assert.deepEqual(membership.public_metadata, { k: "v" });
  assert.deepEqual(toMembership({ ...data, permissions: null }).membership.permissions, []);
});

Deno.test("toMembership() refuses a role or permission it would have to clean, naming the field", () => {
  const data = memberCreated.data;
  // Cleaned, "org:ad\u0000min" was stored as org:admin, and clerk_rls.org_role() answered it.
  for (const role of ["org:ad\u0000min", "org:admin\ud800", "\udc00org:admin", "org:admin\r"]) {
    refuses(
      () => toMembership({ ...data, role }),
      "data.role contains control characters or lone surrogates",
    );
  }
  refuses(
    () =>
      toMembership({
        ...data,
        permissions: ["org:sys_profile:read", "org:sys_\u0000domains:manage"],
      }),
    "data.permissions[1] contains control characters or lone surrogates",
  );
  refuses(
    () => toMembership({ ...data, permissions: ["org:sys_memberships:manage\ud83d"] }),
    "data.permissions[0] contains control characters or lone surrogates",
  );
  const custom = toMembership({ ...data, role: "org:r\u00f4le_\u{1f680}" }).membership;
  assert.equal(custom.role, "org:r\u00f4le_\u{1f680}", "any other text is stored exactly");
});

Deno.test("toMembership() requires the nested organization snapshot", () => {
  const data = memberCreated.data;
  for (const organization of [undefined, null, "org_1", []]) {
    refuses(() => toMembership({ ...data, organization }), "data.organization is missing");
  }
  refuses(
    () => toMembership({ ...data, organization: { ...data.organization, id: undefined } }),
    "data.organization.id is missing",
  );
  refuses(
    () => toMembership({ ...data, organization: { ...data.organization, name: 7 } }),
    "data.organization.name is missing",
  );
  refuses(
    () => toMembership({ ...data, organization: { ...data.organization, updated_at: -1 } }),
    "data.organization.updated_at is not a valid timestamp (epoch milliseconds from 1970 to 9999)",
  );
  let deep: unknown = {};
  for (let i = 0; i < MAX_METADATA_DEPTH; i++) deep = { deep };
  refuses(
    () => toMembership({ ...data, organization: { ...data.organization, public_metadata: deep } }),
    "data.organization.public_metadata is nested deeper than 100 levels",
  );
});

Deno.test("toMembership() takes the member from public_user_data.user_id only", () => {
  const data = memberCreated.data;
  refuses(
    () => toMembership({ ...data, public_user_data: undefined, user_id: "user_top" }),
    "data.public_user_data.user_id is missing",
  );
  refuses(
    () => toMembership({ ...data, public_user_data: { ...data.public_user_data, user_id: "" } }),
    "data.public_user_data.user_id is missing",
  );
  refuses(
    () =>
      toMembership({
        ...data,
        public_user_data: { ...data.public_user_data, user_id: "user_1\u001b[31m" },
      }),
    "data.public_user_data.user_id contains control characters or lone surrogates",
  );
});

Deno.test("toMembership() refuses a membership without id, role or valid timestamps", () => {
  const data = memberCreated.data;
  refuses(() => toMembership({ ...data, id: null }), "data.id is missing");
  refuses(() => toMembership({ ...data, role: undefined }), "data.role is missing");
  refuses(() => toMembership({ ...data, role: "" }), "data.role is missing");
  refuses(
    () => toMembership({ ...data, created_at: null }),
    "data.created_at is not a valid timestamp (epoch milliseconds from 1970 to 9999)",
  );
  refuses(
    () => toMembership({ ...data, updated_at: 1.5 }),
    "data.updated_at is not a valid timestamp (epoch milliseconds from 1970 to 9999)",
  );
  let deep: unknown = [];
  for (let i = 0; i < MAX_METADATA_DEPTH; i++) deep = [deep];
  refuses(
    () => toMembership({ ...data, public_metadata: { deep } }),
    "data.public_metadata is nested deeper than 100 levels",
  );
});
