import assert from "node:assert/strict";
import { displayName, toProfile } from "../supabase/functions/clerk-webhook/clerk_user.ts";
import { PayloadError } from "../supabase/functions/clerk-webhook/errors.ts";

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
