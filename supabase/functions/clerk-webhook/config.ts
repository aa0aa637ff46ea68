import { Webhook } from "svix";
import { isRecord } from "./clerk_user.ts";
import { ConfigError } from "./errors.ts";

/** The function's validated configuration. */
export interface Config {
  /** Every accepted signing secret (`whsec_...`); more than one while rotating. */
  webhookSecrets: string[];
  supabaseUrl: string;
  /** The service-role key: a legacy JWT or a `sb_secret_...` key. */
  serviceKey: string;
  /** Where the key came from, for log lines (never the key itself). */
  serviceKeySource: "SUPABASE_SECRET_KEYS" | "SUPABASE_SERVICE_ROLE_KEY";
  /** Abort a database call after this long (default 8000; Svix gives up after 15 s). */
  dbTimeoutMs: number;
  /** Port for local runs; the edge runtime ignores it. */
  port: number;
}

/** Read access to environment variables (Deno.env in production, a Map in tests). */
export interface Env {
  get(name: string): string | undefined;
}

/** Reads and validates the configuration; throws {@linkcode ConfigError} naming the variable. */
export function loadConfig(env: Env): Config {
  return {
    webhookSecrets: readWebhookSecrets(env),
    supabaseUrl: readUrl(env, "SUPABASE_URL"),
    ...readServiceKey(env),
    dbTimeoutMs: readPositiveInt(env, "SYNC_DB_TIMEOUT_MS", 8000),
    port: readPositiveInt(env, "PORT", 8000),
  };
}

function readWebhookSecrets(env: Env): string[] {
  const name = "CLERK_WEBHOOK_SECRET";
  const secrets = (env.get(name) ?? "").split(/[\s,]+/).filter((s) => s !== "");
  if (secrets.length === 0) {
    throw new ConfigError(name, `${name} is not set (Clerk dashboard → Webhooks → Signing Secret)`);
  }
  secrets.forEach((secret, i) => {
    const invalid = new ConfigError(
      name,
      `${name} entry ${i + 1} is not a valid whsec_ signing secret`,
    );
    // svix accepts some malformed secrets silently; every delivery would then fail with 401.
    if (!/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret)) throw invalid;
    try {
      new Webhook(secret);
    } catch {
      throw invalid;
    }
  });
  return secrets;
}

/** Reads the service key and its source; throws {@linkcode ConfigError} naming the variable. */
export function readServiceKey(env: Env): Pick<Config, "serviceKey" | "serviceKeySource"> {
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

function readUrl(env: Env, name: string): string {
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

function readPositiveInt(env: Env, name: string, fallback: number): number {
  const value = env.get(name)?.trim();
  if (!value) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0) {
    throw new ConfigError(name, `${name} must be a positive integer`);
  }
  return number;
}
