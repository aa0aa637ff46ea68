import assert from "node:assert/strict";
import { parseClerkEvent } from "../supabase/functions/clerk-webhook/clerk_event.ts";
import { PayloadError } from "../supabase/functions/_shared/errors.ts";

const fixture = JSON.parse(
  await Deno.readTextFile(new URL("./fixtures/user_created.json", import.meta.url)),
);
const SVIX_TS = "1654012592";

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
    type: "user.deleted",
    userId: "user_123",
    occurredAt: "2022-05-31T15:56:40.000Z",
    profile: null,
  });
});

Deno.test("parseClerkEvent() orders a deletion without envelope timestamp by svix-timestamp", () => {
  const deleted = { data: { deleted: true, id: "user_123" }, type: "user.deleted" };
  const event = parseClerkEvent(body(deleted), "msg_4", SVIX_TS);
  assert.equal(event.kind === "user" && event.occurredAt, "2022-05-31T15:56:32.000Z");
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
