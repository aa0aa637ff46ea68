import assert from "node:assert/strict";
import { Webhook } from "svix";
import {
  EncodingError,
  HeaderError,
  MissingHeaderError,
  SignatureError,
} from "../supabase/functions/clerk-webhook/errors.ts";
import {
  createVerifiers,
  readSvixHeaders,
  verifyClerkWebhook,
} from "../supabase/functions/clerk-webhook/verify.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET = "whsec_" + btoa("another-secret-of-24-byte");
const BODY = JSON.stringify({ type: "user.created", data: { id: "user_123" } });
const encoder = new TextEncoder();
const BYTES = encoder.encode(BODY);

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
  const svix = verifyClerkWebhook(BYTES, headers, verifiers);
  assert.equal(svix.id, "msg_2abc");
  assert.equal(svix.timestamp, headers.get("svix-timestamp"));
});

for (const name of ["svix-id", "svix-timestamp", "svix-signature"]) {
  Deno.test(`verifyClerkWebhook() rejects a request without ${name}`, () => {
    const headers = signedHeaders(BODY);
    headers.delete(name);
    assert.throws(() => verifyClerkWebhook(BYTES, headers, verifiers), (error: Error) => {
      assert.ok(error instanceof MissingHeaderError);
      assert.match(error.message, new RegExp(name));
      return true;
    });
  });

  Deno.test(`verifyClerkWebhook() treats an empty ${name} as missing`, () => {
    const headers = signedHeaders(BODY);
    headers.set(name, "  ");
    assert.throws(() => verifyClerkWebhook(BYTES, headers, verifiers), MissingHeaderError);
  });
}

Deno.test("verifyClerkWebhook() rejects a tampered body", () => {
  const headers = signedHeaders(BODY);
  const tampered = BODY.replace("user_123", "user_124");
  assert.throws(
    () => verifyClerkWebhook(encoder.encode(tampered), headers, verifiers),
    SignatureError,
  );
});

Deno.test("verifyClerkWebhook() rejects a re-serialized body", () => {
  const pretty = JSON.stringify(JSON.parse(BODY), null, 2);
  assert.throws(
    () => verifyClerkWebhook(encoder.encode(pretty), signedHeaders(BODY), verifiers),
    SignatureError,
  );
});

Deno.test("verifyClerkWebhook() rejects a body signed with another secret", () => {
  const headers = signedHeaders(BODY, { secret: OTHER_SECRET });
  assert.throws(() => verifyClerkWebhook(BYTES, headers, verifiers), SignatureError);
});

Deno.test("verifyClerkWebhook() rejects a changed svix-id", () => {
  const headers = signedHeaders(BODY);
  headers.set("svix-id", "msg_other");
  assert.throws(() => verifyClerkWebhook(BYTES, headers, verifiers), SignatureError);
});

Deno.test("verifyClerkWebhook() rejects an expired timestamp", () => {
  const headers = signedHeaders(BODY, { at: new Date(Date.now() - 6 * 60_000) });
  assert.throws(() => verifyClerkWebhook(BYTES, headers, verifiers), (error: Error) => {
    assert.ok(error instanceof SignatureError);
    assert.match(error.message, /tolerance/);
    return true;
  });
});

Deno.test("verifyClerkWebhook() rejects a timestamp from the future", () => {
  const headers = signedHeaders(BODY, { at: new Date(Date.now() + 6 * 60_000) });
  assert.throws(() => verifyClerkWebhook(BYTES, headers, verifiers), SignatureError);
});

Deno.test("verifyClerkWebhook() accepts a timestamp within the 5-minute tolerance", () => {
  const headers = signedHeaders(BODY, { at: new Date(Date.now() - 4 * 60_000) });
  assert.equal(verifyClerkWebhook(BYTES, headers, verifiers).id, "msg_2abc");
});

Deno.test("verifyClerkWebhook() rejects a timestamp that is not a number with 400", () => {
  const headers = signedHeaders(BODY);
  headers.set("svix-timestamp", "yesterday");
  assert.throws(() => verifyClerkWebhook(BYTES, headers, verifiers), HeaderError);
});

Deno.test("verifyClerkWebhook() accepts a header with several signatures if one matches", () => {
  const headers = signedHeaders(BODY);
  const good = headers.get("svix-signature");
  const bad = new Webhook(OTHER_SECRET).sign("msg_2abc", new Date(), BODY);
  headers.set("svix-signature", `v2,ignored ${bad} ${good}`);
  assert.equal(verifyClerkWebhook(BYTES, headers, verifiers).id, "msg_2abc");
});

Deno.test("verifyClerkWebhook() rejects a header whose signatures all fail", () => {
  const headers = signedHeaders(BODY);
  const bad = new Webhook(OTHER_SECRET).sign("msg_2abc", new Date(), BODY);
  headers.set("svix-signature", `${bad} v1,${btoa("x".repeat(32))}`);
  assert.throws(() => verifyClerkWebhook(BYTES, headers, verifiers), SignatureError);
});

Deno.test("verifyClerkWebhook() accepts any secret of a rotated list", () => {
  const rotated = createVerifiers([OTHER_SECRET, SECRET]);
  assert.equal(verifyClerkWebhook(BYTES, signedHeaders(BODY), rotated).id, "msg_2abc");
  const headers = signedHeaders(BODY, { secret: OTHER_SECRET });
  assert.equal(verifyClerkWebhook(BYTES, headers, rotated).id, "msg_2abc");
});

Deno.test("verifyClerkWebhook() rejects a secret dropped from the rotated list", () => {
  const headers = signedHeaders(BODY, { secret: OTHER_SECRET });
  assert.throws(
    () => verifyClerkWebhook(BYTES, headers, createVerifiers([SECRET])),
    SignatureError,
  );
});

Deno.test("verifyClerkWebhook() never puts the secret or signature in its message", () => {
  const headers = signedHeaders(BODY, { secret: OTHER_SECRET });
  const signature = headers.get("svix-signature") ?? "";
  try {
    verifyClerkWebhook(BYTES, headers, verifiers);
    assert.fail("expected a SignatureError");
  } catch (error) {
    assert.ok(error instanceof SignatureError);
    assert.ok(!error.message.includes(SECRET.slice(6)));
    assert.ok(!error.message.includes(signature.slice(3)));
  }
});

function assertHeaderError(headers: Headers, pattern: RegExp, body = BYTES): void {
  assert.throws(() => verifyClerkWebhook(body, headers, verifiers), (error: Error) => {
    assert.ok(error instanceof HeaderError, `${error.name}: ${error.message}`);
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("verifyClerkWebhook() rejects a svix-signature over 1024 bytes before verifying", () => {
  const headers = signedHeaders(BODY);
  const good = headers.get("svix-signature");
  // The CPU attack: 12,000 entries (60 KB, what Deno.serve lets through) cost 20-133 ms each.
  headers.set("svix-signature", `${good} ${Array(12_000).fill("v1,x").join(" ")}`);
  assertHeaderError(headers, /^svix-signature header is longer than 1024 bytes$/);
  // Five entries that are each too long for any signature.
  headers.set("svix-signature", `${good} ${Array(4).fill(`v1,${"A".repeat(300)}`).join(" ")}`);
  assertHeaderError(headers, /longer than 1024 bytes/);
});

Deno.test("verifyClerkWebhook() rejects a svix-signature with more than 5 signatures", () => {
  const headers = signedHeaders(BODY);
  const good = headers.get("svix-signature");
  const others = Array.from({ length: 5 }, (_, i) => `v1,${btoa(`other-signature-${i}`)}`);
  headers.set("svix-signature", [...others, good].join(" "));
  assertHeaderError(headers, /^svix-signature header has more than 5 signatures$/);
});

Deno.test("verifyClerkWebhook() accepts 5 signatures, a v1a among them, if one matches", () => {
  const headers = signedHeaders(BODY);
  const good = headers.get("svix-signature");
  const ed25519 = `v1a,${btoa("x".repeat(64))}`;
  const others = Array.from({ length: 3 }, (_, i) => `v1,${btoa(`other-signature-${i}`)}`);
  headers.set("svix-signature", [ed25519, ...others, good].join(" "));
  assert.equal(verifyClerkWebhook(BYTES, headers, verifiers).id, "msg_2abc");
});

Deno.test("verifyClerkWebhook() rejects a malformed svix-signature", () => {
  const good = signedHeaders(BODY).get("svix-signature");
  for (const value of ["garbage", "v1", `v1,${"*".repeat(44)}`, `${good}  ${good}`, `${good},`]) {
    const headers = signedHeaders(BODY);
    headers.set("svix-signature", value);
    assertHeaderError(headers, /^svix-signature header is malformed or repeated/);
  }
});

Deno.test("verifyClerkWebhook() rejects a repeated svix-signature header", () => {
  const headers = signedHeaders(BODY);
  const good = headers.get("svix-signature") ?? "";
  const bad = new Webhook(OTHER_SECRET).sign("msg_2abc", new Date(), BODY);
  headers.set("svix-signature", bad);
  headers.append("svix-signature", good); // Headers joins them: "v1,<bad>, v1,<good>"
  assertHeaderError(headers, /^svix-signature header is malformed or repeated/);
});

Deno.test("verifyClerkWebhook() rejects a svix-id over 255 characters", () => {
  const id = `msg_${"a".repeat(252)}`;
  assertHeaderError(signedHeaders(BODY, { id }), /^svix-id header is longer than 255 characters$/);
  // 255 is still accepted.
  const ok = `msg_${"a".repeat(251)}`;
  assert.equal(verifyClerkWebhook(BYTES, signedHeaders(BODY, { id: ok }), verifiers).id, ok);
});

Deno.test("verifyClerkWebhook() rejects a malformed svix-id", () => {
  for (const id of ["msg 2abc", "msg,2abc", "msg.2abc", "msg_\u00e92abc", "msg_\u007f"]) {
    assertHeaderError(signedHeaders(BODY, { id }), /^svix-id header is malformed or repeated/);
  }
});

Deno.test("verifyClerkWebhook() rejects a repeated svix-id header", () => {
  const headers = signedHeaders(BODY);
  headers.append("svix-id", "msg_2abc");
  assertHeaderError(headers, /^svix-id header is malformed or repeated/);
});

Deno.test("verifyClerkWebhook() rejects a svix-timestamp with trailing characters", () => {
  const headers = signedHeaders(BODY);
  headers.set("svix-timestamp", `${headers.get("svix-timestamp")}junk`);
  assertHeaderError(headers, /^svix-timestamp header is malformed or repeated/);
});

Deno.test("verifyClerkWebhook() rejects a svix-timestamp with a sign or a fraction", () => {
  const headers = signedHeaders(BODY);
  const ts = headers.get("svix-timestamp");
  for (const value of [`+${ts}.999`, `${ts}.5`, `-${ts}`, `0${ts}`, "1e9"]) {
    headers.set("svix-timestamp", value);
    assertHeaderError(headers, /^svix-timestamp header is malformed or repeated/);
  }
});

Deno.test("verifyClerkWebhook() rejects a repeated svix-timestamp header", () => {
  const headers = signedHeaders(BODY);
  headers.append("svix-timestamp", headers.get("svix-timestamp") ?? "");
  assertHeaderError(headers, /^svix-timestamp header is malformed or repeated/);
});

Deno.test("readSvixHeaders() rejects a timestamp outside the tolerance without a body", () => {
  const now = Date.UTC(2026, 10, 29, 12);
  const headers = signedHeaders(BODY, { at: new Date(now - 301_000) });
  assert.throws(() => readSvixHeaders(headers, now), (error: Error) => {
    assert.ok(error instanceof SignatureError);
    assert.equal(error.message, "timestamp outside the 5-minute tolerance (301 s old)");
    return true;
  });
  const ahead = signedHeaders(BODY, { at: new Date(now + 400_000) });
  assert.throws(
    () => readSvixHeaders(ahead, now),
    /timestamp outside the 5-minute tolerance \(400 s in the future\)/,
  );
  assert.equal(
    readSvixHeaders(signedHeaders(BODY, { at: new Date(now - 300_000) }), now).id,
    "msg_2abc",
  );
});

Deno.test("verifyClerkWebhook() rejects a body starting with a byte order mark", () => {
  const headers = signedHeaders(BODY);
  const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...BYTES]);
  assert.throws(() => verifyClerkWebhook(withBom, headers, verifiers), (error: Error) => {
    assert.ok(error instanceof EncodingError);
    assert.equal(error.message, "body starts with a byte order mark");
    return true;
  });
  // Signed with the BOM, it is still refused: Clerk sends none.
  const signedWithBom = signedHeaders("\ufeff" + BODY);
  assert.throws(() => verifyClerkWebhook(withBom, signedWithBom, verifiers), EncodingError);
});

Deno.test("verifyClerkWebhook() rejects an invalid UTF-8 byte where the signer had U+FFFD", () => {
  const signed = JSON.stringify({ type: "user.created", data: { id: "user_123", x: "a\ufffdb" } });
  const headers = signedHeaders(signed);
  const bytes = encoder.encode(signed);
  const at = bytes.indexOf(0xef);
  const sent = new Uint8Array([...bytes.subarray(0, at), 0xff, ...bytes.subarray(at + 3)]);
  assert.throws(() => verifyClerkWebhook(sent, headers, verifiers), (error: Error) => {
    assert.ok(error instanceof EncodingError);
    assert.equal(error.message, "body is not valid UTF-8");
    return true;
  });
  assert.equal(verifyClerkWebhook(bytes, headers, verifiers).body, signed);
});

Deno.test("verifyClerkWebhook() returns the exact text of a multi-byte UTF-8 body", () => {
  const body = JSON.stringify({ type: "user.created", data: { first_name: "Yiğit Rüzgar 🙂" } });
  const delivery = verifyClerkWebhook(encoder.encode(body), signedHeaders(body), verifiers);
  assert.equal(delivery.body, body);
  assert.equal(delivery.timestamp.length, 10);
});
