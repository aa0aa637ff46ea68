import { displayName } from "../_shared/clerk_user.ts";
import { type ClerkEvent, parseClerkEvent } from "./clerk_event.ts";
import { ConfigError, PayloadError, StoreError, StoreUnavailableError } from "../_shared/errors.ts";
import { type Logger, logLine } from "../_shared/log.ts";
import {
  BodyTimeoutError,
  EncodingError,
  HeaderError,
  PayloadTooLargeError,
  SignatureError,
} from "./errors.ts";
import type { Outcome, ProfileStore } from "./store.ts";
import { createVerifiers, readSvixHeaders, verifyClerkWebhook } from "./verify.ts";

/** The largest body accepted: Clerk's user events are a few KB (metadata is capped at 8 KB). */
export const MAX_BODY_BYTES = 256 * 1024;
/** How long the whole body may take to arrive before the request is answered 408. */
export const BODY_TIMEOUT_MS = 10_000;

/** What the handler is built from. */
export interface HandlerDeps {
  /** Accepted signing secrets (`whsec_...`). */
  secrets: readonly string[];
  store: ProfileStore;
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
        log.info(logLine`Webhook received: ${event.type} (ignored: not a user event)`);
        return json(200, { status: "ignored" });
      }
      log.info(logLine`Webhook received: ${event.type} for user: ${event.userId}`);
      if (event.profile) {
        const name = displayName(event.profile);
        log.info(
          name
            ? logLine`Syncing profile for ${event.userId} (${name})`
            : logLine`Syncing profile for ${event.userId}`,
        );
      } else {
        log.info(logLine`Deleting profile for ${event.userId}`);
      }
      const outcome = await store.apply(event);
      log.info(outcomeLine(outcome, event.type, event.userId));
      return json(200, { status: outcome, user_id: event.userId });
    } catch (error) {
      const status = statusOf(error);
      const subject = subjectOf(event, error);
      const reason = error instanceof Error ? error.message : String(error);
      if (status >= 500) {
        log.error(logLine`Failed to sync${subject} (${status}): ${reason}`);
        return json(status, { error: status === 503 ? "database unavailable" : "internal error" });
      }
      log.warn(logLine`Rejected webhook${subject} (${status}): ${reason}`);
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
    log.error(logLine`Failed to handle webhook (500): configuration error in ${error.variable}`);
    return Promise.resolve(json(500, { error: "function is misconfigured" }));
  };
}

// The one place where errors become HTTP statuses. 5xx makes Svix retry the delivery (Svix
// retries any non-2xx answer; 4xx says the delivery itself is at fault).
function statusOf(error: unknown): number {
  if (error instanceof HeaderError || error instanceof EncodingError) return 400;
  if (error instanceof SignatureError) return 401;
  if (error instanceof BodyTimeoutError) return 408;
  if (error instanceof PayloadTooLargeError) return 413;
  if (error instanceof PayloadError) return 422;
  if (error instanceof StoreUnavailableError) return 503;
  if (error instanceof StoreError || error instanceof ConfigError) return 500;
  return 500;
}

// " user.updated for user user_1" for a log line, from the parsed event or the refusal.
function subjectOf(event: ClerkEvent | undefined, error: unknown): string {
  if (event?.kind === "user") return ` ${event.type} for user ${event.userId}`;
  const subject = error instanceof PayloadError ? error.subject : undefined;
  if (!subject) return "";
  return subject.userId
    ? ` ${subject.eventType} for user ${subject.userId}`
    : ` ${subject.eventType}`;
}

function outcomeLine(outcome: Outcome, type: string, userId: string): string {
  switch (outcome) {
    case "applied":
      return logLine`Successfully synced profile for user ${userId}`;
    case "deleted":
      return logLine`Successfully deleted profile for user ${userId}`;
    case "duplicate":
      return logLine`Skipped ${type} for user ${userId}: this delivery was already applied`;
    case "stale":
      return logLine`Skipped ${type} for user ${userId}: stale (newer data or a deletion is stored)`;
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
