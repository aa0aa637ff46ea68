// Opens pages in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) the
// way a signed-in user's browser does, and prints what each page showed as JSON on stdout. Run
// by Node from profile_sync_browser_test.ts, which passes on stdin:
//   { "visits": ["http://localhost:8080/", ...], "clerk": { "token": "...", "sessionId": "..." },
//     "timeoutMs": 15000 }
// Clerk's browser SDK is replaced by a stand-in `window.Clerk` (load(), session.id,
// session.getToken()) installed before the page's scripts run: the page (examples/profile-sync)
// reads the session token from there as it does from Clerk's SDK. Everything else is real:
// supabase-js, fetch, CORS (the preflight and the answer's headers), the function.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
// Headless, and without the background connections that this machine's closed network refuses.
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function installClerk({ token, sessionId }) {
  globalThis.Clerk = {
    load: () => Promise.resolve(),
    session: { id: sessionId, getToken: () => Promise.resolve(token) },
  };
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function visit(context, url, timeoutMs) {
  const page = await context.newPage();
  const requests = [];
  const failures = [];
  const messages = [];
  const pending = [];
  page.on("request", (request) => {
    if (!request.url().includes("/functions/v1/")) return;
    // allHeaders(): what Chromium sent, cookies and all, not only what the page set.
    pending.push(
      request.allHeaders().catch(() => request.headers())
        .then((headers) =>
          requests.push({ method: request.method(), url: request.url(), headers })
        ),
    );
  });
  page.on("requestfailed", (request) => {
    failures.push({ url: request.url(), error: request.failure()?.errorText ?? "" });
  });
  page.on("console", (message) => messages.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => messages.push(`pageerror: ${error.message}`));
  try {
    await page.goto(url, { timeout: timeoutMs });
    await page.waitForSelector("#state[data-status]", { timeout: timeoutMs });
    const shown = await page.evaluate(() => {
      const fields = {};
      for (const dd of document.querySelectorAll("#profile [data-field]")) {
        fields[dd.dataset.field] = dd.textContent;
      }
      const state = document.getElementById("state");
      return {
        status: state.dataset.status,
        text: state.textContent,
        profileShown: !document.getElementById("profile").hidden,
        fields,
      };
    });
    await Promise.all(pending);
    return { url, ...shown, requests, failures, console: messages };
  } finally {
    await page.close();
  }
}

async function main() {
  const input = await readStdin();
  const userDataDir = await mkdtemp(join(tmpdir(), "clerk-sync-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
  });
  try {
    await context.addInitScript(installClerk, input.clerk);
    const results = [];
    for (const url of input.visits) results.push(await visit(context, url, input.timeoutMs));
    process.stdout.write(`${JSON.stringify(results)}\n`);
  } finally {
    await context.close();
    await rm(userDataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`open_page: ${error?.stack ?? error}\n`);
  process.exit(1);
});
