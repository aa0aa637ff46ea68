/** The request carries no bearer token, or its session token fails verification (401). */
export class AuthError extends Error {
  override name = "AuthError";

  /** `reason`: `@clerk/backend`'s (`token-expired`, ...), or `token-missing`. */
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

/** The request's `Origin` is not in PROFILE_SYNC_ALLOWED_ORIGINS (403). */
export class OriginError extends Error {
  override name = "OriginError";
}

/** Clerk's Backend API has no such user (its 404; answered 410, nothing written). */
export class UserNotFoundError extends Error {
  override name = "UserNotFoundError";
}

/** Clerk's Backend API answered 429 (503, its `Retry-After` passed on). */
export class ClerkRateLimitError extends Error {
  override name = "ClerkRateLimitError";

  /** `retryAfterSeconds`: Clerk's `Retry-After`, when it sent one. */
  constructor(readonly retryAfterSeconds: number | undefined, message: string) {
    super(message);
  }
}

/** Clerk's Backend API was unreachable, too slow, or answered 5xx (503). */
export class ClerkUnavailableError extends Error {
  override name = "ClerkUnavailableError";

  /** `retryAfterSeconds`: when the function will ask Clerk again, if it knows (`Retry-After`). */
  constructor(message: string, readonly retryAfterSeconds?: number) {
    super(message);
  }
}

/** Too many requests already wait for Clerk's JWKS (503 with `Retry-After`). */
export class KeysBusyError extends Error {
  override name = "KeysBusyError";

  constructor(readonly retryAfterSeconds: number, message: string) {
    super(message);
  }
}

/** Clerk's Backend API answered something this function cannot use (502). */
export class ClerkResponseError extends Error {
  override name = "ClerkResponseError";
}
