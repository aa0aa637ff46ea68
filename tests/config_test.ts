import assert from "node:assert/strict";
import { loadConfig } from "../supabase/functions/clerk-webhook/config.ts";
import { ConfigError } from "../supabase/functions/_shared/errors.ts";

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
  const config = loadConfig(env({ ...BASE, SYNC_DB_TIMEOUT_MS: "2500" }));
  assert.equal(config.dbTimeoutMs, 2500);
  assertConfigError({ ...BASE, SYNC_DB_TIMEOUT_MS: "soon" }, "SYNC_DB_TIMEOUT_MS");
});

Deno.test("loadConfig() leaves PORT to readListenPort(): a bad PORT is no configuration error", () => {
  assert.doesNotThrow(() => loadConfig(env({ ...BASE, PORT: "eighty" })));
});

Deno.test("loadConfig() accepts CLERK_WEBHOOK_SIGNING_SECRET, the name Clerk's guide uses", () => {
  const config = loadConfig(env({
    ...BASE,
    CLERK_WEBHOOK_SECRET: undefined,
    CLERK_WEBHOOK_SIGNING_SECRET: `${SECRET} ${SECOND}`,
  }));
  assert.deepEqual(config.webhookSecrets, [SECRET, SECOND]);
});

Deno.test("loadConfig() accepts both secret variables set to the same secrets", () => {
  const config = loadConfig(env({
    ...BASE,
    CLERK_WEBHOOK_SECRET: `${SECRET},${SECOND}`,
    CLERK_WEBHOOK_SIGNING_SECRET: `${SECRET} ${SECOND}`,
  }));
  assert.deepEqual(config.webhookSecrets, [SECRET, SECOND]);
});

Deno.test("loadConfig() rejects both secret variables set to different secrets, naming both", () => {
  const values = { ...BASE, CLERK_WEBHOOK_SIGNING_SECRET: SECOND };
  assert.throws(() => loadConfig(env(values)), (error: Error) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.variable, "CLERK_WEBHOOK_SECRET and CLERK_WEBHOOK_SIGNING_SECRET");
    assert.equal(
      error.message,
      "CLERK_WEBHOOK_SECRET and CLERK_WEBHOOK_SIGNING_SECRET are both set, to different secrets: " +
        "set only one of them",
    );
    assert.ok(!error.message.includes(SECRET.slice(6)) && !error.message.includes(SECOND.slice(6)));
    return true;
  });
});

Deno.test("loadConfig() names CLERK_WEBHOOK_SIGNING_SECRET when its secret is malformed", () => {
  assertConfigError(
    { ...BASE, CLERK_WEBHOOK_SECRET: undefined, CLERK_WEBHOOK_SIGNING_SECRET: "whsec_not*base64!" },
    "CLERK_WEBHOOK_SIGNING_SECRET",
  );
});

Deno.test("loadConfig() says which variables it looked for when no secret is set", () => {
  assert.throws(() => loadConfig(env({ ...BASE, CLERK_WEBHOOK_SECRET: undefined })), (error) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.variable, "CLERK_WEBHOOK_SECRET");
    assert.match(
      error.message,
      /^CLERK_WEBHOOK_SECRET is not set, nor CLERK_WEBHOOK_SIGNING_SECRET/,
    );
    return true;
  });
});

Deno.test("loadConfig() rejects a signing secret shorter than 24 bytes without echoing it", () => {
  // whsec_AA== is 1 byte; 23 bytes is one short of what Svix generates.
  for (const short of ["whsec_AA==", "whsec_AAAA", "whsec_" + btoa("x".repeat(23))]) {
    for (const variable of ["CLERK_WEBHOOK_SECRET", "CLERK_WEBHOOK_SIGNING_SECRET"]) {
      const values = { ...BASE, CLERK_WEBHOOK_SECRET: undefined, [variable]: `${SECRET} ${short}` };
      assert.throws(() => loadConfig(env(values)), (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.variable, variable);
        assert.equal(
          error.message,
          `${variable} entry 2 is too short: a signing secret decodes to at least 24 bytes`,
        );
        return true;
      });
    }
  }
  assert.deepEqual(
    loadConfig(env({ ...BASE, CLERK_WEBHOOK_SECRET: "whsec_" + btoa("x".repeat(24)) }))
      .webhookSecrets.length,
    1,
  );
});

Deno.test("loadConfig() states every configuration error on one line", () => {
  const cases: Record<string, string | undefined>[] = [
    { CLERK_WEBHOOK_SECRET: undefined },
    { CLERK_WEBHOOK_SECRET: "whsec_AA==" },
    { CLERK_WEBHOOK_SIGNING_SECRET: SECOND },
    { SUPABASE_URL: "nope" },
    { SUPABASE_SERVICE_ROLE_KEY: undefined },
    { SUPABASE_SECRET_KEYS: "{" },
    { SYNC_DB_TIMEOUT_MS: "0" },
  ];
  for (const change of cases) {
    assert.throws(() => loadConfig(env({ ...BASE, ...change })), (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.ok(!/[\r\n]/.test(error.message), error.message);
      for (const name of error.variable.split(" and ")) assert.ok(error.message.includes(name));
      return true;
    });
  }
});
