import {
  type Env,
  readPositiveInt,
  readServiceKey,
  readUrl,
  type ServiceKey,
} from "../_shared/env.ts";
import { ConfigError } from "../_shared/errors.ts";
import { type JwtPublicKey, parseJwtKey } from "./jwt_key.ts";

/** Clerk's Backend API, when CLERK_API_URL is unset. */
export const DEFAULT_CLERK_API_URL = "https://api.clerk.com";
/** Seconds a confirmation against Clerk stays fresh, when PROFILE_SYNC_MIN_INTERVAL_S is unset. */
export const DEFAULT_MIN_INTERVAL_S = 60;
/** The largest PROFILE_SYNC_MIN_INTERVAL_S (the SQL parameter is an integer). */
export const MAX_MIN_INTERVAL_S = 2_147_483_647;

/** The function's validated configuration. */
export interface Config extends ServiceKey {
  /** CLERK_SECRET_KEY: calls Clerk's Backend API (and fetches its JWKS without a JWT key). */
  clerkSecretKey: string;
  /** CLERK_JWT_KEY: verifies session tokens without a network call; null when unset. */
  jwtKey: JwtPublicKey | null;
  /** CLERK_API_URL. */
  clerkApiUrl: string;
  /** CLERK_AUTHORIZED_PARTIES: the `azp` values accepted; empty accepts any. */
  authorizedParties: string[];
  /** PROFILE_SYNC_MIN_INTERVAL_S: answer from the database within this many seconds (0: never). */
  minIntervalS: number;
  /** PROFILE_SYNC_ALLOWED_ORIGINS: `*`, or the browser origins that may call the function. */
  allowedOrigins: "*" | string[];
  supabaseUrl: string;
  /** SYNC_DB_TIMEOUT_MS: abort a database call after this long (default 8000). */
  dbTimeoutMs: number;
}

/** Reads and validates the configuration; throws {@linkcode ConfigError} naming the variable. */
export function loadConfig(env: Env): Config {
  return {
    clerkSecretKey: readSecretKey(env),
    jwtKey: readJwtKey(env),
    clerkApiUrl: env.get("CLERK_API_URL")?.trim()
      ? readUrl(env, "CLERK_API_URL")
      : DEFAULT_CLERK_API_URL,
    authorizedParties: readList(env, "CLERK_AUTHORIZED_PARTIES"),
    minIntervalS: readInterval(env),
    allowedOrigins: readOrigins(env),
    supabaseUrl: readUrl(env, "SUPABASE_URL"),
    ...readServiceKey(env),
    dbTimeoutMs: readPositiveInt(env, "SYNC_DB_TIMEOUT_MS", 8000),
  };
}

/** Reads PROFILE_SYNC_ALLOWED_ORIGINS alone, for the CORS headers of a misconfigured function. */
export function readOrigins(env: Env): "*" | string[] {
  const name = "PROFILE_SYNC_ALLOWED_ORIGINS";
  const entries = readList(env, name);
  if (entries.length === 0 || (entries.length === 1 && entries[0] === "*")) return "*";
  entries.forEach((entry, i) => {
    let origin: string | undefined;
    try {
      const url = new URL(entry);
      if (url.protocol === "http:" || url.protocol === "https:") origin = url.origin;
    } catch {
      // Not a URL: refused below.
    }
    if (origin !== entry) {
      throw new ConfigError(
        name,
        `${name} entry ${i + 1} is not an origin like https://app.example.com (scheme, host and ` +
          `port only), nor a lone *`,
      );
    }
  });
  return entries;
}

function readSecretKey(env: Env): string {
  const name = "CLERK_SECRET_KEY";
  const value = env.get(name)?.trim();
  if (!value) {
    throw new ConfigError(name, `${name} is not set (Clerk dashboard → API keys → Secret keys)`);
  }
  if (!/^sk_[A-Za-z0-9_]+$/.test(value)) {
    throw new ConfigError(name, `${name} is not a Clerk secret key (sk_test_... or sk_live_...)`);
  }
  return value;
}

function readJwtKey(env: Env): JwtPublicKey | null {
  const name = "CLERK_JWT_KEY";
  const value = env.get(name)?.trim();
  if (!value) return null;
  const key = parseJwtKey(value);
  if (!key) {
    throw new ConfigError(
      name,
      `${name} is not an RSA 2048 public key PEM (Clerk dashboard → API keys → JWT public key → ` +
        `PEM public key)`,
    );
  }
  return key;
}

function readInterval(env: Env): number {
  const name = "PROFILE_SYNC_MIN_INTERVAL_S";
  const value = env.get(name)?.trim();
  if (!value) return DEFAULT_MIN_INTERVAL_S;
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || seconds > MAX_MIN_INTERVAL_S) {
    throw new ConfigError(name, `${name} must be a whole number of seconds, 0 or more`);
  }
  return seconds;
}

function readList(env: Env, name: string): string[] {
  const entries = (env.get(name) ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (entries.some((entry) => /\s/.test(entry))) {
    throw new ConfigError(name, `${name} must be a comma-separated list without spaces in entries`);
  }
  return entries;
}
