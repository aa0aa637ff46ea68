import { displayName } from "./clerk_user.ts";
import { type ClerkEvent, parseClerkEvent } from "./clerk_event.ts";
import {
  ConfigError,
  MissingHeaderError,
  PayloadError,
  PayloadTooLargeError,
  SignatureError,
  StoreError,
  StoreUnavailableError,
} from "./errors.ts";
import type { Logger } from "./log.ts";
import type { Outcome, ProfileStore } from "./store.ts";
import { createVerifiers, verifyClerkWebhook } from "./verify.ts";

/** The largest body accepted; Clerk's user events are a few kilobytes. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** What the handler is built from. */
export interface HandlerDeps {
  /** Accepted signing secrets (`whsec_...`). */
  secrets: readonly string[];
  store: ProfileStore;
  log: Logger;
  maxBodyBytes?: number;
}

/** Builds the webhook handler: verify, parse, apply, answer. */
export function createHandler(deps: HandlerDeps): (req: Request) => Promise<Response> {
  const verifiers = createVerifiers(deps.secrets);
  const maxBodyBytes = deps.maxBodyBytes ?? MAX_BODY_BYTES;
  const { log, store } = deps;

  return async function handle(req: Request): Promise<Response> {
    if (req.method !== "POST") {
      log.warn(`Rejected ${req.method} request (405): only POST is accepted`);
      return json(405, { error: "method not allowed" }, { Allow: "POST" });
    }
    let event: ClerkEvent | undefined;
    try {
      const body = await readBody(req, maxBodyBytes);
      const svix = verifyClerkWebhook(body, req.headers, verifiers);
      event = parseClerkEvent(body, svix.id, svix.timestamp);
      if (event.kind === "ignored") {
        log.info(`Webhook received: ${event.type} (ignored: not a user event)`);
        return json(200, { status: "ignored" });
      }
      log.info(`Webhook received: ${event.type} for user: ${event.userId}`);
      if (event.profile) {
        const name = displayName(event.profile);
        log.info(`Syncing profile for ${event.userId}${name ? ` (${name})` : ""}`);
      } else {
        log.info(`Deleting profile for ${event.userId}`);
      }
      const outcome = await store.apply(event);
      log.info(outcomeLine(outcome, event.type, event.userId));
      return json(200, { status: outcome, user_id: event.userId });
    } catch (error) {
      const status = statusOf(error);
      const subject = event?.kind === "user" ? ` ${event.type} for user ${event.userId}` : "";
      const reason = error instanceof Error ? error.message : String(error);
      if (status >= 500) {
        log.error(`Failed to sync${subject} (${status}): ${reason}`);
        return json(status, { error: status === 503 ? "database unavailable" : "internal error" });
      }
      log.warn(`Rejected webhook${subject} (${status}): ${reason}`);
      return json(status, { error: reason });
    }
  };
}

/** A handler for a function whose configuration is invalid: every request gets a 500. */
export function createMisconfiguredHandler(
  error: ConfigError,
  log: Logger,
): (req: Request) => Promise<Response> {
  return function handle(): Promise<Response> {
    log.error(`Failed to handle webhook (500): configuration error in ${error.variable}`);
    return Promise.resolve(json(500, { error: "function is misconfigured" }));
  };
}

// The one place where errors become HTTP statuses. 5xx makes Svix retry the delivery.
function statusOf(error: unknown): number {
  if (error instanceof MissingHeaderError) return 400;
  if (error instanceof SignatureError) return 401;
  if (error instanceof PayloadTooLargeError) return 413;
  if (error instanceof PayloadError) return 422;
  if (error instanceof StoreUnavailableError) return 503;
  if (error instanceof StoreError || error instanceof ConfigError) return 500;
  return 500;
}

function outcomeLine(outcome: Outcome, type: string, userId: string): string {
  switch (outcome) {
    case "applied":
      return `Successfully synced profile for user ${userId}`;
    case "deleted":
      return `Successfully deleted profile for user ${userId}`;
    case "duplicate":
      return `Skipped ${type} for user ${userId}: this delivery was already applied`;
    case "stale":
      return `Skipped ${type} for user ${userId}: stale (newer data or a deletion is stored)`;
  }
}

// Reads at most `limit` bytes, so an oversized body is refused without being buffered whole.
async function readBody(req: Request, limit: number): Promise<string> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > limit) throw new PayloadTooLargeError(`body exceeds ${limit} bytes`);
  if (!req.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new PayloadTooLargeError(`body exceeds ${limit} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}
