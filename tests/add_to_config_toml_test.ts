// The config.toml scanner and the text add-to appends: it must see every way a table can be
// defined, and never change a byte of the user's file.
import assert from "node:assert/strict";
import {
  appendBlock,
  clerkAuthHint,
  definesClerkAuth,
  definesFunction,
  scanConfig,
} from "../scripts/add_to/config_toml.ts";

Deno.test("scanConfig() sees headers, dotted keys and inline tables, not comments or multi-line strings", () => {
  const facts = scanConfig([
    'project_id = "x"',
    "# [functions.commented]",
    "[functions.hello]",
    "verify_jwt = true",
    '[ functions . "quoted-name" ]',
    "[functions]",
    "inline = { verify_jwt = false }",
    "dotted.verify_jwt = false",
    "[auth]",
    'sms.template = """',
    "[functions.in-a-string]",
    '"""',
    "[[arrays.of-tables]]",
  ].join("\n"));
  for (const name of ["hello", "quoted-name", "inline", "dotted"]) {
    assert.ok(definesFunction(facts, name), name);
  }
  for (const name of ["commented", "in-a-string"]) assert.ok(!definesFunction(facts, name), name);
  assert.ok(facts.tables.has("arrays.of-tables"));
  assert.ok(facts.tables.has("auth.sms"));
});

Deno.test("scanConfig() reads [auth.third_party.clerk] enabled and [edge_runtime] deno_version", () => {
  const on = scanConfig(
    '[auth.third_party.clerk]\nenabled = true\ndomain = "x.clerk.accounts.dev"\n',
  );
  assert.equal(on.clerkAuthEnabled, true);
  const off = scanConfig(
    "[auth.third_party.clerk]\nenabled = false # not yet\n[edge_runtime]\ndeno_version = 1\n",
  );
  assert.equal(off.clerkAuthEnabled, false);
  assert.equal(off.denoVersion, 1);
  assert.ok(definesClerkAuth(off));
  assert.equal(scanConfig("").clerkAuthEnabled, null);
});

Deno.test("clerkAuthHint() comments the block out, points to the user's own, or says nothing when enabled", () => {
  const absent = clerkAuthHint(scanConfig(""));
  assert.match(absent, /^# \[auth\.third_party\.clerk\]\n# enabled = true\n# domain = "/m);
  assert.match(absent, /Frontend API domain/);
  const disabled = clerkAuthHint(scanConfig("[auth.third_party.clerk]\nenabled = false\n"));
  assert.doesNotMatch(disabled, /^# \[auth/m);
  assert.match(disabled, /in \[auth\.third_party\.clerk\] above, set\n# enabled = true and domain/);
  assert.equal(clerkAuthHint(scanConfig("[auth.third_party.clerk]\nenabled = true\n")), "");
});

Deno.test("appendBlock() keeps every byte before it, separates with a blank line, ends lines as the file does", () => {
  const block = "# ours\n[functions.a]\n";
  assert.equal(appendBlock("x = 1\n", block, "\n"), "x = 1\n\n# ours\n[functions.a]\n");
  assert.equal(appendBlock("x = 1", block, "\n"), "x = 1\n\n# ours\n[functions.a]\n");
  assert.equal(appendBlock("x = 1\r\n", block, "\r\n"), "x = 1\r\n\r\n# ours\r\n[functions.a]\r\n");
  assert.equal(appendBlock("", block, "\n"), block);
});
