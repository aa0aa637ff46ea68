// What clerk-profile-sync reads of an oversized Authorization header (nothing: 401 before any
// decoding), where the cap sits (a session token as large as a cookie allows still verifies),
// and how long its log lines get when a token carries a huge header field. The handler runs
// in-process over the real session verifier (CLERK_JWT_KEY) with a store that answers `recent`.
import assert from "node:assert/strict";
import { type Logger, MAX_VALUE_CHARS } from "../supabase/functions/_shared/log.ts";
import {
  createHandler,
  MAX_AUTHORIZATION_CHARS,
} from "../supabase/functions/clerk-profile-sync/handler.ts";
import {
  createSessionVerifier,
  type SessionVerifier,
} from "../supabase/functions/clerk-profile-sync/session.ts";
import type { ProfileStore } from "../supabase/functions/clerk-profile-sync/store.ts";
import { generateSigningKey, mintSessionToken } from "./support/clerk_session.ts";

const KEY = await generateSigningKey();
const USER = "user_29w83sxmDNGwOuEthce5gg56FcC";
const URL_ = "http://127.0.0.1/functions/v1/clerk-profile-sync";

const store: ProfileStore = {
  read: (userId) =>
    Promise.resolve({
      status: "recent",
      profile: { user_id: userId },
      confirmedAt: "2026-12-01T00:00:00Z",
    }),
  sync: () => Promise.reject(new Error("not called")),
};

function rig(sessions?: SessionVerifier) {
  const lines: string[] = [];
  const push = (line: string) => void lines.push(line);
  const log: Logger = { info: push, warn: push, error: push };
  let verified = 0;
  const verifier = sessions ?? createSessionVerifier({
    jwtKeyPem: KEY.pem,
    secretKey: "sk_test_unused",
    apiUrl: "http://127.0.0.1:1",
    authorizedParties: [],
  });
  const handle = createHandler({
    sessions: {
      verify(token) {
        verified++;
        return verifier.verify(token);
      },
    },
    instance: { ensure: () => Promise.resolve() },
    clerk: { getUser: () => Promise.reject(new Error("not called")) },
    store,
    log,
    minIntervalS: 60,
    allowedOrigins: "*",
  });
  return {
    lines,
    get verified() {
      return verified;
    },
    call: (authorization: string) =>
      handle(new Request(URL_, { method: "POST", headers: { authorization } })),
  };
}

function base64Url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

// The review's token: a 53 KiB payload nested 20,000 deep, under a plausible header.
function nestedToken(): string {
  const header = base64Url(JSON.stringify({ alg: "RS256", kid: KEY.kid, typ: "JWT" }));
  const payload = base64Url(`{"sub":"${USER}","x":${"[".repeat(20_000)}${"]".repeat(20_000)}}`);
  return `${header}.${payload}.${"A".repeat(342)}`;
}

Deno.test("clerk-profile-sync refuses an Authorization header longer than any session token: 401 token-too-large, nothing decoded", async () => {
  const r = rig();
  const token = nestedToken();
  assert.ok(token.length > 50 * 1024);
  const res = await r.call(`Bearer ${token}`);
  assert.equal(res.status, 401);
  assert.deepEqual(await res.json(), { error: "invalid session token", reason: "token-too-large" });
  assert.equal(r.verified, 0, "the verifier never saw it");
  assert.deepEqual(r.lines, [
    `Rejected profile sync (401): token-too-large: the Authorization header has ${
      token.length + 7
    } characters; a Clerk session token fits in a 4 KB cookie (at most ${MAX_AUTHORIZATION_CHARS} with "Bearer ")`,
  ]);
});

Deno.test("clerk-profile-sync verifies a session token as large as a cookie allows (the cap is 4,096 characters)", async () => {
  const r = rig();
  const small = await mintSessionToken(KEY, USER);
  // Custom claims padding the token to exactly 4,096 characters (base64url: 4 per 3 bytes).
  const padding = Math.floor((4096 - small.length - 20) * 3 / 4);
  let token = await mintSessionToken(KEY, USER, { claims: { pad: "x".repeat(padding) } });
  let extra = 0;
  while (token.length < 4096) {
    token = await mintSessionToken(KEY, USER, { claims: { pad: "x".repeat(padding + ++extra) } });
  }
  assert.ok(token.length >= 4094 && token.length <= 4096, `${token.length}`);
  assert.equal((await r.call(`Bearer ${token}`)).status, 200);
  const over = `Bearer ${token}${"A".repeat(4097 - token.length)}`;
  assert.equal(over.length, MAX_AUTHORIZATION_CHARS + 1);
  const res = await r.call(over);
  assert.equal((await res.json()).reason, "token-too-large");
});

Deno.test("clerk-profile-sync keeps its log line bounded when a token's typ header is long: each value cut with a marker", async () => {
  const r = rig();
  // As long as the cap lets through: the SDK's message quotes the typ in full.
  const header = base64Url(JSON.stringify({ alg: "RS256", kid: KEY.kid, typ: "T".repeat(2000) }));
  const [, payload, signature] = (await mintSessionToken(KEY, USER)).split(".");
  const token = `${header}.${payload}.${signature}`;
  assert.ok(token.length < 4096);
  const res = await r.call(`Bearer ${token}`);
  assert.equal(res.status, 401);
  assert.equal(r.lines.length, 1);
  const line = r.lines[0];
  assert.match(line, /^Rejected profile sync \(401\): token-invalid: Invalid JWT type "TTTT/);
  assert.match(line, /…\[\d+ more characters\]$/);
  assert.ok(line.length < 60 + 2 * MAX_VALUE_CHARS, `a line of ${line.length} characters`);

  // 40,000 characters of typ, as the review sent: refused by size, the line as short.
  const huge = `${
    base64Url(JSON.stringify({ alg: "RS256", typ: "T".repeat(40_000) }))
  }.${payload}.${signature}`;
  const refused = await r.call(`Bearer ${huge}`);
  assert.equal((await refused.json()).reason, "token-too-large");
  assert.ok(r.lines[1].length < 300, `a line of ${r.lines[1].length} characters`);
});
