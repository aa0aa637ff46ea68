import assert from "node:assert/strict";
import { parseClerkEvent } from "../supabase/functions/clerk-webhook/clerk_event.ts";
import { PayloadError } from "../supabase/functions/_shared/errors.ts";
import { toOrganization } from "../supabase/functions/_shared/clerk_organization.ts";
import { OrganizationPayloadError } from "../supabase/functions/clerk-webhook/errors.ts";

async function readFixture(name: string) {
  return JSON.parse(await Deno.readTextFile(new URL(`./fixtures/${name}`, import.meta.url)));
}

const fixture = await readFixture("user_created.json");
const orgCreated = await readFixture("organization_created.json");
const orgDeleted = await readFixture("organization_deleted.json");
const memberCreated = await readFixture("organization_membership_created.json");
const memberDeleted = await readFixture("organization_membership_deleted_legacy.json");
// When the deliveries were signed: after every event of the fixtures, as Svix signs them.
const SVIX_TS = "1661861640";
const INSTANCE = "ins_2abcDEFghiJKLmnoPQRstuVWXyz";

function body(value: unknown): string {
  return JSON.stringify(value);
}

Deno.test("parseClerkEvent() routes user.created to an upsert ordered by updated_at", () => {
  const event = parseClerkEvent(body(fixture), "msg_1", SVIX_TS);
  assert.equal(event.kind, "user");
  if (event.kind !== "user") return;
  assert.equal(event.type, "user.created");
  assert.equal(event.svixId, "msg_1");
  assert.equal(event.userId, "user_123");
  assert.equal(event.occurredAt, "2022-05-31T15:56:31.835Z");
  assert.equal(event.profile?.email, "test.user@example.org");
});

Deno.test("parseClerkEvent() routes user.updated like user.created", () => {
  const event = parseClerkEvent(body({ ...fixture, type: "user.updated" }), "msg_2", SVIX_TS);
  assert.equal(event.kind === "user" && event.type, "user.updated");
  assert.equal(event.kind === "user" && event.profile?.user_id, "user_123");
});

Deno.test("parseClerkEvent() routes user.deleted to a deletion ordered by the envelope", () => {
  const deleted = {
    data: { deleted: true, id: "user_123", object: "user" },
    object: "event",
    timestamp: 1654012600000,
    type: "user.deleted",
  };
  assert.deepEqual(parseClerkEvent(body(deleted), "msg_3", SVIX_TS), {
    kind: "user",
    svixId: "msg_3",
    instanceId: null,
    clamped: [],
    type: "user.deleted",
    userId: "user_123",
    occurredAt: "2022-05-31T15:56:40.000Z",
    profile: null,
  });
});

Deno.test("parseClerkEvent() orders a deletion without envelope timestamp by svix-timestamp", () => {
  const deleted = { data: { deleted: true, id: "user_123" }, type: "user.deleted" };
  const event = parseClerkEvent(body(deleted), "msg_4", SVIX_TS);
  assert.equal(event.kind === "user" && event.occurredAt, "2022-08-30T12:14:00.000Z");
});

Deno.test("parseClerkEvent() ignores event types it does not handle", () => {
  const session = { data: { id: "sess_1" }, object: "event", type: "session.created" };
  assert.deepEqual(parseClerkEvent(body(session), "msg_5", SVIX_TS), {
    kind: "ignored",
    type: "session.created",
  });
});

Deno.test("parseClerkEvent() rejects a body that is not JSON", () => {
  assert.throws(() => parseClerkEvent("{not json", "msg_6", SVIX_TS), PayloadError);
  assert.throws(() => parseClerkEvent("", "msg_6", SVIX_TS), PayloadError);
});

Deno.test("parseClerkEvent() rejects JSON that is not an event", () => {
  for (const value of [null, [], 42, "user.created", { data: {} }]) {
    assert.throws(() => parseClerkEvent(body(value), "msg_7", SVIX_TS), PayloadError);
  }
});

Deno.test("parseClerkEvent() rejects a user event without an id", () => {
  for (const data of [undefined, null, {}, { id: "" }, { id: 42 }]) {
    const event = { ...fixture, data };
    assert.throws(() => parseClerkEvent(body(event), "msg_8", SVIX_TS), PayloadError);
  }
  const deleted = { data: { deleted: true }, type: "user.deleted", timestamp: 1 };
  assert.throws(() => parseClerkEvent(body(deleted), "msg_8", SVIX_TS), PayloadError);
});

Deno.test("parseClerkEvent() rejects a user update without updated_at", () => {
  const event = { ...fixture, data: { ...fixture.data, updated_at: null } };
  assert.throws(() => parseClerkEvent(body(event), "msg_9", SVIX_TS), PayloadError);
});

Deno.test("parseClerkEvent() rejects an updated_at PostgreSQL cannot store, naming event and user", () => {
  const event = {
    ...fixture,
    type: "user.updated",
    data: { ...fixture.data, updated_at: 8.64e15 },
  };
  assert.throws(() => parseClerkEvent(body(event), "msg_10", SVIX_TS), (error: Error) => {
    assert.ok(error instanceof PayloadError);
    assert.match(error.message, /^data\.updated_at is not a valid timestamp/);
    assert.deepEqual(error.subject, { eventType: "user.updated", userId: "user_123" });
    return true;
  });
});

Deno.test("parseClerkEvent() rejects a user.deleted whose timestamp PostgreSQL cannot store", () => {
  const deleted = {
    data: { deleted: true, id: "user_123" },
    type: "user.deleted",
    timestamp: 8.64e15,
  };
  assert.throws(() => parseClerkEvent(body(deleted), "msg_11", SVIX_TS), (error: Error) => {
    assert.ok(error instanceof PayloadError);
    assert.match(error.message, /^timestamp is not a valid timestamp/);
    assert.deepEqual(error.subject, { eventType: "user.deleted", userId: "user_123" });
    return true;
  });
});

Deno.test("parseClerkEvent() rejects a user.deleted whose id holds control characters", () => {
  const deleted = { data: { deleted: true, id: "user_1\nuser_2" }, type: "user.deleted" };
  assert.throws(() => parseClerkEvent(body(deleted), "msg_12", SVIX_TS), (error: Error) => {
    assert.ok(error instanceof PayloadError);
    assert.equal(error.message, "data.id contains control characters or lone surrogates");
    assert.deepEqual(error.subject, { eventType: "user.deleted", userId: undefined });
    return true;
  });
});

Deno.test("parseClerkEvent() cleans the profile of a user event", () => {
  const data = {
    ...fixture.data,
    first_name: "Eve\u0000",
    public_metadata: { "a\u0000": "\ud800b" },
  };
  const event = parseClerkEvent(body({ ...fixture, data }), "msg_13", SVIX_TS);
  assert.equal(event.kind === "user" && event.profile?.first_name, "Eve");
  assert.deepEqual(event.kind === "user" && event.profile?.public_metadata, { a: "b" });
});

Deno.test("parseClerkEvent() routes organization.created to an upsert ordered by updated_at", () => {
  assert.deepEqual(parseClerkEvent(body(orgCreated), "msg_o1", SVIX_TS), {
    kind: "organization",
    svixId: "msg_o1",
    instanceId: INSTANCE,
    clamped: [],
    type: "organization.created",
    orgId: "org_29w9IfBrPmcpi0IeBVaKtA7R94W",
    occurredAt: "2022-05-31T16:06:42.977Z",
    organization: toOrganization(orgCreated.data),
  });
});

Deno.test("parseClerkEvent() routes organization.updated like organization.created", () => {
  const updated = {
    ...orgCreated,
    type: "organization.updated",
    timestamp: 1654013466465,
    data: { ...orgCreated.data, name: "Acme Corp", updated_at: 1654013466465 },
  };
  const event = parseClerkEvent(body(updated), "msg_o2", SVIX_TS);
  assert.equal(event.kind, "organization");
  if (event.kind !== "organization") return;
  assert.equal(event.type, "organization.updated");
  assert.equal(event.occurredAt, "2022-05-31T16:11:06.465Z");
  assert.equal(event.organization?.name, "Acme Corp");
});

Deno.test("parseClerkEvent() routes organization.deleted to a deletion ordered by the envelope", () => {
  assert.deepEqual(parseClerkEvent(body(orgDeleted), "msg_o3", SVIX_TS), {
    kind: "organization",
    svixId: "msg_o3",
    instanceId: INSTANCE,
    clamped: [],
    type: "organization.deleted",
    orgId: "org_29w9IfBrPmcpi0IeBVaKtA7R94W",
    occurredAt: "2022-08-30T12:14:00.000Z",
    organization: null,
  });
  const { timestamp: _, ...untimed } = orgDeleted;
  const event = parseClerkEvent(body(untimed), "msg_o4", SVIX_TS);
  assert.equal(event.kind === "organization" && event.occurredAt, "2022-08-30T12:14:00.000Z");
});

Deno.test("parseClerkEvent() never passes an organization's private_metadata on", () => {
  const event = parseClerkEvent(body(orgCreated), "msg_o5", SVIX_TS);
  assert.ok(!JSON.stringify(event).includes("acct_secret_42"));
  const member = parseClerkEvent(body(memberCreated), "msg_o6", SVIX_TS);
  assert.ok(!JSON.stringify(member).includes("acct_secret_42"));
  assert.ok(!JSON.stringify(member).includes("seat_cost_cents"));
});

Deno.test("parseClerkEvent() routes organizationMembership.created with its organization snapshot", () => {
  const event = parseClerkEvent(body(memberCreated), "msg_m1", SVIX_TS);
  assert.equal(event.kind, "membership");
  if (event.kind !== "membership") return;
  assert.equal(event.type, "organizationMembership.created");
  assert.equal(event.svixId, "msg_m1");
  assert.equal(event.orgId, "org_29w9IfBrPmcpi0IeBVaKtA7R94W");
  assert.equal(event.userId, "user_29w83sxmDNGwOuEthce5gg56FcC");
  assert.equal(event.occurredAt, "2022-05-31T16:06:43.217Z");
  assert.equal(event.membership.membership_id, "orgmem_29w9IptNja3mP8GDXpquBwN2qR9");
  assert.equal(event.membership.role, "org:admin");
  assert.deepEqual(event.organization, toOrganization(memberCreated.data.organization));
});

Deno.test("parseClerkEvent() orders organizationMembership.updated by the membership's updated_at", () => {
  const updated = {
    ...memberCreated,
    type: "organizationMembership.updated",
    timestamp: 1654013999000,
    data: { ...memberCreated.data, role: "org:member", updated_at: 1654013910646 },
  };
  const event = parseClerkEvent(body(updated), "msg_m2", SVIX_TS);
  assert.equal(event.kind === "membership" && event.occurredAt, "2022-05-31T16:18:30.646Z");
  assert.equal(event.kind === "membership" && event.membership.role, "org:member");
});

Deno.test("parseClerkEvent() orders organizationMembership.deleted by the envelope, never data.updated_at", () => {
  const event = parseClerkEvent(body(memberDeleted), "msg_m3", SVIX_TS);
  assert.equal(event.kind, "membership");
  if (event.kind !== "membership") return;
  assert.equal(event.type, "organizationMembership.deleted");
  assert.equal(event.occurredAt, "2022-05-31T16:19:59.999Z", "the envelope's timestamp");
  assert.equal(event.membership.clerk_updated_at, "2022-05-31T16:17:27.054Z");
  assert.equal(event.userId, "user_29wACSk1DjeUCwsS6SbbgIgilMy");
  assert.equal(event.membership.role, "basic_member");
  const { timestamp: _, ...untimed } = memberDeleted;
  const fallback = parseClerkEvent(body(untimed), "msg_m4", SVIX_TS);
  assert.equal(fallback.kind === "membership" && fallback.occurredAt, "2022-08-30T12:14:00.000Z");
});

Deno.test("parseClerkEvent() ignores the other organization event types", () => {
  for (
    const type of [
      "organizationInvitation.created",
      "organizationDomain.created",
      "organization.renamed",
      "role.created",
    ]
  ) {
    assert.deepEqual(parseClerkEvent(body({ ...orgCreated, type }), "msg_m5", SVIX_TS), {
      kind: "ignored",
      type,
    });
  }
});

Deno.test("parseClerkEvent() rejects an organization event without an id", () => {
  for (const data of [undefined, null, {}, { id: "" }, { id: 42 }]) {
    for (const type of ["organization.updated", "organization.deleted"]) {
      assert.throws(
        () => parseClerkEvent(body({ ...orgDeleted, type, data }), "msg_o7", SVIX_TS),
        (error: Error) => {
          assert.ok(error instanceof OrganizationPayloadError);
          assert.equal(error.message, `${type} event has no data.id`);
          assert.equal(error.eventType, type);
          assert.equal(error.orgId, undefined);
          return true;
        },
      );
    }
  }
});

Deno.test("parseClerkEvent() rejects an organization.updated PostgreSQL cannot store, naming it", () => {
  const event = {
    ...orgCreated,
    type: "organization.updated",
    data: { ...orgCreated.data, updated_at: 8.64e15 },
  };
  assert.throws(() => parseClerkEvent(body(event), "msg_o8", SVIX_TS), (error: Error) => {
    assert.ok(error instanceof OrganizationPayloadError);
    assert.match(error.message, /^data\.updated_at is not a valid timestamp/);
    assert.equal(error.eventType, "organization.updated");
    assert.equal(error.orgId, "org_29w9IfBrPmcpi0IeBVaKtA7R94W");
    return true;
  });
});

Deno.test("parseClerkEvent() rejects an organization.deleted whose timestamp PostgreSQL cannot store", () => {
  const event = { ...orgDeleted, timestamp: -5 };
  assert.throws(() => parseClerkEvent(body(event), "msg_o9", SVIX_TS), (error: Error) => {
    assert.ok(error instanceof OrganizationPayloadError);
    assert.match(error.message, /^timestamp is not a valid timestamp/);
    assert.equal(error.orgId, "org_29w9IfBrPmcpi0IeBVaKtA7R94W");
    return true;
  });
});

Deno.test("parseClerkEvent() rejects a membership event without its organization snapshot", () => {
  for (const type of ["organizationMembership.created", "organizationMembership.deleted"]) {
    const { organization: _, ...data } = memberCreated.data;
    assert.throws(
      () => parseClerkEvent(body({ ...memberCreated, type, data }), "msg_m6", SVIX_TS),
      (error: Error) => {
        assert.ok(error instanceof OrganizationPayloadError);
        assert.equal(error.message, "data.organization is missing");
        assert.equal(error.eventType, type);
        assert.equal(error.orgId, undefined);
        assert.equal(error.userId, "user_29w83sxmDNGwOuEthce5gg56FcC");
        return true;
      },
    );
  }
});

Deno.test("parseClerkEvent() rejects a membership event without a member, naming the organization", () => {
  const data = { ...memberCreated.data, public_user_data: { identifier: "x@example.org" } };
  assert.throws(
    () => parseClerkEvent(body({ ...memberCreated, data }), "msg_m7", SVIX_TS),
    (error: Error) => {
      assert.ok(error instanceof OrganizationPayloadError);
      assert.ok(error instanceof PayloadError, "answered 422 like every PayloadError");
      assert.equal(error.message, "data.public_user_data.user_id is missing");
      assert.equal(error.orgId, "org_29w9IfBrPmcpi0IeBVaKtA7R94W");
      assert.equal(error.userId, undefined);
      return true;
    },
  );
  for (const missing of [null, "", []]) {
    assert.throws(
      () => parseClerkEvent(body({ ...memberCreated, data: missing }), "msg_m8", SVIX_TS),
      OrganizationPayloadError,
    );
  }
});

Deno.test("parseClerkEvent() does not name an organization whose id holds control characters", () => {
  const organization = { ...memberCreated.data.organization, id: "org_1\norg_2" };
  const data = { ...memberCreated.data, organization };
  assert.throws(
    () => parseClerkEvent(body({ ...memberCreated, data }), "msg_m9", SVIX_TS),
    (error: Error) => {
      assert.ok(error instanceof OrganizationPayloadError);
      assert.equal(
        error.message,
        "data.organization.id contains control characters or lone surrogates",
      );
      assert.equal(error.orgId, undefined);
      assert.equal(error.userId, "user_29w83sxmDNGwOuEthce5gg56FcC");
      return true;
    },
  );
});

// Issue 16 point 5: Clerk's published examples carry the envelope timestamp in seconds.
Deno.test("parseClerkEvent() reads an envelope timestamp below 10^11 as seconds, above as ms", () => {
  const svixTs = "1716883260"; // a minute after the events below
  for (const timestamp of [1716883200, 1716883200000]) {
    for (const fixtureEvent of [orgDeleted, memberDeleted]) {
      const event = parseClerkEvent(body({ ...fixtureEvent, timestamp }), "msg_s1", svixTs);
      assert.equal(event.kind !== "ignored" && event.occurredAt, "2024-05-28T08:00:00.000Z");
    }
    const deleted = { data: { id: "user_1", deleted: true }, type: "user.deleted", timestamp };
    const event = parseClerkEvent(body(deleted), "msg_s2", svixTs);
    assert.equal(event.kind === "user" && event.occurredAt, "2024-05-28T08:00:00.000Z");
  }
  // The edges: 10^11 - 1 is seconds (the year 5138: cut to the bound), 10^11 is ms (March 1973).
  const late = parseClerkEvent(body({ ...orgDeleted, timestamp: 1e11 - 1 }), "msg_s3", svixTs);
  assert.equal(late.kind !== "ignored" && late.occurredAt, "2024-05-28T08:06:00.000Z");
  const early = parseClerkEvent(body({ ...orgDeleted, timestamp: 1e11 }), "msg_s4", svixTs);
  assert.equal(early.kind !== "ignored" && early.occurredAt, "1973-03-03T09:46:40.000Z");
});

// Issue 17 point 5a: no time of a validly signed event may be later than its signing allows.
Deno.test("parseClerkEvent() cuts a deletion time after svix-timestamp + 5 min down to that bound", () => {
  const svixTs = "1765000000"; // 2025-12-06T05:46:40Z
  const bound = "2025-12-06T05:51:40.000Z";
  const far = 253402300799000; // 9999-12-31T23:59:59Z
  for (const fixtureEvent of [orgDeleted, memberDeleted]) {
    const event = parseClerkEvent(body({ ...fixtureEvent, timestamp: far }), "msg_b1", svixTs);
    assert.equal(event.kind !== "ignored" && event.occurredAt, bound);
    assert.deepEqual(event.kind !== "ignored" && event.clamped, [
      { field: "timestamp", sent: "9999-12-31T23:59:59.000Z", stored: bound },
    ]);
  }
  const deleted = { data: { id: "user_1", deleted: true }, type: "user.deleted", timestamp: far };
  const user = parseClerkEvent(body(deleted), "msg_b2", svixTs);
  assert.equal(user.kind === "user" && user.occurredAt, bound);
  // Within the tolerance, a time after svix-timestamp is kept as sent (Clerk's clock may be ahead).
  const ahead = parseClerkEvent(
    body({ ...orgDeleted, timestamp: 1765000299000 }),
    "msg_b3",
    svixTs,
  );
  assert.equal(ahead.kind !== "ignored" && ahead.occurredAt, "2025-12-06T05:51:39.000Z");
  assert.deepEqual(ahead.kind !== "ignored" && ahead.clamped, []);
});

Deno.test("parseClerkEvent() cuts every ordering time of an update down to the same bound", () => {
  const svixTs = "1765000000";
  const bound = "2025-12-06T05:51:40.000Z";
  const far = 253402300799000;
  const data = {
    ...memberCreated.data,
    created_at: far,
    updated_at: far,
    organization: { ...memberCreated.data.organization, updated_at: far },
  };
  const event = parseClerkEvent(
    body({ ...memberCreated, type: "organizationMembership.updated", data, timestamp: far }),
    "msg_b4",
    svixTs,
  );
  assert.equal(event.kind, "membership");
  if (event.kind !== "membership") return;
  assert.equal(event.occurredAt, bound);
  assert.equal(event.membership.clerk_created_at, bound);
  assert.equal(event.membership.clerk_updated_at, bound);
  assert.equal(event.organization.clerk_updated_at, bound);
  assert.deepEqual(event.clamped.map((c) => c.field), [
    "data.created_at",
    "data.updated_at",
    "data.organization.updated_at",
  ]);
  const user = parseClerkEvent(
    body({ ...fixture, data: { ...fixture.data, updated_at: far } }),
    "msg_b5",
    svixTs,
  );
  assert.equal(user.kind === "user" && user.occurredAt, bound);
  assert.equal(user.kind === "user" && user.profile?.clerk_updated_at, bound);
  const org = parseClerkEvent(
    body({ ...orgCreated, data: { ...orgCreated.data, updated_at: far } }),
    "msg_b6",
    svixTs,
  );
  assert.equal(org.kind === "organization" && org.organization?.clerk_updated_at, bound);
});

// Issue 16 point 2: the envelope names the Clerk instance the event comes from.
Deno.test("parseClerkEvent() reads the envelope's instance_id, null when absent", () => {
  const event = parseClerkEvent(body(memberCreated), "msg_i1", SVIX_TS);
  assert.equal(event.kind !== "ignored" && event.instanceId, INSTANCE);
  for (const instance_id of [undefined, null]) {
    const untagged = parseClerkEvent(body({ ...fixture, instance_id }), "msg_i2", SVIX_TS);
    assert.equal(untagged.kind === "user" && untagged.instanceId, null);
  }
});

Deno.test("parseClerkEvent() refuses an instance_id that is not ins_..., naming the subject", () => {
  for (const instance_id of ["", "user_123", "ins_", "ins_a-b", "ins_a\u0000", 42, {}]) {
    assert.throws(
      () => parseClerkEvent(body({ ...fixture, instance_id }), "msg_i3", SVIX_TS),
      (error: Error) => {
        assert.ok(error instanceof PayloadError);
        assert.equal(
          error.message,
          "instance_id is not a Clerk instance id (ins_ and 1 to 64 letters or digits)",
        );
        assert.deepEqual(error.subject, { eventType: "user.created", userId: "user_123" });
        return true;
      },
    );
  }
  // An event this function ignores is not read further.
  const session = { type: "session.created", instance_id: "nope", data: {} };
  assert.deepEqual(parseClerkEvent(body(session), "msg_i4", SVIX_TS), {
    kind: "ignored",
    type: "session.created",
  });
});

// Issue 17 point 5b: values that grant rights are never cleaned into others.
Deno.test("parseClerkEvent() refuses a membership whose role holds a NUL, naming the field", () => {
  const data = { ...memberCreated.data, role: "org:ad\u0000min" };
  assert.throws(
    () => parseClerkEvent(body({ ...memberCreated, data }), "msg_r1", SVIX_TS),
    (error: Error) => {
      assert.ok(error instanceof OrganizationPayloadError);
      assert.equal(error.message, "data.role contains control characters or lone surrogates");
      assert.equal(error.orgId, "org_29w9IfBrPmcpi0IeBVaKtA7R94W");
      assert.equal(error.userId, "user_29w83sxmDNGwOuEthce5gg56FcC");
      return true;
    },
  );
});
