import { displayName } from "../_shared/clerk_user.ts";
import {
  type ClampedTime,
  type ClerkEvent,
  parseClerkEvent,
  type SyncEvent,
} from "./clerk_event.ts";
import { ConfigError, PayloadError, StoreError, StoreUnavailableError } from "../_shared/errors.ts";
import { type Logger, logLine } from "../_shared/log.ts";
import {
  BodyTimeoutError,
  EncodingError,
  HeaderError,
  InstanceMismatchError,
  MembershipConflictError,
  OrganizationPayloadError,
  PayloadTooLargeError,
  SignatureError,
} from "./errors.ts";
import type { Outcome, WebhookStore } from "./store.ts";
import {
  createVerifiers,
  readSvixHeaders,
  TIMESTAMP_TOLERANCE_SECONDS,
  verifyClerkWebhook,
} from "./verify.ts";

/**
 * The largest body accepted: Clerk's user, organization and membership events are a few KB
 * (metadata is capped at 8 KB).
 */
export const MAX_BODY_BYTES = 256 * 1024;
/** How long the whole body may take to arrive before the request is answered 408. */
export const BODY_TIMEOUT_MS = 10_000;

/** What the handler is built from. */
export interface HandlerDeps {
  /** Accepted signing secrets (`whsec_...`). */
  secrets: readonly string[];
  store: WebhookStore;
  log: Logger;
  /** Default {@linkcode MAX_BODY_BYTES}. */
  maxBodyBytes?: number;
  /** Default {@linkcode BODY_TIMEOUT_MS}. */
  bodyTimeoutMs?: number;
}

/** Builds the webhook handler: check headers, read the body, verify, parse, apply, answer. */
export function createHandler(deps: HandlerDeps): (req: Request) => Promise<Response> {
  const verifiers = createVerifiers(deps.secrets);
  const maxBodyBytes = deps.maxBodyBytes ?? MAX_BODY_BYTES;
  const bodyTimeoutMs = deps.bodyTimeoutMs ?? BODY_TIMEOUT_MS;
  const { log, store } = deps;

  return async function handle(req: Request): Promise<Response> {
    if (req.method !== "POST") {
      log.warn(logLine`Rejected ${req.method} request (405): only POST is accepted`);
      return json(405, { error: "method not allowed" }, { Allow: "POST" });
    }
    let event: ClerkEvent | undefined;
    try {
      // Everything that can be refused without the body is refused before reading it.
      const svix = readSvixHeaders(req.headers);
      const bytes = await readBody(req, maxBodyBytes, bodyTimeoutMs);
      const { body } = verifyClerkWebhook(bytes, svix, verifiers);
      event = parseClerkEvent(body, svix.id, svix.timestamp);
      if (event.kind === "ignored") {
        log.info(
          logLine`Webhook received: ${event.type} (ignored: not an event this function syncs)`,
        );
        return json(200, { status: "ignored" });
      }
      log.info(receivedLine(event));
      for (const time of event.clamped) log.warn(clampedLine(time, event));
      log.info(actionLine(event));
      const outcome = await store.apply(event);
      log.info(outcomeLine(outcome, event));
      return json(200, answer(outcome, event));
    } catch (error) {
      const status = statusOf(error);
      const subject = subjectOf(event, error);
      const reason = error instanceof Error ? error.message : String(error);
      if (status >= 500) {
        log.error(logLine`Failed to sync${subject} (${status}): ${reason}`);
        return json(status, { error: status === 503 ? "database unavailable" : "internal error" });
      }
      const line = logLine`Rejected webhook${subject} (${status}): ${reason}`;
      // The operator must act on this one: the endpoint or the database is set up wrong.
      if (error instanceof InstanceMismatchError) log.error(line);
      else log.warn(line);
      return json(status, refusalBody(error, reason), deliveryControl(error));
    }
  };
}

/** A handler for a function whose configuration is invalid: every request gets a 500. */
export function createMisconfiguredHandler(
  error: ConfigError,
  log: Logger,
): (req: Request) => Promise<Response> {
  return function handle(): Promise<Response> {
    log.error(logLine`Failed to handle webhook (500): configuration error in ${error.variable}`);
    return Promise.resolve(json(500, { error: "function is misconfigured" }));
  };
}

// The one place where errors become HTTP statuses. 5xx makes Svix retry the delivery (Svix
// retries any non-2xx answer; 4xx says the delivery itself is at fault). 409: the event conflicts
// with what the database holds (another Clerk instance recorded; a membership id stored for
// another organization or user).
function statusOf(error: unknown): number {
  if (error instanceof HeaderError || error instanceof EncodingError) return 400;
  if (error instanceof SignatureError) return 401;
  if (error instanceof BodyTimeoutError) return 408;
  if (error instanceof InstanceMismatchError || error instanceof MembershipConflictError) {
    return 409;
  }
  if (error instanceof PayloadTooLargeError) return 413;
  if (error instanceof PayloadError) return 422;
  if (error instanceof StoreUnavailableError) return 503;
  if (error instanceof StoreError || error instanceof ConfigError) return 500;
  return 500;
}

// Svix's delivery control (docs.svix.com/receiving/delivery-control): `webhook-delivery:
// abort-message` stops the retries of this message, which is then shown as failed at once. Only
// for a refusal no retry can change. An event of another instance is retried: once the database
// is moved to that instance (clerk_sync.move_to_clerk_instance), the retries apply.
function deliveryControl(error: unknown): Record<string, string> {
  return error instanceof MembershipConflictError ? { "webhook-delivery": "abort-message" } : {};
}

// The body of a 4xx: the reason, and the ids it is about, for Svix's dashboard.
function refusalBody(error: unknown, reason: string): Record<string, string> {
  if (error instanceof InstanceMismatchError) {
    return {
      error: reason,
      recorded_instance_id: error.recordedInstanceId,
      event_instance_id: error.eventInstanceId,
    };
  }
  if (error instanceof MembershipConflictError) {
    return { error: reason, membership_id: error.membershipId };
  }
  return { error: reason };
}

// " user.updated for user user_1" for a log line, from the parsed event or the refusal.
function subjectOf(event: ClerkEvent | undefined, error: unknown): string {
  if (event && event.kind !== "ignored") return ` ${event.type} for ${subjectText(event)}`;
  if (error instanceof OrganizationPayloadError) {
    const { eventType, orgId, userId } = error;
    if (orgId) return ` ${eventType} for organization ${orgId}${userId ? ` user ${userId}` : ""}`;
    return userId ? ` ${eventType} for user ${userId}` : ` ${eventType}`;
  }
  const subject = error instanceof PayloadError ? error.subject : undefined;
  if (!subject) return "";
  return subject.userId
    ? ` ${subject.eventType} for user ${subject.userId}`
    : ` ${subject.eventType}`;
}

// "user user_1", "organization org_1", "organization org_1 user user_1".
function subjectText(event: SyncEvent): string {
  switch (event.kind) {
    case "user":
      return `user ${event.userId}`;
    case "organization":
      return `organization ${event.orgId}`;
    case "membership":
      return `organization ${event.orgId} user ${event.userId}`;
  }
}

function receivedLine(event: SyncEvent): string {
  switch (event.kind) {
    case "user":
      return logLine`Webhook received: ${event.type} for user: ${event.userId}`;
    case "organization":
      return logLine`Webhook received: ${event.type} for organization: ${event.orgId}`;
    case "membership":
      return logLine`Webhook received: ${event.type} for organization: ${event.orgId} user: ${event.userId}`;
  }
}

// What is about to be written: "Syncing profile for user_1 (Ada Lovelace)", "Deleting ...".
function actionLine(event: SyncEvent): string {
  switch (event.kind) {
    case "user": {
      if (!event.profile) return logLine`Deleting profile for ${event.userId}`;
      const name = displayName(event.profile);
      return name
        ? logLine`Syncing profile for ${event.userId} (${name})`
        : logLine`Syncing profile for ${event.userId}`;
    }
    case "organization": {
      if (!event.organization) return logLine`Deleting organization ${event.orgId}`;
      const name = event.organization.name;
      return name
        ? logLine`Syncing organization ${event.orgId} (${name})`
        : logLine`Syncing organization ${event.orgId}`;
    }
    case "membership":
      return event.type === "organizationMembership.deleted"
        ? logLine`Deleting membership of ${event.userId} in ${event.orgId}`
        : logLine`Syncing membership of ${event.userId} in ${event.orgId} (${event.membership.role})`;
  }
}

function outcomeLine(outcome: Outcome, event: SyncEvent): string {
  const what = event.kind === "user"
    ? logLine`profile for user ${event.userId}`
    : event.kind === "organization"
    ? logLine`organization ${event.orgId}`
    : logLine`membership of ${event.userId} in ${event.orgId}`;
  const skipped = logLine`Skipped ${event.type} for ${subjectText(event)}`;
  switch (outcome) {
    case "applied":
      return `Successfully synced ${what}`;
    case "deleted":
      return `Successfully deleted ${what}`;
    case "duplicate":
      return `${skipped}: this delivery was already applied`;
    case "stale":
      return `${skipped}: stale (${staleReason(event)})`;
  }
}

// Why an event changed nothing. A deletion that removed no row and recorded nothing new: the
// deletion was recorded before, or (a membership) the stored one was created after this removal.
function staleReason(event: SyncEvent): string {
  if (event.type === "organizationMembership.deleted") {
    return "nothing was removed: the stored membership was created after this removal, " +
      "the removal was already recorded, or the organization or user is deleted";
  }
  if (event.type === "user.deleted" || event.type === "organization.deleted") {
    return "nothing was removed: the deletion was already recorded";
  }
  return "newer data or a deletion is stored";
}

// A time that said later than the delivery was signed, and what orders the event instead.
function clampedLine(time: ClampedTime, event: SyncEvent): string {
  return logLine`Clamped ${time.field} of ${event.type} for ${
    subjectText(event)
  }: ${time.sent} is later than the delivery was signed (svix-timestamp + ${TIMESTAMP_TOLERANCE_SECONDS} s); ordered at ${time.stored}`;
}

// The answer names the event's subjects: the user, the organization, or both for a membership.
function answer(outcome: Outcome, event: SyncEvent): Record<string, string> {
  switch (event.kind) {
    case "user":
      return { status: outcome, user_id: event.userId };
    case "organization":
      return { status: outcome, org_id: event.orgId };
    case "membership":
      return { status: outcome, org_id: event.orgId, user_id: event.userId };
  }
}

// Reads at most `limit` bytes within `timeoutMs`: an oversized body is refused as soon as it is
// known to be (declared, or once the bytes pass the limit), a stalled one when time runs out.
async function readBody(req: Request, limit: number, timeoutMs: number): Promise<Uint8Array> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > limit) throw new PayloadTooLargeError(`body exceeds ${limit} bytes`);
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  // When time runs out the read is cancelled, which ends the pending read() as if the body ended.
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    reader.cancel().catch(() => {});
  }, timeoutMs);
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (timedOut) throw new BodyTimeoutError(`body not received within ${timeoutMs} ms`);
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        reader.cancel().catch(() => {});
        throw new PayloadTooLargeError(`body exceeds ${limit} bytes`);
      }
      chunks.push(value);
    }
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}
