import assert from "node:assert/strict";
import { logLine, printable } from "../supabase/functions/_shared/log.ts";

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
