// Session token verification of clerk-profile-sync (session.ts over @clerk/backend's verifyToken),
// with keys generated here: with CLERK_JWT_KEY (no network) and with CLERK_SECRET_KEY only (the
// JWKS of the Clerk API stand-in over loopback).
import assert from "node:assert/strict";
import { ConfigError } from "../supabase/functions/_shared/errors.ts";
import {
  AuthError,
  ClerkUnavailableError,
} from "../supabase/functions/clerk-profile-sync/errors.ts";
import {
  createSessionVerifier,
  type SessionVerifier,
} from "../supabase/functions/clerk-profile-sync/session.ts";
import { startClerkApiStandIn } from "./support/clerk_api_stand_in.ts";
import {
  type ClerkSigningKey,
  forgedToken,
  generateSigningKey,
  mintSessionToken,
} from "./support/clerk_session.ts";
import { signJws } from "./support/jwt.ts";
import { freePort } from "./support/pg_cluster.ts";
import { jwksRequests, secretKeyVerifier } from "./support/session_verifier.ts";

const KEY = await generateSigningKey();
const OTHER_KEY = await generateSigningKey();
const USER = "user_29w83sxmDNGwOuEthce5gg56FcC";
const now = () => Math.floor(Date.now() / 1000);

function withJwtKey(authorizedParties: string[] = []): SessionVerifier {
  return createSessionVerifier({
    jwtKeyPem: KEY.pem,
    secretKey: "sk_test_unused",
    apiUrl: "http://127.0.0.1:1",
    authorizedParties,
  });
}

async function refusal(promise: Promise<unknown>): Promise<AuthError> {
  const error = await promise.then(() => null, (e) => e);
  assert.ok(error instanceof AuthError, `expected an AuthError, got ${error}`);
  return error;
}

Deno.test("verify() with CLERK_JWT_KEY accepts a valid session token and returns its sub", async () => {
  const session = await withJwtKey().verify(await mintSessionToken(KEY, USER));
  assert.deepEqual(session, { userId: USER });
});

Deno.test("verify() refuses an expired token (token-expired)", async () => {
  const token = await mintSessionToken(KEY, USER, { issuedAt: now() - 300, ttlSeconds: 60 });
  assert.equal((await refusal(withJwtKey().verify(token))).reason, "token-expired");
});

Deno.test("verify() refuses a token whose nbf is in the future (token-not-active-yet)", async () => {
  const token = await mintSessionToken(KEY, USER, { claims: { nbf: now() + 300 } });
  assert.equal((await refusal(withJwtKey().verify(token))).reason, "token-not-active-yet");
});

Deno.test("verify() refuses a token signed by another key (token-invalid-signature)", async () => {
  const token = await mintSessionToken(OTHER_KEY, USER, { header: { kid: KEY.kid } });
  assert.equal((await refusal(withJwtKey().verify(token))).reason, "token-invalid-signature");
});

Deno.test("verify() refuses alg HS256 and alg none (token-invalid-algorithm)", async () => {
  for (const alg of ["HS256", "none"] as const) {
    const token = await forgedToken(alg, USER, KEY.kid);
    const error = await refusal(withJwtKey().verify(token));
    assert.equal(error.reason, "token-invalid-algorithm", alg);
  }
});

Deno.test("verify() with authorized parties refuses a wrong azp and a missing one", async () => {
  const verifier = withJwtKey(["https://app.example.com"]);
  const wrong = await mintSessionToken(KEY, USER, { claims: { azp: "https://evil.example" } });
  assert.equal((await refusal(verifier.verify(wrong))).reason, "token-invalid-authorized-parties");
  const missing = await mintSessionToken(KEY, USER, { claims: { azp: undefined } });
  assert.equal(
    (await refusal(verifier.verify(missing))).reason,
    "token-invalid-authorized-parties",
  );
  const right = await mintSessionToken(KEY, USER, { claims: { azp: "https://app.example.com" } });
  assert.deepEqual(await verifier.verify(right), { userId: USER });
});

Deno.test("verify() refuses a token without sub", async () => {
  const token = await mintSessionToken(KEY, USER, { claims: { sub: undefined } });
  assert.equal((await refusal(withJwtKey().verify(token))).reason, "token-verification-failed");
});

Deno.test("verify() refuses what is not a JWT (token-invalid)", async () => {
  for (const token of ["not-a-jwt", "a.b.c", "%%%.x.y"]) {
    assert.equal((await refusal(withJwtKey().verify(token))).reason, "token-invalid", token);
  }
});

Deno.test("verify() with CLERK_SECRET_KEY fetches the JWKS once and then verifies from its cache", async () => {
  const clerk = startClerkApiStandIn({ signingKeys: [KEY] });
  try {
    const verifier = secretKeyVerifier(clerk);
    assert.deepEqual(await verifier.verify(await mintSessionToken(KEY, USER)), { userId: USER });
    assert.deepEqual(await verifier.verify(await mintSessionToken(KEY, "user_2")), {
      userId: "user_2",
    });
    const expired = await mintSessionToken(KEY, USER, { issuedAt: now() - 300 });
    assert.equal((await refusal(verifier.verify(expired))).reason, "token-expired");
    assert.equal(jwksRequests(clerk), 1);
  } finally {
    await clerk.close();
  }
});

Deno.test("verify() with CLERK_SECRET_KEY refuses a key id the JWKS lacks (jwk-kid-mismatch), and HS256 without a fetch", async () => {
  const clerk = startClerkApiStandIn({ signingKeys: [KEY] });
  try {
    const verifier = secretKeyVerifier(clerk);
    const foreign = await mintSessionToken(OTHER_KEY, USER);
    assert.equal((await refusal(verifier.verify(foreign))).reason, "jwk-kid-mismatch");
    const fetches = clerk.requests.length;
    const hs256 = await forgedToken("HS256", USER, KEY.kid);
    assert.equal((await refusal(verifier.verify(hs256))).reason, "token-invalid-algorithm");
    const noKid = await mintSessionToken(KEY, USER, { header: { kid: undefined } });
    assert.equal((await refusal(verifier.verify(noKid))).reason, "token-invalid");
    assert.equal(clerk.requests.length, fetches, "no JWKS fetch for a token refused by its header");
  } finally {
    await clerk.close();
  }
});

Deno.test("verify() with CLERK_SECRET_KEY: 50 concurrent cold verifications fetch the JWKS once, whatever the first token's fate", async () => {
  const clerk = startClerkApiStandIn({ signingKeys: [KEY] });
  try {
    const verifier = secretKeyVerifier(clerk);
    const expired = await mintSessionToken(KEY, USER, { issuedAt: now() - 300 });
    const tokens = [
      expired,
      ...await Promise.all(
        Array.from({ length: 49 }, (_, i) => mintSessionToken(KEY, `user_${i}`)),
      ),
    ];
    const results = await Promise.allSettled(tokens.map((t) => verifier.verify(t)));
    assert.equal(results[0].status, "rejected");
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 49);
    assert.equal(jwksRequests(clerk), 1);
  } finally {
    await clerk.close();
  }
});

Deno.test("verify() with CLERK_SECRET_KEY: an unreachable JWKS is ClerkUnavailableError (503), a refused key ConfigError naming CLERK_SECRET_KEY (500)", async () => {
  // @clerk/backend retries a failed JWKS fetch 4 times with backoff (about 2 to 4 s) before giving up.
  const clerk = startClerkApiStandIn({ signingKeys: [KEY] });
  try {
    const unreachable = createSessionVerifier({
      jwtKeyPem: null,
      secretKey: "sk_test_unreachable",
      apiUrl: `http://127.0.0.1:${freePort()}`,
      authorizedParties: [],
    });
    const refused = createSessionVerifier({
      jwtKeyPem: null,
      secretKey: "sk_test_not_this_instance",
      apiUrl: clerk.url,
      authorizedParties: [],
    });
    const token = await mintSessionToken(KEY, USER);
    const [down, bad] = await Promise.all([
      unreachable.verify(token).then(() => null, (e) => e),
      refused.verify(token).then(() => null, (e) => e),
    ]);
    assert.ok(down instanceof ClerkUnavailableError, String(down));
    assert.match(down.message, /^Clerk's Backend API unreachable \(GET \/v1\/jwks: /);
    assert.ok(bad instanceof ConfigError, String(bad));
    assert.equal(bad.variable, "CLERK_SECRET_KEY");
    assert.ok(!bad.message.includes("sk_test_not_this_instance"));
  } finally {
    await clerk.close();
  }
});

// The instance's key, re-imported for SHA-384 or SHA-512: an RS384 or RS512 token of the same key.
async function tokenSignedWith(
  key: ClerkSigningKey,
  alg: "RS384" | "RS512",
  claims: Record<string, unknown> = {},
  kid = key.kid,
): Promise<string> {
  const hash = alg === "RS384" ? "SHA-384" : "SHA-512";
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", key.privateKey);
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    pkcs8,
    { name: "RSASSA-PKCS1-v1_5", hash },
    false,
    ["sign"],
  );
  const iat = now();
  return await signJws(
    { alg, kid, typ: "JWT" },
    { sub: USER, iat, nbf: iat - 5, exp: iat + 60, azp: "http://localhost:3000", ...claims },
    privateKey,
  );
}

Deno.test("verify() with CLERK_JWT_KEY accepts RS384 and RS512 tokens of the instance's key, and refuses them signed by another", async () => {
  for (const alg of ["RS384", "RS512"] as const) {
    assert.deepEqual(await withJwtKey().verify(await tokenSignedWith(KEY, alg)), { userId: USER });
    const forged = await tokenSignedWith(OTHER_KEY, alg);
    assert.equal(
      (await refusal(withJwtKey().verify(forged))).reason,
      "token-invalid-signature",
      alg,
    );
    const expired = await tokenSignedWith(KEY, alg, { iat: now() - 300, exp: now() - 240 });
    assert.equal((await refusal(withJwtKey().verify(expired))).reason, "token-expired", alg);
  }
});

Deno.test("verify() with CLERK_SECRET_KEY accepts RS384 and RS512 tokens of a key the JWKS lists (as RS256)", async () => {
  const clerk = startClerkApiStandIn({ signingKeys: [KEY] });
  try {
    const verifier = secretKeyVerifier(clerk);
    assert.equal(KEY.jwk.alg, "RS256", "Clerk lists its keys with alg RS256");
    for (const alg of ["RS384", "RS512"] as const) {
      assert.deepEqual(await verifier.verify(await tokenSignedWith(KEY, alg)), { userId: USER });
      const forged = await tokenSignedWith(OTHER_KEY, alg, {}, KEY.kid);
      assert.equal(
        (await refusal(verifier.verify(forged))).reason,
        "token-invalid-signature",
        alg,
      );
    }
  } finally {
    await clerk.close();
  }
});

Deno.test("verify() refuses a machine-to-machine token of the instance's key (token-invalid)", async () => {
  const token = await mintSessionToken(KEY, USER, { header: { cat: "cl_B7d4PD333AAA" } });
  assert.equal((await refusal(withJwtKey().verify(token))).reason, "token-invalid");
});
