import assert from "node:assert/strict";
import {
  displayName,
  epochMsToIso,
  MAX_METADATA_DEPTH,
  toProfile,
} from "../supabase/functions/_shared/clerk_user.ts";
import { PayloadError } from "../supabase/functions/_shared/errors.ts";

const fixture = JSON.parse(
  await Deno.readTextFile(new URL("./fixtures/user_created.json", import.meta.url)),
);

Deno.test("toProfile() maps Clerk's user object to a profile row", () => {
  assert.deepEqual(toProfile(fixture.data), {
    user_id: "user_123",
    email: "test.user@example.org",
    phone: "+15555550100",
    first_name: "Test",
    last_name: "User",
    username: "testuser",
    image_url: "https://img.clerk.com/xxxxxx",
    public_metadata: { plan: "pro" },
    clerk_created_at: "2022-05-31T15:56:31.514Z",
    clerk_updated_at: "2022-05-31T15:56:31.835Z",
  });
});

Deno.test("toProfile() takes the primary email, not the first one", () => {
  assert.equal(fixture.data.email_addresses[0].email_address, "old.address@example.org");
  assert.equal(toProfile(fixture.data).email, "test.user@example.org");
});

Deno.test("toProfile() leaves email and phone null when no primary is set", () => {
  const user = { ...fixture.data, primary_email_address_id: null, primary_phone_number_id: null };
  const profile = toProfile(user);
  assert.equal(profile.email, null);
  assert.equal(profile.phone, null);
});

Deno.test("toProfile() leaves email null when the primary id matches no entry", () => {
  const user = { ...fixture.data, primary_email_address_id: "idn_gone" };
  assert.equal(toProfile(user).email, null);
});

Deno.test("toProfile() maps missing and null names to null", () => {
  const user = { ...fixture.data, first_name: null, last_name: "", username: undefined };
  const profile = toProfile(user);
  assert.equal(profile.first_name, null);
  assert.equal(profile.last_name, null);
  assert.equal(profile.username, null);
  assert.equal(displayName(profile), null);
});

Deno.test("toProfile() accepts a minimal user with nulls everywhere", () => {
  const profile = toProfile({
    id: "user_min",
    updated_at: 1700000000000,
    email_addresses: null,
    phone_numbers: null,
    public_metadata: null,
    created_at: null,
  });
  assert.deepEqual(profile, {
    user_id: "user_min",
    email: null,
    phone: null,
    first_name: null,
    last_name: null,
    username: null,
    image_url: null,
    public_metadata: {},
    clerk_created_at: null,
    clerk_updated_at: "2023-11-14T22:13:20.000Z",
  });
});

Deno.test("toProfile() never copies private or unsafe metadata", () => {
  const text = JSON.stringify(toProfile(fixture.data));
  assert.ok(!text.includes("cus_secret"));
  assert.ok(!text.includes("client-writable"));
});

Deno.test("toProfile() rejects a user without an id", () => {
  assert.throws(() => toProfile({ ...fixture.data, id: "" }), PayloadError);
});

Deno.test("toProfile() rejects a user without a valid updated_at", () => {
  assert.throws(() => toProfile({ ...fixture.data, updated_at: "yesterday" }), PayloadError);
  assert.throws(() => toProfile({ ...fixture.data, updated_at: undefined }), PayloadError);
});

Deno.test("displayName() prefers the full name, then the username", () => {
  const profile = toProfile(fixture.data);
  assert.equal(displayName(profile), "Test User");
  assert.equal(displayName({ ...profile, last_name: null }), "Test");
  assert.equal(displayName({ ...profile, first_name: null, last_name: null }), "testuser");
});

function assertPayloadError(user: Record<string, unknown>, message: RegExp): void {
  assert.throws(() => toProfile(user), (error: Error) => {
    assert.ok(error instanceof PayloadError, `${error.name}: ${error.message}`);
    assert.match(error.message, message);
    return true;
  });
}

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 1; i < depth; i++) value = { next: value };
  return value;
}

Deno.test("toProfile() drops NUL characters from every stored string", () => {
  const user = {
    ...fixture.data,
    first_name: "Ev\u0000e",
    last_name: "\u0000",
    username: "eve\u0000x",
    image_url: "https://img.clerk.com/a\u0000b",
    email_addresses: [{ id: "idn_1", email_address: "eve\u0000@example.org" }],
    primary_email_address_id: "idn_1",
    phone_numbers: [{ id: "idn_2", phone_number: "+1555\u00000100" }],
    primary_phone_number_id: "idn_2",
  };
  const profile = toProfile(user);
  assert.equal(profile.first_name, "Eve");
  assert.equal(profile.last_name, null, "a name that was only a NUL is no name");
  assert.equal(profile.username, "evex");
  assert.equal(profile.image_url, "https://img.clerk.com/ab");
  assert.equal(profile.email, "eve@example.org");
  assert.equal(profile.phone, "+15550100");
});

Deno.test("toProfile() drops lone surrogates but keeps surrogate pairs", () => {
  const profile = toProfile({
    ...fixture.data,
    first_name: "A\ud800B\udc00C",
    last_name: "Smile \ud83d\ude42",
  });
  assert.equal(profile.first_name, "ABC");
  assert.equal(profile.last_name, "Smile \u{1f642}");
});

Deno.test("toProfile() cleans public_metadata keys and values at every depth", () => {
  const profile = toProfile({
    ...fixture.data,
    public_metadata: {
      "pl\u0000an": "pro\u0000",
      tags: ["a\ud800", { "k\udc00": ["\u0000x"] }],
      n: 1,
      ok: true,
      none: null,
    },
  });
  assert.deepEqual(profile.public_metadata, {
    plan: "pro",
    tags: ["a", { k: ["x"] }],
    n: 1,
    ok: true,
    none: null,
  });
});

Deno.test("toProfile() keeps a __proto__ metadata key as data", () => {
  const user = JSON.parse(
    '{"id":"user_p","updated_at":1700000000000,' +
      '"public_metadata":{"__proto__":{"admin":true}}}',
  );
  const profile = toProfile(user);
  assert.equal(JSON.stringify(profile.public_metadata), '{"__proto__":{"admin":true}}');
  assert.equal(Object.getPrototypeOf(profile.public_metadata), Object.prototype);
});

Deno.test("toProfile() rejects public_metadata nested deeper than 100 levels", () => {
  assert.equal(MAX_METADATA_DEPTH, 100);
  assert.ok(toProfile({ ...fixture.data, public_metadata: nested(100) }));
  assertPayloadError(
    { ...fixture.data, public_metadata: nested(101) },
    /^data\.public_metadata is nested deeper than 100 levels$/,
  );
  const arrays = JSON.parse(`{"deep":${"[".repeat(5000)}${"]".repeat(5000)}}`);
  assertPayloadError({ ...fixture.data, public_metadata: arrays }, /nested deeper than 100/);
});

Deno.test("toProfile() rejects an id with NUL or control characters", () => {
  for (const id of ["user_1\u0000", "user_1\nuser_admin", "user_\u001b[31m", "user_\ud800"]) {
    assertPayloadError(
      { ...fixture.data, id },
      /^data\.id contains control characters or lone surrogates$/,
    );
  }
});

Deno.test("toProfile() rejects an updated_at outside PostgreSQL's range", () => {
  for (const updatedAt of [8.64e15, -1, 0, 253402300800000, 1.5, Number.NaN, 1e300]) {
    assertPayloadError(
      { ...fixture.data, updated_at: updatedAt },
      /^data\.updated_at is not a valid timestamp/,
    );
  }
});

Deno.test("toProfile() rejects a created_at outside PostgreSQL's range", () => {
  assertPayloadError(
    { ...fixture.data, created_at: 8.64e15 },
    /^data\.created_at is not a valid timestamp/,
  );
  assertPayloadError(
    { ...fixture.data, created_at: "yesterday" },
    /^data\.created_at is not a valid timestamp/,
  );
});

Deno.test("epochMsToIso() accepts integers from 1970 to the end of 9999 only", () => {
  assert.equal(epochMsToIso(1), "1970-01-01T00:00:00.001Z");
  assert.equal(epochMsToIso(253402300799999), "9999-12-31T23:59:59.999Z");
  for (const value of [0, 253402300800000, 8.64e15, 1.5, "1700000000000", null, Infinity]) {
    assert.equal(epochMsToIso(value), null, String(value));
  }
});
