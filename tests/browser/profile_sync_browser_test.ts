// Sync on visit in a real browser: headless Chromium opens the example page
// (examples/profile-sync/index.html, page.ts bundled by `deno bundle --platform browser`) served
// from one origin, and the page calls clerk-profile-sync of the local stack on another origin
// through supabase-js `functions.invoke`, with a session token minted for the stack's Clerk
// stand-in. So the CORS preflight, the headers supabase-js really sends and the answer's shape
// are checked by the client users have. Chromium is driven by tests/browser/open_page.mjs (Node,
// playwright-core); `npm run setup` installs Debian's chromium.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mintSessionToken } from "../support/clerk_session.ts";
import { EXAMPLE_USER_ID, startLocalStack } from "../support/local_stack.ts";
import { withSql } from "../e2e/support.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CHROMIUM = "/usr/bin/chromium";
const EXAMPLE = `${ROOT}examples/profile-sync`;
const decoder = new TextDecoder();

/** What open_page.mjs reports for one visit. */
interface Visit {
  url: string;
  status: string;
  text: string;
  profileShown: boolean;
  fields: Record<string, string>;
  requests: { method: string; url: string; headers: Record<string, string> }[];
  failures: { url: string; error: string }[];
  console: string[];
}

/** Bundles the example's page.ts for the browser into `dir`; returns the bundle's text. */
async function bundlePage(dir: string): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--frozen",
      "--quiet",
      "--platform",
      "browser",
      "--minify",
      "-o",
      `${dir}/page.js`,
      `${EXAMPLE}/page.ts`,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, decoder.decode(output.stderr));
  return await Deno.readTextFile(`${dir}/page.js`);
}

/** Serves the example page with `meta` filled in, and its bundle, on 127.0.0.1. */
function servePage(bundle: string, meta: () => Record<string, string>) {
  const template = Deno.readTextFileSync(`${EXAMPLE}/index.html`);
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const { pathname } = new URL(req.url);
    if (pathname === "/") {
      let html = template;
      for (const [name, value] of Object.entries(meta())) {
        html = html.replace(
          new RegExp(`(<meta name="${name}" content=")[^"]*(")`),
          (_, before, after) => `${before}${value}${after}`,
        );
      }
      return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (pathname === "/page.js") {
      return new Response(bundle, { headers: { "content-type": "text/javascript" } });
    }
    if (pathname === "/favicon.ico") return new Response(null, { status: 204 });
    return new Response("not found", { status: 404 });
  });
}

/** Runs open_page.mjs with Node; resolves with what each page showed. */
async function openPages(input: unknown): Promise<Visit[]> {
  const child = new Deno.Command("node", {
    args: [`${ROOT}tests/browser/open_page.mjs`],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(input)));
  await writer.close();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    const output = await child.output();
    const stderr = decoder.decode(output.stderr);
    assert.equal(output.code, 0, `open_page.mjs failed:\n${stderr}`);
    return JSON.parse(decoder.decode(output.stdout));
  } finally {
    clearTimeout(timer);
  }
}

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(
    `tests/browser: ${CHROMIUM} is missing, so the browser test is skipped: ` +
      "`npm run setup` installs it (apt-get install chromium)",
  );
}

Deno.test({
  name: "examples/profile-sync in Chromium: supabase-js invokes clerk-profile-sync across origins",
  ignore: !haveChromium,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "clerk-sync-browser-" });
    let functionOrigin = "";
    let anonKey = "";
    const server = servePage(await bundlePage(dir), () => ({
      "supabase-url": functionOrigin,
      "supabase-publishable-key": anonKey,
    }));
    const pagePort = server.addr.port;
    // Two origins of one server: the function allows the first only.
    const allowed = `http://localhost:${pagePort}`;
    const refused = `http://127.0.0.1:${pagePort}`;
    const stack = await startLocalStack({
      profileSyncEnv: {
        PROFILE_SYNC_ALLOWED_ORIGINS: allowed,
        CLERK_AUTHORIZED_PARTIES: allowed,
      },
    }).catch(async (error) => {
      await server.shutdown();
      throw error;
    });
    try {
      functionOrigin = new URL(stack.profileSyncUrl).origin;
      anonKey = stack.anonKey;
      assert.ok(stack.clerk && stack.clerkSigningKey);
      // A Clerk session token as the signed-in page gets it: azp is the page's origin.
      const token = await mintSessionToken(stack.clerkSigningKey, EXAMPLE_USER_ID, {
        claims: { azp: allowed },
      });
      const visits = await openPages({
        visits: [`${allowed}/`, `${allowed}/`, `${refused}/`],
        clerk: { token, sessionId: "sess_browser_test" },
        timeoutMs: 15_000,
      });
      const report = JSON.stringify(visits, null, 2);
      const [first, reload, otherOrigin] = visits;

      assert.equal(first.status, "applied", report);
      assert.ok(first.profileShown, report);
      assert.deepEqual(
        { ...first.fields, updated: undefined },
        {
          user_id: EXAMPLE_USER_ID,
          name: "Example Example",
          email: "example@example.org",
          updated: undefined,
        },
        report,
      );
      // What supabase-js sent: one POST with the Clerk token, the project key and its client info.
      assert.equal(first.requests.length, 1, report);
      const [call] = first.requests;
      assert.equal(call.method, "POST");
      assert.equal(call.url, stack.profileSyncUrl);
      assert.equal(call.headers.authorization, `Bearer ${token}`);
      assert.equal(call.headers.apikey, anonKey);
      assert.match(call.headers["x-client-info"], /^supabase-js\/2\.119\.1/);
      assert.equal(call.headers.origin, allowed);

      // A reload within the interval is answered from the database.
      assert.equal(reload.status, "recent", report);
      assert.equal(reload.fields.email, "example@example.org", report);

      // Another origin: the function refuses its preflight, the browser then sends nothing, and
      // the page reports the failure.
      assert.equal(otherOrigin.status, "failed", report);
      assert.match(otherOrigin.text, /Failed to send a request to the Edge Function/, report);
      assert.ok(!otherOrigin.profileShown, report);
      await stack.profileSync.waitForLog(
        new RegExp(`\\(403\\).*${refused.replaceAll(".", "\\.")}`),
      );
      const requested = stack.profileSync.logs.filter((l) =>
        l.startsWith("Profile sync requested")
      );
      assert.deepEqual(requested, Array(2).fill(`Profile sync requested by ${EXAMPLE_USER_ID}`));

      // Clerk was asked once, and the row the page showed is the stored one.
      const clerkCalls = stack.clerk.requests.filter((r) => r.path.startsWith("/v1/users/"));
      assert.deepEqual(clerkCalls.map((r) => r.path), [`/v1/users/${EXAMPLE_USER_ID}`]);
      const rows = await withSql(
        stack.databaseUrl,
        (sql) =>
          sql`select first_name, last_name, email,
                     (extract(epoch from clerk_updated_at) * 1000)::float8 as clerk_updated_ms
                from public.profiles where user_id = ${EXAMPLE_USER_ID}`,
      );
      assert.deepEqual(rows.map((r) => ({ ...r })), [{
        first_name: "Example",
        last_name: "Example",
        email: "example@example.org",
        clerk_updated_ms: Date.parse(first.fields.updated),
      }]);
    } finally {
      await stack.close();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
