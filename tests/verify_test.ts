import assert from "node:assert/strict";
import { Webhook } from "svix";
import { MissingHeaderError, SignatureError } from "../supabase/functions/clerk-webhook/errors.ts";
import { createVerifiers, verifyClerkWebhook } from "../supabase/functions/clerk-webhook/verify.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET = "whsec_" + btoa("another-secret-of-24-byte");
const BODY = JSON.stringify({ type: "user.created", data: { id: "user_123" } });

function signedHeaders(
  body: string,
  options: { secret?: string; id?: string; at?: Date } = {},
): Headers {
  const id = options.id ?? "msg_2abc";
  const at = options.at ?? new Date();
  return new Headers({
    "svix-id": id,
    "svix-timestamp": String(Math.floor(at.getTime() / 1000)),
    "svix-signature": new Webhook(options.secret ?? SECRET).sign(id, at, body),
  });
}

const verifiers = createVerifiers([SECRET]);

Deno.test("verifyClerkWebhook() accepts a body signed with the secret", () => {
  const headers = signedHeaders(BODY);
  const svix = verifyClerkWebhook(BODY, headers, verifiers);
  assert.equal(svix.id, "msg_2abc");
  assert.equal(svix.timestamp, headers.get("svix-timestamp"));
});

for (const name of ["svix-id", "svix-timestamp", "svix-signature"]) {
  Deno.test(`verifyClerkWebhook() rejects a request without ${name}`, () => {
    const headers = signedHeaders(BODY);
    headers.delete(name);
    assert.throws(() => verifyClerkWebhook(BODY, headers, verifiers), (error: Error) => {
      assert.ok(error instanceof MissingHeaderError);
      assert.match(error.message, new RegExp(name));
      return true;
    });
  });

  Deno.test(`verifyClerkWebhook() treats an empty ${name} as missing`, () => {
    const headers = signedHeaders(BODY);
    headers.set(name, "  ");
    assert.throws(() => verifyClerkWebhook(BODY, headers, verifiers), MissingHeaderError);
  });
}

Deno.test("verifyClerkWebhook() rejects a tampered body", () => {
  const headers = signedHeaders(BODY);
  const tampered = BODY.replace("user_123", "user_124");
  assert.throws(() => verifyClerkWebhook(tampered, headers, verifiers), SignatureError);
});

Deno.test("verifyClerkWebhook() rejects a re-serialized body", () => {
  const pretty = JSON.stringify(JSON.parse(BODY), null, 2);
  assert.throws(() => verifyClerkWebhook(pretty, signedHeaders(BODY), verifiers), SignatureError);
});

Deno.test("verifyClerkWebhook() rejects a body signed with another secret", () => {
  const headers = signedHeaders(BODY, { secret: OTHER_SECRET });
  assert.throws(() => verifyClerkWebhook(BODY, headers, verifiers), SignatureError);
});

Deno.test("verifyClerkWebhook() rejects a changed svix-id", () => {
  const headers = signedHeaders(BODY);
  headers.set("svix-id", "msg_other");
  assert.throws(() => verifyClerkWebhook(BODY, headers, verifiers), SignatureError);
});

Deno.test("verifyClerkWebhook() rejects an expired timestamp", () => {
  const headers = signedHeaders(BODY, { at: new Date(Date.now() - 6 * 60_000) });
  assert.throws(() => verifyClerkWebhook(BODY, headers, verifiers), (error: Error) => {
    assert.ok(error instanceof SignatureError);
    assert.match(error.message, /tolerance/);
    return true;
  });
});

Deno.test("verifyClerkWebhook() rejects a timestamp from the future", () => {
  const headers = signedHeaders(BODY, { at: new Date(Date.now() + 6 * 60_000) });
  assert.throws(() => verifyClerkWebhook(BODY, headers, verifiers), SignatureError);
});

Deno.test("verifyClerkWebhook() accepts a timestamp within the 5-minute tolerance", () => {
  const headers = signedHeaders(BODY, { at: new Date(Date.now() - 4 * 60_000) });
  assert.equal(verifyClerkWebhook(BODY, headers, verifiers).id, "msg_2abc");
});

Deno.test("verifyClerkWebhook() rejects a timestamp that is not a number", () => {
  const headers = signedHeaders(BODY);
  headers.set("svix-timestamp", "yesterday");
  assert.throws(() => verifyClerkWebhook(BODY, headers, verifiers), SignatureError);
});

Deno.test("verifyClerkWebhook() accepts a header with several signatures if one matches", () => {
  const headers = signedHeaders(BODY);
  const good = headers.get("svix-signature");
  const bad = new Webhook(OTHER_SECRET).sign("msg_2abc", new Date(), BODY);
  headers.set("svix-signature", `v2,ignored ${bad} ${good}`);
  assert.equal(verifyClerkWebhook(BODY, headers, verifiers).id, "msg_2abc");
});

Deno.test("verifyClerkWebhook() rejects a header whose signatures all fail", () => {
  const headers = signedHeaders(BODY);
  const bad = new Webhook(OTHER_SECRET).sign("msg_2abc", new Date(), BODY);
  headers.set("svix-signature", `${bad} v1,${btoa("x".repeat(32))}`);
  assert.throws(() => verifyClerkWebhook(BODY, headers, verifiers), SignatureError);
});

Deno.test("verifyClerkWebhook() accepts any secret of a rotated list", () => {
  const rotated = createVerifiers([OTHER_SECRET, SECRET]);
  assert.equal(verifyClerkWebhook(BODY, signedHeaders(BODY), rotated).id, "msg_2abc");
  const headers = signedHeaders(BODY, { secret: OTHER_SECRET });
  assert.equal(verifyClerkWebhook(BODY, headers, rotated).id, "msg_2abc");
});

Deno.test("verifyClerkWebhook() rejects a secret dropped from the rotated list", () => {
  const headers = signedHeaders(BODY, { secret: OTHER_SECRET });
  assert.throws(() => verifyClerkWebhook(BODY, headers, createVerifiers([SECRET])), SignatureError);
});

Deno.test("verifyClerkWebhook() never puts the secret or signature in its message", () => {
  const headers = signedHeaders(BODY, { secret: OTHER_SECRET });
  const signature = headers.get("svix-signature") ?? "";
  try {
    verifyClerkWebhook(BODY, headers, verifiers);
    assert.fail("expected a SignatureError");
  } catch (error) {
    assert.ok(error instanceof SignatureError);
    assert.ok(!error.message.includes(SECRET.slice(6)));
    assert.ok(!error.message.includes(signature.slice(3)));
  }
});
