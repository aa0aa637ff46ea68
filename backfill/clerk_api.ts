/**
 * Clerk's Backend API over fetch, with the headers `@clerk/backend` 3.25 sends (Bearer secret key,
 * `Clerk-API-Version: 2026-05-12`), for the listings the backfill reads. The SDK's `getUserList`
 * has no `startingAfter` and asks `/v1/users/count` with every page, so the backfill calls the
 * endpoints itself. Errors are {@linkcode ClerkApiError}s with what the SDK's
 * `ClerkAPIResponseError` carries (status, Clerk's errors, trace id, `Retry-After`).
 */

/** The Backend API version of Clerk's spec `bapi/2026-05-12.yml`, as `@clerk/backend` 3.25 sends it. */
export const CLERK_API_VERSION = "2026-05-12";

/** Clerk's Backend API unless `CLERK_API_URL` says otherwise. */
export const DEFAULT_CLERK_API_URL = "https://api.clerk.com";

/** How long one request may take before it counts as a network failure (and is retried). */
export const REQUEST_TIMEOUT_MS = 60_000;

/** One entry of Clerk's `{"errors": [...]}` (the spec's `ClerkError`). */
export interface ClerkErrorEntry {
  code: string;
  message: string;
  longMessage: string;
  meta?: Record<string, unknown>;
}

/** A failed Backend API call: Clerk's answer (status undefined: no answer at all). */
export class ClerkApiError extends Error {
  override name = "ClerkApiError";

  constructor(
    readonly path: string,
    readonly status: number | undefined,
    readonly errors: ClerkErrorEntry[],
    readonly clerkTraceId: string | null,
    /** Seconds, from `Retry-After` (429). */
    readonly retryAfter: number | undefined,
  ) {
    const first = errors[0];
    super(
      `GET ${path}: ${status === undefined ? "no answer" : `HTTP ${status}`}` +
        (first ? `: ${first.longMessage || first.message} (${first.code})` : ""),
    );
  }

  /** The first error's code, e.g. `clerk_key_invalid`. */
  get code(): string | undefined {
    return this.errors[0]?.code;
  }
}

/** A query: repeated values as arrays; undefined values are left out. */
export type Query = Record<string, string | number | string[] | undefined>;

/** GET requests to the Backend API. */
export interface ClerkApi {
  /** The parsed JSON of a 2xx answer; throws {@linkcode ClerkApiError} otherwise. */
  get(path: string, query?: Query): Promise<unknown>;
}

/** Options of {@linkcode createClerkApi}. */
export interface ClerkApiOptions {
  secretKey: string;
  /** Default {@linkcode DEFAULT_CLERK_API_URL}. */
  apiUrl?: string;
  /** Default globalThis.fetch (the benchmark times requests through it). */
  fetch?: typeof fetch;
  /** Default {@linkcode REQUEST_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** A client of `<apiUrl>/v1`. */
export function createClerkApi(options: ClerkApiOptions): ClerkApi {
  const base = (options.apiUrl ?? DEFAULT_CLERK_API_URL).replace(/\/+$/, "");
  const fetcher = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
  const headers = {
    Authorization: `Bearer ${options.secretKey}`,
    "Clerk-API-Version": CLERK_API_VERSION,
    "User-Agent": "clerk-supabase-sync-backfill",
    Accept: "application/json",
  };
  return {
    async get(path, query = {}) {
      const url = new URL(`${base}/v1${path}`);
      for (const [key, value] of Object.entries(query)) {
        if (value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) {
          url.searchParams.append(key, String(v));
        }
      }
      let response: Response;
      let body: string;
      try {
        response = await fetcher(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
        body = await response.text();
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new ClerkApiError(
          path,
          undefined,
          [{
            code: "unexpected_error",
            message,
            longMessage: `Clerk unreachable: ${message}`,
          }],
          null,
          undefined,
        );
      }
      const parsed = parseJson(body);
      if (response.ok) {
        if (parsed === undefined) {
          throw new ClerkApiError(
            path,
            response.status,
            [{
              code: "unexpected_response",
              message: "the answer is not JSON",
              longMessage: "the answer is not JSON",
            }],
            null,
            undefined,
          );
        }
        return parsed;
      }
      throw new ClerkApiError(
        path,
        response.status,
        clerkErrors(parsed, response.statusText),
        traceId(parsed, response.headers),
        retryAfter(response.headers),
      );
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// Clerk's `{"errors":[{"code","message","long_message","meta"}]}`, or one entry for anything else.
function clerkErrors(body: unknown, statusText: string): ClerkErrorEntry[] {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) {
    return [{ code: "unexpected_response", message: statusText, longMessage: statusText }];
  }
  return errors.map((e) => {
    const { code, message, long_message, meta } = (e ?? {}) as Record<string, unknown>;
    return {
      code: typeof code === "string" ? code : "unknown",
      message: typeof message === "string" ? message : "",
      longMessage: typeof long_message === "string" ? long_message : "",
      ...(typeof meta === "object" && meta !== null
        ? { meta: meta as Record<string, unknown> }
        : {}),
    };
  });
}

function traceId(body: unknown, headers: Headers): string | null {
  const id = (body as { clerk_trace_id?: unknown } | undefined)?.clerk_trace_id;
  return typeof id === "string" ? id : headers.get("cf-ray");
}

// As @clerk/backend's getRetryAfter: whole seconds.
function retryAfter(headers: Headers): number | undefined {
  const value = parseInt(headers.get("Retry-After") ?? "", 10);
  return Number.isNaN(value) ? undefined : value;
}
