import { isRecord } from "./clerk_user.ts";
import { ConfigError } from "./errors.ts";

/** Read access to environment variables (Deno.env in production, a Map in tests). */
export interface Env {
  get(name: string): string | undefined;
}

/** The service-role key and the variable it came from (for log lines; never the key itself). */
export interface ServiceKey {
  /** A legacy service_role JWT or a `sb_secret_...` key. */
  serviceKey: string;
  serviceKeySource: "SUPABASE_SECRET_KEYS" | "SUPABASE_SERVICE_ROLE_KEY";
}

/** Reads the service key and its source; throws {@linkcode ConfigError} naming the variable. */
export function readServiceKey(env: Env): ServiceKey {
  // Projects on the newer API keys get SUPABASE_SECRET_KEYS ({"default": "sb_secret_..."}); the
  // legacy service_role JWT stays in SUPABASE_SERVICE_ROLE_KEY. Prefer the newer key when present.
  const json = env.get("SUPABASE_SECRET_KEYS")?.trim();
  if (json) {
    let keys: unknown;
    try {
      keys = JSON.parse(json);
    } catch {
      throw new ConfigError("SUPABASE_SECRET_KEYS", "SUPABASE_SECRET_KEYS is not a JSON object");
    }
    const key = isRecord(keys) ? keys.default ?? Object.values(keys)[0] : undefined;
    if (typeof key !== "string" || key === "") {
      throw new ConfigError(
        "SUPABASE_SECRET_KEYS",
        'SUPABASE_SECRET_KEYS has no key (expected {"default":"sb_secret_..."})',
      );
    }
    return { serviceKey: key, serviceKeySource: "SUPABASE_SECRET_KEYS" };
  }
  const key = env.get("SUPABASE_SERVICE_ROLE_KEY")?.trim();
  if (!key) {
    throw new ConfigError(
      "SUPABASE_SERVICE_ROLE_KEY",
      "SUPABASE_SERVICE_ROLE_KEY is not set (nor SUPABASE_SECRET_KEYS)",
    );
  }
  return { serviceKey: key, serviceKeySource: "SUPABASE_SERVICE_ROLE_KEY" };
}

/** Reads an http(s) URL; throws {@linkcode ConfigError} naming the variable. */
export function readUrl(env: Env, name: string): string {
  const value = env.get(name)?.trim();
  if (!value) throw new ConfigError(name, `${name} is not set`);
  try {
    const url = new URL(value);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error();
  } catch {
    throw new ConfigError(name, `${name} is not an http(s) URL`);
  }
  return value;
}

/** Reads a positive integer, or `fallback` when unset; throws {@linkcode ConfigError} when bad. */
export function readPositiveInt(env: Env, name: string, fallback: number): number {
  const value = env.get(name)?.trim();
  if (!value) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0) {
    throw new ConfigError(name, `${name} must be a positive integer`);
  }
  return number;
}
