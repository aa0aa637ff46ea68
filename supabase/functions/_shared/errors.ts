/** Which event a {@linkcode PayloadError} is about, when that much could be read. */
export interface PayloadSubject {
  eventType: string;
  /** The user's id, when it is present and printable. */
  userId?: string;
}

/** An authentic body that is not a usable Clerk event (422). */
export class PayloadError extends Error {
  override name = "PayloadError";

  constructor(message: string, readonly subject?: PayloadSubject) {
    super(message);
  }
}

/** A required environment variable is missing or malformed (500). */
export class ConfigError extends Error {
  override name = "ConfigError";

  /** `variable`: the variable at fault (or both names, when two conflict). */
  constructor(readonly variable: string, message: string) {
    super(message);
  }
}

/** Why a write failed for good: the key was refused, or the database answered with an error. */
export type StoreErrorReason = "rejected_key" | "database";

/** What PostgREST answered a refused call with: the SQLSTATE (or PGRST code) and its message. */
export interface DatabaseAnswer {
  code: string;
  message: string;
}

/** The database refused the write (500: Svix retries it). */
export class StoreError extends Error {
  override name = "StoreError";

  /** `answer`: PostgREST's code and message, when the database answered with an error. */
  constructor(
    readonly reason: StoreErrorReason,
    message: string,
    readonly answer: DatabaseAnswer | null = null,
  ) {
    super(message);
  }
}

/** The database could not be reached in time (503: Svix retries it). */
export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
}
