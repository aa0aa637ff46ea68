/**
 * `npm run send -- user.created|user.updated|user.deleted [--user-id ID] [--url URL]
 * [--svix-id ID]`: builds a realistic Clerk event, signs it with CLERK_WEBHOOK_SECRET the way
 * Svix does, POSTs it and prints the status and the response body. Exit code 0 on a 2xx.
 *
 * Where it goes: --url, else FUNCTION_URL, else the function of a running `npm run dev` (its
 * state file), else http://127.0.0.1:54321/functions/v1/clerk-webhook (`supabase functions
 * serve`). The secret: CLERK_WEBHOOK_SECRET (the first one when it lists several), else the
 * running `npm run dev`'s when the event goes to its function.
 *
 * The default user is Clerk's documentation example, user_29w83sxmDNGwOuEthce5gg56FcC
 * ("Example Example"), so created → updated → deleted act on one user. `updated_at` (and a
 * deletion's timestamp) is now, so each event is newer than the last.
 */
import { parseArgs } from "node:util";
import {
  clerkDeletedPayload,
  clerkEvent,
  type ClerkEventPayload,
  clerkId,
  type ClerkUserEventType,
  clerkUserPayload,
  signedRequest,
} from "../tests/support/clerk_payloads.ts";
import { defaultStatePath, readDevState } from "./dev_state.ts";

/** Where `supabase functions serve` answers for this function. */
export const SERVE_URL = "http://127.0.0.1:54321/functions/v1/clerk-webhook";
/** The user of Clerk's example payloads (and of the README's log lines). */
export const EXAMPLE_USER_ID = "user_29w83sxmDNGwOuEthce5gg56FcC";
// Clerk's example user was created at this instant (epoch ms); it keeps clerk_created_at stable.
const EXAMPLE_CREATED_AT = 1654012591514;
const TYPES: readonly string[] = ["user.created", "user.updated", "user.deleted"];
const USAGE = "usage: npm run send -- user.created|user.updated|user.deleted " +
  "[--user-id ID] [--url URL] [--svix-id ID]";

/** The event `npm run send` posts: Clerk's example user, updated now. */
export function exampleEvent(
  type: ClerkUserEventType,
  userId: string,
  now = Date.now(),
): ClerkEventPayload {
  if (type === "user.deleted") return clerkEvent(type, clerkDeletedPayload(userId), now);
  const user = clerkUserPayload({
    id: userId,
    createdAt: Math.min(EXAMPLE_CREATED_AT, now),
    updatedAt: now,
    firstName: type === "user.updated" ? "Updated" : "Example",
    lastName: "Example",
    email: "example@example.org",
    publicMetadata: {},
  });
  return clerkEvent(type, user, now);
}

function isEventType(value: string): value is ClerkUserEventType {
  return TYPES.includes(value);
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      allowPositionals: true,
      options: {
        "user-id": { type: "string" },
        url: { type: "string" },
        "svix-id": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : error}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const type = positionals[0];
  if (values.help || positionals.length !== 1 || type === undefined || !isEventType(type)) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }

  const statePath = Deno.env.get("CLERK_SYNC_DEV_STATE")?.trim() || defaultStatePath();
  const dev = await readDevState(statePath);
  const envUrl = Deno.env.get("FUNCTION_URL")?.trim();
  const url = values.url ?? (envUrl || dev?.FUNCTION_URL || SERVE_URL);
  const urlSource = values.url
    ? "--url"
    : envUrl
    ? "FUNCTION_URL"
    : dev?.FUNCTION_URL
    ? "npm run dev"
    : "supabase functions serve default";
  const envSecret = Deno.env.get("CLERK_WEBHOOK_SECRET")?.split(/[\s,]+/).find((s) => s !== "");
  const secret = envSecret ??
    (dev?.FUNCTION_URL === url ? dev.CLERK_WEBHOOK_SECRET : undefined);
  if (!secret) {
    console.error(
      "CLERK_WEBHOOK_SECRET is not set: export the endpoint's signing secret (whsec_...), " +
        "or start `npm run dev` and send to its function",
    );
    return 2;
  }

  const userId = values["user-id"] ?? EXAMPLE_USER_ID;
  const msgId = values["svix-id"] ?? clerkId("msg");
  const body = JSON.stringify(exampleEvent(type, userId));
  let request: Request;
  try {
    request = signedRequest(url, secret, body, { msgId });
  } catch (error) {
    console.error(`cannot sign: ${error instanceof Error ? error.message : error}`);
    return 2;
  }
  console.log(`POST ${url} (${urlSource})`);
  console.log(`${type} for ${userId}, svix-id ${msgId}`);
  let response: Response;
  try {
    response = await fetch(request, { signal: AbortSignal.timeout(20_000) });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error
      ? ` (${error.cause.message})`
      : "";
    console.error(`request failed: ${error instanceof Error ? error.message : error}${cause}`);
    console.error(
      urlSource === "npm run dev"
        ? `the URL came from ${statePath}: is npm run dev still running? (delete the file if not)`
        : "is the function running (npm run dev, or supabase functions serve)?",
    );
    return 1;
  }
  const text = await response.text();
  console.log(`${response.status} ${response.statusText}`);
  console.log(text);
  if (response.status === 401) {
    console.error("the signature was refused: is CLERK_WEBHOOK_SECRET the function's secret?");
  }
  return response.ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
