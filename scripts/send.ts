/**
 * `npm run send -- <type> [--user-id ID] [--org-id ID] [--role ROLE] [--url URL] [--svix-id ID]
 * [--allow-remote]`: builds a realistic Clerk event of `<type>` (user.created, user.updated,
 * user.deleted, organization.created, organization.updated, organization.deleted,
 * organizationMembership.created, organizationMembership.updated, organizationMembership.deleted),
 * signs it with CLERK_WEBHOOK_SECRET the way Svix does, POSTs it and prints the status and the
 * response body. Exit code 0 on a 2xx, 1 on another answer or no answer, 2 on bad usage or a
 * refused URL.
 *
 * Where it goes: --url, else FUNCTION_URL, else the function of a running `npm run dev` (its
 * state file), else http://127.0.0.1:54321/functions/v1/clerk-webhook (`supabase functions
 * serve`). Only to this machine (127.0.0.0/8, ::1, localhost) unless --allow-remote: signed with
 * the real secret, the made-up event is genuine to a deployed function, which would overwrite or
 * delete a real user's profile with it. The secret: CLERK_WEBHOOK_SECRET (the first one when it
 * lists several), else the running `npm run dev`'s when the event goes to its function.
 *
 * The default user is Clerk's documentation example, user_29w83sxmDNGwOuEthce5gg56FcC
 * ("Example Example"), so created → updated → deleted act on one user; the default organization
 * is Clerk's example org_29w9IfBrPmcpi0IeBVaKtA7R94W ("Acme Inc"), and a membership joins the
 * two (one membership id per organization and user). `updated_at` (and a deletion's timestamp) is
 * now, so each event is newer than the last. A membership event carries the organization as of
 * Clerk's example (2022), so it creates a missing organization row but never overwrites one.
 */
import { parseArgs } from "node:util";
import {
  clerkDeletedPayload,
  clerkEvent,
  type ClerkEventPayload,
  clerkId,
  clerkMembershipEvent,
  type ClerkMembershipEventPayload,
  type ClerkMembershipEventType,
  clerkMembershipPayload,
  clerkOrganizationDeletedPayload,
  clerkOrganizationEvent,
  type ClerkOrganizationEventPayload,
  type ClerkOrganizationEventType,
  clerkOrganizationPayload,
  type ClerkUserEventType,
  clerkUserPayload,
  signedRequest,
  stableId,
} from "../tests/support/clerk_payloads.ts";
import { logLine, printable } from "../supabase/functions/_shared/log.ts";
import { defaultStatePath, readDevState } from "./dev_state.ts";

/** Where `supabase functions serve` answers for this function. */
export const SERVE_URL = "http://127.0.0.1:54321/functions/v1/clerk-webhook";
/** The user of Clerk's example payloads (and of the README's log lines). */
export const EXAMPLE_USER_ID = "user_29w83sxmDNGwOuEthce5gg56FcC";
/** The organization of Clerk's example payloads. */
export const EXAMPLE_ORG_ID = "org_29w9IfBrPmcpi0IeBVaKtA7R94W";
// Clerk's example user was created at this instant (epoch ms); it keeps clerk_created_at stable.
const EXAMPLE_CREATED_AT = 1654012591514;
// ... and its example organization (created and last updated then).
const EXAMPLE_ORG_CREATED_AT = 1654013202977;
/** The event types `npm run send` builds. */
export type SendEventType =
  | ClerkUserEventType
  | ClerkOrganizationEventType
  | ClerkMembershipEventType;
const TYPES: readonly string[] = [
  "user.created",
  "user.updated",
  "user.deleted",
  "organization.created",
  "organization.updated",
  "organization.deleted",
  "organizationMembership.created",
  "organizationMembership.updated",
  "organizationMembership.deleted",
];
const USAGE = `usage: npm run send -- <type> [--user-id ID] [--org-id ID] [--role ROLE] ` +
  `[--url URL] [--svix-id ID] [--allow-remote]\n  <type>: ${TYPES.join(", ")}`;

/** Whom an event is about: the user, the organization, the member's role. */
export interface ExampleSubject {
  userId: string;
  orgId: string;
  /** A membership's role (default `org:admin`), sent as given. */
  role?: string;
}

/** The event `npm run send` posts: Clerk's example user, organization or membership, now. */
export function exampleEvent(
  type: SendEventType,
  subject: ExampleSubject,
  now = Date.now(),
): ClerkEventPayload | ClerkOrganizationEventPayload | ClerkMembershipEventPayload {
  const { userId, orgId } = subject;
  if (type === "organization.deleted") {
    return clerkOrganizationEvent(type, clerkOrganizationDeletedPayload(orgId), now);
  }
  if (type === "organization.created" || type === "organization.updated") {
    const org = clerkOrganizationPayload({
      id: orgId,
      name: type === "organization.updated" ? "Acme Corp" : "Acme Inc",
      createdAt: Math.min(EXAMPLE_ORG_CREATED_AT, now),
      updatedAt: now,
      createdBy: userId,
    });
    return clerkOrganizationEvent(type, org, now);
  }
  if (isMembershipType(type)) {
    const organization = clerkOrganizationPayload({
      id: orgId,
      createdAt: Math.min(EXAMPLE_ORG_CREATED_AT, now),
      updatedAt: Math.min(EXAMPLE_ORG_CREATED_AT, now),
      createdBy: userId,
    });
    const membership = clerkMembershipPayload({
      id: stableId("orgmem", `${orgId}:${userId}`),
      organization,
      userId,
      role: subject.role ?? "org:admin",
      createdAt: now,
      updatedAt: now,
    });
    return clerkMembershipEvent(type, membership, now);
  }
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

function isEventType(value: string): value is SendEventType {
  return TYPES.includes(value);
}

function isMembershipType(type: SendEventType): type is ClerkMembershipEventType {
  return type.startsWith("organizationMembership.");
}

/** Whether `url` names this machine: localhost, ::1 or an address in 127.0.0.0/8. */
export function isLoopbackUrl(url: URL): boolean {
  // The URL parser has already turned every IPv4 spelling (127.1, 0x7f.0.0.1, 2130706433) into
  // dotted decimal and every IPv6 one into its shortest form.
  const host = url.hostname;
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** What the event would do to what it names on a function that accepts it as genuine. */
export function remoteEffect(
  type: SendEventType,
  userId: string,
  orgId = EXAMPLE_ORG_ID,
): string {
  let what: string;
  if (type === "user.deleted") {
    what =
      "delete that user's profile and tombstone the id for good: no later event, backfill or " +
      "reconcile brings the user back";
  } else if (type === "user.created" || type === "user.updated") {
    what = "create or overwrite that user's profile with made-up data (Example Example, " +
      "example@example.org) dated now, newer than Clerk's, so reconcile sees nothing to repair";
  } else if (type === "organization.deleted") {
    what = "delete that organization and all its memberships and tombstone the id for good: no " +
      "later event brings it back";
  } else if (type === "organization.created" || type === "organization.updated") {
    what = "create or overwrite that organization with made-up data (Acme) dated now, newer " +
      "than Clerk's";
  } else if (type === "organizationMembership.deleted") {
    what = "remove that user from that organization for good: no later event of that " +
      "membership brings it back";
  } else {
    what = "create or overwrite that user's membership of that organization with made-up data " +
      "dated now (and create the organization if it is missing)";
  }
  return logLine`${type} for ${subjectOf(type, userId, orgId)} is made up and signed with the ` +
    `real secret: the function would ${what}.`;
}

// What an event names: the user, the organization, or the user in the organization.
function subjectOf(type: SendEventType, userId: string, orgId: string): string {
  if (type.startsWith("organization.")) return orgId;
  return isMembershipType(type) ? `${userId} in ${orgId}` : userId;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      allowPositionals: true,
      options: {
        "user-id": { type: "string" },
        "org-id": { type: "string" },
        role: { type: "string" },
        url: { type: "string" },
        "svix-id": { type: "string" },
        "allow-remote": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    console.error(`${printable(error instanceof Error ? error.message : error)}\n${USAGE}`);
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
  const userId = values["user-id"] ?? EXAMPLE_USER_ID;
  const orgId = values["org-id"] ?? EXAMPLE_ORG_ID;
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    console.error(logLine`not a URL (from ${urlSource}): ${url}`);
    return 2;
  }
  if (!isLoopbackUrl(target) && !values["allow-remote"]) {
    console.error(logLine`refusing to send to ${url} (from ${urlSource}): not this machine.`);
    console.error(remoteEffect(type, userId, orgId));
    console.error("Pass --allow-remote to send it anyway.");
    return 2;
  }

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

  const msgId = values["svix-id"] ?? clerkId("msg");
  const body = JSON.stringify(exampleEvent(type, { userId, orgId, role: values.role }));
  let request: Request;
  try {
    request = signedRequest(url, secret, body, { msgId });
  } catch (error) {
    console.error(logLine`cannot sign: ${error instanceof Error ? error.message : error}`);
    return 2;
  }
  console.log(logLine`POST ${url} (${urlSource})`);
  console.log(logLine`${type} for ${subjectOf(type, userId, orgId)}, svix-id ${msgId}`);
  let response: Response;
  try {
    response = await fetch(request, { signal: AbortSignal.timeout(20_000) });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error
      ? ` (${error.cause.message})`
      : "";
    console.error(
      logLine`request failed: ${error instanceof Error ? error.message : error}${cause}`,
    );
    console.error(
      urlSource === "npm run dev"
        ? logLine`the URL came from ${statePath}: is npm run dev still running? (delete it if not)`
        : "is the function running (npm run dev, or supabase functions serve)?",
    );
    return 1;
  }
  const text = await response.text();
  console.log(logLine`${response.status} ${response.statusText}`);
  console.log(printable(text));
  if (response.status === 401) {
    console.error("the signature was refused: is CLERK_WEBHOOK_SECRET the function's secret?");
  }
  return response.ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
