// CORS of clerk-profile-sync: preflights, allowed and refused origins, the headers on error
// answers, and the headers supabase-js's functions.invoke really sends.
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import { ALLOWED_HEADERS } from "../supabase/functions/clerk-profile-sync/cors.ts";
import { APP_ORIGIN, type Rig, withRig } from "./support/profile_sync_rig.ts";

const OTHER_ORIGIN = "https://evil.example";

function preflight(rig: Rig, origin: string): Request {
  return rig.request(undefined, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, apikey, x-client-info, content-type",
    },
  });
}

async function signedUp(rig: Rig) {
  const id = rig.newUserId();
  rig.putUser(id);
  return { id, token: await rig.token(id) };
}

Deno.test("clerk-profile-sync answers a preflight 204 with the CORS headers, touching neither Clerk nor the database", async () => {
  await withRig({}, async (rig) => {
    const res = await rig.handle(preflight(rig, APP_ORIGIN));
    assert.equal(res.status, 204);
    assert.equal(await res.text(), "");
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    assert.equal(res.headers.get("access-control-allow-methods"), "POST, OPTIONS");
    assert.equal(
      res.headers.get("access-control-allow-headers"),
      "authorization, apikey, x-client-info, content-type, x-region",
    );
    assert.equal(res.headers.get("access-control-max-age"), "7200");
    assert.equal(res.headers.get("access-control-allow-credentials"), null);
    assert.deepEqual(rig.lines, []);
    assert.equal(rig.clerkCalls(), 0);
  });
});

Deno.test("clerk-profile-sync echoes an allowed origin with Vary: Origin, on the preflight and the answer", async () => {
  await withRig({ allowedOrigins: [APP_ORIGIN, "https://app.example.com"] }, async (rig) => {
    const pre = await rig.handle(preflight(rig, APP_ORIGIN));
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), APP_ORIGIN);
    assert.equal(pre.headers.get("vary"), "Origin");
    const { token } = await signedUp(rig);
    const res = await rig.handle(rig.request(token, { headers: { origin: APP_ORIGIN } }));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), APP_ORIGIN);
    assert.equal(res.headers.get("vary"), "Origin");
  });
});

Deno.test("clerk-profile-sync refuses an origin not in the list with 403, without calling Clerk or the database", async () => {
  await withRig({ allowedOrigins: [APP_ORIGIN] }, async (rig) => {
    const pre = await rig.handle(preflight(rig, OTHER_ORIGIN));
    assert.equal(pre.status, 403);
    assert.equal(pre.headers.get("access-control-allow-origin"), null);
    const { id, token } = await signedUp(rig);
    const res = await rig.handle(rig.request(token, { headers: { origin: OTHER_ORIGIN } }));
    assert.equal(res.status, 403);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.equal(res.headers.get("vary"), "Origin");
    assert.deepEqual(await res.json(), { error: "origin not allowed" });
    assert.equal(rig.clerkCalls(), 0);
    assert.deepEqual(rig.lines, [
      `Rejected profile sync (403): origin ${OTHER_ORIGIN} is not allowed`,
      `Rejected profile sync (403): origin ${OTHER_ORIGIN} is not allowed`,
    ]);
    const rows = await rig
      .sql`select 1 from clerk_sync.profile_confirmations where user_id = ${id}`;
    assert.equal(rows.length, 0);
  });
});

Deno.test("clerk-profile-sync with an origin list serves a request without Origin (not a browser) without CORS grant", async () => {
  await withRig({ allowedOrigins: [APP_ORIGIN] }, async (rig) => {
    const { token } = await signedUp(rig);
    const res = await rig.handle(rig.request(token));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.equal(res.headers.get("vary"), "Origin");
    await res.body?.cancel();
  });
});

Deno.test("clerk-profile-sync sends the CORS headers on its error answers too (401, 405, 410, 503)", async () => {
  await withRig({ allowedOrigins: [APP_ORIGIN] }, async (rig) => {
    const origin = { origin: APP_ORIGIN };
    const unknown = rig.newUserId();
    const limited = await signedUp(rig);
    rig.clerk.injectFault({ path: `/v1/users/${limited.id}`, status: 429, retryAfterSeconds: 3 });
    const answers = [
      await rig.handle(rig.request(undefined, { headers: origin })),
      await rig.handle(rig.request(undefined, { method: "GET", headers: origin })),
      await rig.handle(rig.request(await rig.token(unknown), { headers: origin })),
      await rig.handle(rig.request(limited.token, { headers: origin })),
    ];
    assert.deepEqual(answers.map((r) => r.status), [401, 405, 410, 503]);
    for (const res of answers) {
      assert.equal(res.headers.get("access-control-allow-origin"), APP_ORIGIN);
      assert.equal(res.headers.get("access-control-expose-headers"), "Retry-After");
      assert.equal(res.headers.get("content-type"), "application/json");
      await res.body?.cancel();
    }
  });
});

Deno.test("supabase-js functions.invoke sends only headers the preflight allows, and reads { status, profile }", async () => {
  await withRig({}, async (rig) => {
    const { id, token } = await signedUp(rig);
    const seen: Headers[] = [];
    const supabase = createClient("http://project.test", "anon-key-for-the-test", {
      accessToken: () => Promise.resolve(token),
      global: {
        fetch: (input, init) => {
          const req = new Request(input, init);
          seen.push(req.headers);
          return rig.handle(req);
        },
      },
    });
    const { data, error } = await supabase.functions.invoke("clerk-profile-sync");
    assert.equal(error, null);
    assert.equal(data.status, "applied");
    assert.equal(data.profile.user_id, id);
    const withBody = await supabase.functions.invoke("clerk-profile-sync", { body: { hello: 1 } });
    assert.equal(withBody.data.status, "recent");
    const allowed = ALLOWED_HEADERS.split(", ");
    for (const headers of seen) {
      for (const [name] of headers) assert.ok(allowed.includes(name), `${name} is allowed`);
    }
    assert.deepEqual([...seen[0].keys()].sort(), ["apikey", "authorization", "x-client-info"]);
    assert.ok(seen[1].has("content-type"));
  });
});
