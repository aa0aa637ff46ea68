import assert from "node:assert/strict";
import { verifyToken } from "@clerk/backend";
import { logLine, MAX_VALUE_CHARS, printable } from "../supabase/functions/_shared/log.ts";

Deno.test("printable() escapes newlines, tabs and carriage returns as \\n, \\t, \\r", () => {
  assert.equal(printable("a\nb\r\nc\td"), "a\\nb\\r\\nc\\td");
});

Deno.test("printable() escapes other C0 controls, DEL and C1 controls as \\u00xx", () => {
  assert.equal(
    printable("\u0000\u001b[31m\u007f\u0085\u009b"),
    "\\u0000\\u001b[31m\\u007f\\u0085\\u009b",
  );
});

Deno.test("printable() escapes the Unicode line and paragraph separators", () => {
  assert.equal(printable("a\u2028b\u2029c"), "a\\u2028b\\u2029c");
});

Deno.test("printable() escapes bidirectional overrides and isolates", () => {
  assert.equal(
    printable("user_\u202eevil\u202c\u2066x\u2069"),
    "user_\\u202eevil\\u202c\\u2066x\\u2069",
  );
});

Deno.test("printable() escapes lone surrogates and keeps surrogate pairs", () => {
  assert.equal(printable("a\ud800b\udc00c"), "a\\ud800b\\udc00c");
  assert.equal(printable("\ud83d\ude42 Yiğit Rüzgar"), "\u{1f642} Yiğit Rüzgar");
});

Deno.test("printable() renders non-strings as String() does", () => {
  assert.equal(printable(413), "413");
  assert.equal(printable(null), "null");
  assert.equal(printable(undefined), "undefined");
});

Deno.test("logLine escapes every interpolated value and none of the template", () => {
  const name = "Eve\nSuccessfully synced profile for user user_admin\u001b[31m";
  const line = logLine`Syncing profile for ${"user_1"} (${name})`;
  assert.equal(
    line,
    "Syncing profile for user_1 (Eve\\nSuccessfully synced profile for user user_admin\\u001b[31m)",
  );
  assert.ok(!line.includes("\n") && !line.includes("\u001b"));
  assert.equal(logLine`a\tb ${1}`, "a\tb 1", "the template itself is the programmer's text");
  assert.equal(logLine`${"x"}${"\n"}${"y"}`, "x\\ny");
});

Deno.test("printable() keeps a value of MAX_VALUE_CHARS characters whole", () => {
  const value = "x".repeat(MAX_VALUE_CHARS);
  assert.equal(printable(value), value);
});

Deno.test("printable() cuts a longer value after MAX_VALUE_CHARS characters and says how many it left out", () => {
  const shown = printable("y".repeat(40_000));
  assert.equal(
    shown,
    `${"y".repeat(MAX_VALUE_CHARS)}…[${40_000 - MAX_VALUE_CHARS} more characters]`,
  );
});

Deno.test("printable() counts its escapes in the cap and never cuts one, nor a surrogate pair, in half", () => {
  const escapes = printable("\u001b".repeat(200));
  assert.match(escapes, /^(\\u001b){83}…\[117 more characters\]$/);
  const emoji = printable("a" + "\u{1f642}".repeat(300));
  assert.equal(emoji, `a${"\u{1f642}".repeat(249)}…[${600 - 498} more characters]`);
});

Deno.test("logLine bounds the line of a token whose typ is 40,000 characters, as @clerk/backend words its refusal", async () => {
  const typ = "T".repeat(40_000);
  const header = btoa(JSON.stringify({ alg: "RS256", kid: "ins_x", typ })).replace(/=+$/, "");
  const token = `${header}.${btoa('{"sub":"user_1"}').replace(/=+$/, "")}.c2ln`;
  const error = await verifyToken(token, { jwtKey: "unused" }).then(() => null, (e) => e);
  assert.ok(String(error?.message).length > 40_000, "the SDK's message quotes the whole typ");
  const line = logLine`Rejected profile sync (401): ${error.reason}: ${error.message}`;
  assert.ok(line.length < 600, `a line of ${line.length} characters`);
  assert.match(line, /^Rejected profile sync \(401\): token-invalid: Invalid JWT type "TTT/);
  assert.match(line, /…\[\d+ more characters\]$/);
});
