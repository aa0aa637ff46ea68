import assert from "node:assert/strict";
import { loadConfig } from "../supabase/functions/clerk-webhook/config.ts";
import { ConfigError } from "../supabase/functions/clerk-webhook/errors.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECOND = "whsec_" + btoa("another-secret-of-24-byte");
const BASE = {
  CLERK_WEBHOOK_SECRET: SECRET,
  SUPABASE_URL: "https://abc.supabase.co",
  SUPABASE_SERVICE_ROLE_KEY: "eyJhbGciOiJIUzI1NiJ9.service.role",
};

function env(values: Record<string, string | undefined>) {
  return new Map(Object.entries(values).filter(([, v]) => v !== undefined)) as Map<
    string,
    string
  >;
}

function assertConfigError(values: Record<string, string | undefined>, variable: string) {
  assert.throws(() => loadConfig(env(values)), (error: Error) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.variable, variable);
    assert.match(error.message, new RegExp(variable));
    return true;
  });
}

Deno.test("loadConfig() reads the required variables with defaults", () => {
  assert.deepEqual(loadConfig(env(BASE)), {
    webhookSecrets: [SECRET],
    supabaseUrl: "https://abc.supabase.co",
    serviceKey: BASE.SUPABASE_SERVICE_ROLE_KEY,
    serviceKeySource: "SUPABASE_SERVICE_ROLE_KEY",
    dbTimeoutMs: 8000,
    port: 8000,
  });
});

for (const variable of ["CLERK_WEBHOOK_SECRET", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"]) {
  Deno.test(`loadConfig() names ${variable} when it is missing`, () => {
    assertConfigError({ ...BASE, [variable]: undefined }, variable);
    assertConfigError({ ...BASE, [variable]: "  " }, variable);
  });
}

Deno.test("loadConfig() splits a rotated secret list on spaces and commas", () => {
  const config = loadConfig(env({ ...BASE, CLERK_WEBHOOK_SECRET: ` ${SECRET}, ${SECOND} ` }));
  assert.deepEqual(config.webhookSecrets, [SECRET, SECOND]);
  const spaced = loadConfig(env({ ...BASE, CLERK_WEBHOOK_SECRET: `${SECRET} ${SECOND}` }));
  assert.deepEqual(spaced.webhookSecrets, [SECRET, SECOND]);
});

Deno.test("loadConfig() rejects a malformed secret without echoing it", () => {
  for (const bad of ["whsec_not*base64!", "bogus", "whsec_==", "sk_test_abc"]) {
    assert.throws(
      () => loadConfig(env({ ...BASE, CLERK_WEBHOOK_SECRET: `${SECRET} ${bad}` })),
      (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /entry 2/);
        assert.ok(!error.message.includes(bad));
        return true;
      },
    );
  }
});

Deno.test("loadConfig() prefers SUPABASE_SECRET_KEYS when the platform provides it", () => {
  const config = loadConfig(
    env({ ...BASE, SUPABASE_SECRET_KEYS: JSON.stringify({ default: "sb_secret_abc" }) }),
  );
  assert.equal(config.serviceKey, "sb_secret_abc");
  assert.equal(config.serviceKeySource, "SUPABASE_SECRET_KEYS");
});

Deno.test("loadConfig() accepts SUPABASE_SECRET_KEYS without SUPABASE_SERVICE_ROLE_KEY", () => {
  const config = loadConfig(env({
    ...BASE,
    SUPABASE_SERVICE_ROLE_KEY: undefined,
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: "sb_secret_xyz" }),
  }));
  assert.equal(config.serviceKey, "sb_secret_xyz");
});

Deno.test("loadConfig() rejects a malformed SUPABASE_SECRET_KEYS without echoing it", () => {
  for (const value of ["sb_secret_raw", "{}", '{"default":""}', "[]"]) {
    assert.throws(
      () => loadConfig(env({ ...BASE, SUPABASE_SECRET_KEYS: value })),
      (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.variable, "SUPABASE_SECRET_KEYS");
        assert.ok(!error.message.includes("sb_secret_raw"));
        return true;
      },
    );
  }
});

Deno.test("loadConfig() rejects a SUPABASE_URL that is not http(s)", () => {
  assertConfigError({ ...BASE, SUPABASE_URL: "abc.supabase.co" }, "SUPABASE_URL");
  assertConfigError({ ...BASE, SUPABASE_URL: "ftp://abc.supabase.co" }, "SUPABASE_URL");
});

Deno.test("loadConfig() validates the optional numbers", () => {
  const config = loadConfig(env({ ...BASE, SYNC_DB_TIMEOUT_MS: "2500", PORT: "9999" }));
  assert.equal(config.dbTimeoutMs, 2500);
  assert.equal(config.port, 9999);
  assertConfigError({ ...BASE, SYNC_DB_TIMEOUT_MS: "soon" }, "SYNC_DB_TIMEOUT_MS");
  assertConfigError({ ...BASE, PORT: "-1" }, "PORT");
});
