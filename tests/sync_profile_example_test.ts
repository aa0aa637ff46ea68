// The example client (examples/profile-sync/sync_profile.ts) through the real supabase-js: what
// it sends, how it reads each answer of clerk-profile-sync, and that syncProfileOnce calls the
// function once per Clerk session and again after a failure. The function is answered by a fetch
// stand-in here; tests/browser runs the example against the real function.
import assert from "node:assert/strict";
import { createClient, FunctionsHttpError } from "@supabase/supabase-js";
import { syncProfile, syncProfileOnce } from "../examples/profile-sync/sync_profile.ts";

const URL_BASE = "http://127.0.0.1:54321";
const profile = {
  user_id: "user_29w83sxmDNGwOuEthce5gg56FcC",
  email: "example@example.org",
  first_name: "Example",
  last_name: "Example",
};

/** A client whose function calls are answered by `answer`; records each request. */
function client(answer: () => Response) {
  const requests: Request[] = [];
  const supabase = createClient(URL_BASE, "sb_publishable_test", {
    accessToken: () => Promise.resolve("session-token"),
    global: {
      fetch: (input: RequestInfo | URL, init?: RequestInit) => {
        requests.push(new Request(input, init));
        return Promise.resolve(answer());
      },
    },
  });
  return { supabase, requests };
}

Deno.test("syncProfile() POSTs with the session token and returns the function's answer", async () => {
  const { supabase, requests } = client(() => Response.json({ status: "applied", profile }));
  assert.deepEqual(await syncProfile(supabase), { status: "applied", profile });
  assert.equal(requests.length, 1);
  const [request] = requests;
  assert.equal(request.method, "POST");
  assert.equal(request.url, `${URL_BASE}/functions/v1/clerk-profile-sync`);
  assert.equal(request.headers.get("authorization"), "Bearer session-token");
  assert.equal(request.headers.get("apikey"), "sb_publishable_test");
});

Deno.test("syncProfile() reads 410 as deleted and rejects 401 and 503 with FunctionsHttpError", async () => {
  const deleted = client(() => Response.json({ status: "deleted" }, { status: 410 }));
  assert.deepEqual(await syncProfile(deleted.supabase), { status: "deleted" });

  for (const status of [401, 503]) {
    const failing = client(() => Response.json({ error: "no" }, { status }));
    const error = await syncProfile(failing.supabase).then(() => null, (e) => e);
    assert.ok(error instanceof FunctionsHttpError, String(error));
    assert.equal(error.context.status, status);
  }
});

Deno.test("syncProfileOnce() calls the function once per session, and again after a failure", async () => {
  let fail = true;
  const { supabase, requests } = client(() =>
    fail ? new Response("", { status: 503 }) : Response.json({ status: "recent", profile })
  );
  const session = `sess_${crypto.randomUUID()}`;
  await assert.rejects(syncProfileOnce(supabase, session));
  fail = false;
  const answers = await Promise.all([1, 2, 3].map(() => syncProfileOnce(supabase, session)));
  assert.deepEqual(answers, Array(3).fill({ status: "recent", profile }));
  assert.equal(requests.length, 2, "one failed call, then one for three callers");
  await syncProfileOnce(supabase, `${session}_next`);
  assert.equal(requests.length, 3, "a new session syncs again");
});
