/**
 * The page of `index.html`: once Clerk's browser SDK has loaded and a user is signed in, it syncs
 * their profile through `clerk-profile-sync` (see sync_profile.ts) and shows it. Bundle it for the
 * browser with `deno bundle --platform browser -o page.js examples/profile-sync/page.ts`.
 *
 * Where Supabase is comes from the page's `<meta>` tags; the session token from `window.Clerk`
 * (set by Clerk's `<script>` tag). The page shows the outcome in `#state` (`data-status`: the
 * answer's status, `signed-out` or `failed`) and the profile's fields in `#profile`.
 */
import { createClient } from "@supabase/supabase-js";
import { syncProfileOnce } from "./sync_profile.ts";

/** The part of Clerk's browser SDK (`window.Clerk`) this page uses. */
interface ClerkBrowser {
  load(): Promise<void>;
  session?: { id: string; getToken(): Promise<string | null> } | null;
}

// The few browser members the page uses. The repository type-checks this file together with its
// Deno code, which has no DOM library (a `/// <reference lib="dom" />` would apply to all of it).
interface PageElement {
  textContent: string | null;
  hidden: boolean;
  dataset: Record<string, string | undefined>;
  getAttribute(name: string): string | null;
}
const browser = globalThis as unknown as {
  document: { querySelector(selector: string): PageElement | null };
  Clerk?: ClerkBrowser;
};

function element(selector: string): PageElement {
  const found = browser.document.querySelector(selector);
  if (!found) throw new Error(`the page has no ${selector}`);
  return found;
}

function meta(name: string): string {
  const value = element(`meta[name="${name}"]`).getAttribute("content");
  if (!value) throw new Error(`<meta name="${name}"> is empty`);
  return value;
}

function show(status: string, text: string): void {
  const state = element("#state");
  state.textContent = text;
  state.dataset.status = status;
}

async function main(): Promise<void> {
  const clerk = browser.Clerk;
  if (!clerk) throw new Error("Clerk's browser SDK is not loaded (window.Clerk)");
  await clerk.load();
  const session = clerk.session;
  if (!session) return show("signed-out", "Sign in to see your profile.");

  const supabase = createClient(meta("supabase-url"), meta("supabase-publishable-key"), {
    accessToken: async () => (await clerk.session?.getToken()) ?? null,
  });
  const answer = await syncProfileOnce(supabase, session.id);
  if (answer.status === "deleted") return show("deleted", "This account was deleted.");

  const { profile } = answer;
  const fields: Record<string, string> = {
    user_id: profile.user_id,
    name: [profile.first_name, profile.last_name].filter(Boolean).join(" "),
    email: profile.email ?? "",
    updated: profile.clerk_updated_at,
  };
  for (const [field, value] of Object.entries(fields)) {
    element(`#profile [data-field="${field}"]`).textContent = value;
  }
  element("#profile").hidden = false;
  show(answer.status, `Profile ${answer.status}.`);
}

// Clerk's <script> tag loads asynchronously: start once everything has loaded.
addEventListener("load", () => {
  main().catch((error) => {
    console.error(error);
    show("failed", `Could not sync the profile: ${error instanceof Error ? error.message : error}`);
  });
});
