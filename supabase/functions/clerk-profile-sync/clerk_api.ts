import { createClerkClient } from "@clerk/backend";
import type { ClerkUserJson } from "../_shared/clerk_user.ts";
import { ConfigError } from "../_shared/errors.ts";
import {
  ClerkRateLimitError,
  ClerkResponseError,
  ClerkUnavailableError,
  UserNotFoundError,
} from "./errors.ts";

/** The two Backend API calls of this function. */
export interface ClerkApi {
  /** `GET /v1/users/{id}`: the user object as Clerk's JSON; throws the typed errors. */
  getUser(userId: string): Promise<ClerkUserJson>;
  /** `GET /v1/jwks`: the instance's public keys; throws the typed errors. */
  getJwks(): Promise<unknown[]>;
}

/** Options of {@linkcode createClerkApi}. */
export interface ClerkApiOptions {
  secretKey: string;
  apiUrl: string;
  /** Give up on a call after this long: 503 (the SDK's fetch takes no signal; it runs on). */
  timeoutMs: number;
}

/** Give up on a Backend API call after this long, by default. */
export const CLERK_TIMEOUT_MS = 10_000;

/** The Backend API through `@clerk/backend`'s `createClerkClient`. */
export function createClerkApi(options: ClerkApiOptions): ClerkApi {
  const clerk = createClerkClient({
    secretKey: options.secretKey,
    apiUrl: options.apiUrl,
    telemetry: { disabled: true },
  });
  return {
    async getUser(userId) {
      const user = await call(
        `GET /v1/users/${userId}`,
        options.timeoutMs,
        () => clerk.users.getUser(userId),
      );
      const raw = user.raw as ClerkUserJson | null;
      if (!raw || typeof raw !== "object") {
        throw new ClerkResponseError("Clerk's Backend API answered a user without its JSON");
      }
      return raw;
    },
    async getJwks() {
      const jwks = await call("GET /v1/jwks", options.timeoutMs, () => clerk.jwks.getJwks());
      const keys = (jwks as { keys?: unknown } | null)?.keys;
      if (!Array.isArray(keys)) {
        throw new ClerkResponseError("Clerk's Backend API answered a JWKS without keys");
      }
      return keys;
    },
  };
}

/** The Backend API version `@clerk/backend` 3.25 sends (its SUPPORTED_BAPI_VERSION). */
export const CLERK_API_VERSION = "2026-05-12";

/**
 * `GET /v1/jwks` with `fetch`, not the SDK: its request takes no signal, and the caller's deadline
 * must end the request, not only stop waiting for it. Returns the `keys` array; throws the typed
 * errors of {@linkcode clerkFailure}.
 */
export async function fetchJwks(
  apiUrl: string,
  secretKey: string,
  signal: AbortSignal,
): Promise<unknown[]> {
  const what = "GET /v1/jwks";
  const url = new URL(apiUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/v1/jwks`;
  let res: Response;
  let body: unknown;
  try {
    res = await fetch(url, {
      headers: {
        Authorization: `Bearer ${secretKey}`,
        "Clerk-API-Version": CLERK_API_VERSION,
        Accept: "application/json",
      },
      signal,
    });
    body = await res.json().catch(() => null);
  } catch (error) {
    throw clerkFailure(error, what);
  }
  if (!res.ok) {
    const header = res.headers.get("retry-after");
    const seconds = header === null ? NaN : Number(header);
    const failure = Object.assign(new Error(res.statusText || "no error body"), {
      status: res.status,
      errors: (body as { errors?: unknown } | null)?.errors,
      retryAfter: Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined,
    });
    throw clerkFailure(failure, what);
  }
  const keys = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) {
    throw new ClerkResponseError("Clerk's Backend API answered a JWKS without keys");
  }
  return keys;
}

/**
 * The typed error for a failure of `@clerk/backend`: it throws `ClerkAPIResponseError` with the
 * answer's `status` (and `retryAfter`, seconds, on 429), and the same class WITHOUT a status when
 * the request never got an answer (`errors[0].code === "unexpected_error"`). That one is Clerk
 * being unreachable, never a 404.
 */
export function clerkFailure(error: unknown, what: string): Error {
  const status = (error as { status?: unknown } | null)?.status;
  const detail = errorDetail(error);
  if (typeof status !== "number") {
    return new ClerkUnavailableError(`Clerk's Backend API unreachable (${what}: ${detail})`);
  }
  if (status === 404) return new UserNotFoundError(`Clerk's Backend API answered 404 (${what})`);
  if (status === 429) {
    const retryAfter = (error as { retryAfter?: unknown }).retryAfter;
    const seconds = typeof retryAfter === "number" && retryAfter >= 0 ? retryAfter : undefined;
    return new ClerkRateLimitError(
      seconds,
      `Clerk's rate limit reached (${what}: 429${
        seconds === undefined ? "" : `, Retry-After ${seconds} s`
      })`,
    );
  }
  if (status === 401 || status === 403) {
    return new ConfigError(
      "CLERK_SECRET_KEY",
      `CLERK_SECRET_KEY was refused by Clerk's Backend API (${what}: ${status} ${detail})`,
    );
  }
  if (status >= 500) {
    return new ClerkUnavailableError(`Clerk's Backend API failed (${what}: ${status} ${detail})`);
  }
  return new ClerkResponseError(`Clerk's Backend API answered ${status} (${what}: ${detail})`);
}

async function call<T>(what: string, timeoutMs: number, request: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ClerkUnavailableError(
            `Clerk's Backend API did not answer within ${timeoutMs} ms (${what})`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([request(), deadline]);
  } catch (error) {
    if (error instanceof ClerkUnavailableError) throw error;
    throw clerkFailure(error, what);
  } finally {
    clearTimeout(timer);
  }
}

// "Not Found (resource_not_found)": the first error's code, never a key or a token.
function errorDetail(error: unknown): string {
  const first = (error as { errors?: { code?: unknown; message?: unknown }[] } | null)?.errors?.[0];
  const code = typeof first?.code === "string" ? first.code : undefined;
  const message = typeof first?.message === "string" ? first.message : undefined;
  if (message && code) return `${message} (${code})`;
  return message ?? code ?? (error instanceof Error ? error.message : String(error));
}
