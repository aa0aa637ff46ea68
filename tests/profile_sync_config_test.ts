// clerk-profile-sync's configuration: defaults, and one ConfigError naming the variable for each
// bad value; CLERK_JWT_KEY as Clerk's dashboard shows it.
import assert from "node:assert/strict";
import { ConfigError } from "../supabase/functions/_shared/errors.ts";
import { loadConfig } from "../supabase/functions/clerk-profile-sync/config.ts";
import { jwkModulus, parseJwtKey } from "../supabase/functions/clerk-profile-sync/jwt_key.ts";
import { generateSigningKey } from "./support/clerk_session.ts";

const KEY = await generateSigningKey();
const BASE = {
  CLERK_SECRET_KEY: "sk_test_abcdef123456",
  SUPABASE_URL: "http://127.0.0.1:54321",
  SUPABASE_SERVICE_ROLE_KEY: "service-role-jwt",
};

function env(vars: Record<string, string | undefined>) {
  const map = new Map(Object.entries({ ...BASE, ...vars }));
  return { get: (name: string) => map.get(name) };
}

function refused(vars: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env(vars));
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail("the configuration was accepted");
}

Deno.test("loadConfig() applies the defaults: Clerk's API, 60 s, any origin, no authorized parties, no JWT key", () => {
  const config = loadConfig(env({}));
  assert.equal(config.clerkApiUrl, "https://api.clerk.com");
  assert.equal(config.minIntervalS, 60);
  assert.equal(config.allowedOrigins, "*");
  assert.deepEqual(config.authorizedParties, []);
  assert.equal(config.jwtKey, null);
  assert.equal(config.dbTimeoutMs, 8000);
  assert.equal(config.serviceKeySource, "SUPABASE_SERVICE_ROLE_KEY");
});

Deno.test("loadConfig() reads every variable", () => {
  const config = loadConfig(env({
    CLERK_JWT_KEY: KEY.pem,
    CLERK_API_URL: "http://127.0.0.1:9999",
    CLERK_AUTHORIZED_PARTIES: "https://app.example.com, http://localhost:3000",
    PROFILE_SYNC_MIN_INTERVAL_S: "0",
    PROFILE_SYNC_ALLOWED_ORIGINS: "https://app.example.com,http://localhost:3000",
    SYNC_DB_TIMEOUT_MS: "2000",
  }));
  assert.equal(config.clerkApiUrl, "http://127.0.0.1:9999");
  assert.deepEqual(config.authorizedParties, ["https://app.example.com", "http://localhost:3000"]);
  assert.equal(config.minIntervalS, 0);
  assert.deepEqual(config.allowedOrigins, ["https://app.example.com", "http://localhost:3000"]);
  assert.equal(config.dbTimeoutMs, 2000);
  assert.equal(config.jwtKey?.pem, KEY.pem);
});

Deno.test("loadConfig() refuses a missing or malformed CLERK_SECRET_KEY, naming it", () => {
  assert.equal(refused({ CLERK_SECRET_KEY: undefined }).variable, "CLERK_SECRET_KEY");
  const bad = refused({ CLERK_SECRET_KEY: "pk_test_publishable" });
  assert.equal(bad.variable, "CLERK_SECRET_KEY");
  assert.ok(!bad.message.includes("pk_test_publishable"), "the value is not repeated");
});

Deno.test("loadConfig() refuses a CLERK_JWT_KEY that is not an RSA 2048 public key PEM", async () => {
  const ec = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const ecDer = new Uint8Array(await crypto.subtle.exportKey("spki", ec.publicKey));
  const ecPem = `-----BEGIN PUBLIC KEY-----\n${btoa(String.fromCharCode(...ecDer))}\n` +
    "-----END PUBLIC KEY-----";
  for (const value of ["not a pem", ecPem, KEY.pem.replace("PUBLIC KEY", "PRIVATE KEY")]) {
    assert.equal(refused({ CLERK_JWT_KEY: value }).variable, "CLERK_JWT_KEY");
  }
});

Deno.test("parseJwtKey() accepts the PEM with literal \\n escapes (as pasted into a .env) and finds its modulus in the JWKS entry", () => {
  const escaped = KEY.pem.replaceAll("\n", "\\n");
  const key = parseJwtKey(escaped);
  assert.ok(key);
  assert.equal(key.pem, KEY.pem);
  assert.deepEqual(key.modulus, jwkModulus(KEY.jwk));
  assert.equal(key.modulus.length, 256);
});

Deno.test("loadConfig() refuses bad intervals, origins, URLs and lists, naming the variable", () => {
  for (const value of ["-1", "1.5", "sixty", "99999999999"]) {
    assert.equal(
      refused({ PROFILE_SYNC_MIN_INTERVAL_S: value }).variable,
      "PROFILE_SYNC_MIN_INTERVAL_S",
    );
  }
  for (
    const value of ["app.example.com", "https://app.example.com/", "*,https://a.example", "ftp://a"]
  ) {
    assert.equal(
      refused({ PROFILE_SYNC_ALLOWED_ORIGINS: value }).variable,
      "PROFILE_SYNC_ALLOWED_ORIGINS",
      value,
    );
  }
  assert.equal(refused({ CLERK_API_URL: "api.clerk.com" }).variable, "CLERK_API_URL");
  assert.equal(refused({ SUPABASE_URL: undefined }).variable, "SUPABASE_URL");
  assert.equal(
    refused({ SUPABASE_SERVICE_ROLE_KEY: undefined }).variable,
    "SUPABASE_SERVICE_ROLE_KEY",
  );
  assert.equal(refused({ SYNC_DB_TIMEOUT_MS: "0" }).variable, "SYNC_DB_TIMEOUT_MS");
});
