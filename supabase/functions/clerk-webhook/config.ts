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
  };
}

/** The variables a signing secret is read from: this project's name, and Clerk's guide's. */
export const SECRET_VARIABLES = ["CLERK_WEBHOOK_SECRET", "CLERK_WEBHOOK_SIGNING_SECRET"] as const;
/** The fewest bytes a signing secret may decode to (Svix generates 24; Standard Webhooks: ≥ 24). */
export const MIN_SECRET_BYTES = 24;

function readWebhookSecrets(env: Env): string[] {
  const [name, alias] = SECRET_VARIABLES;
  const lists = SECRET_VARIABLES
    .map((variable) => ({ variable, secrets: splitSecrets(env.get(variable)) }))
    .filter((list) => list.secrets.length > 0);
  if (lists.length === 0) {
    throw new ConfigError(
      name,
      `${name} is not set, nor ${alias} (Clerk dashboard → Webhooks → Signing Secret)`,
    );
  }
  for (const { variable, secrets } of lists) checkSecrets(variable, secrets);
  if (lists.length === 2 && lists[0].secrets.join(" ") !== lists[1].secrets.join(" ")) {
    throw new ConfigError(
      `${name} and ${alias}`,
      `${name} and ${alias} are both set, to different secrets: set only one of them`,
    );
  }
  return lists[0].secrets;
}

function splitSecrets(value: string | undefined): string[] {
  return (value ?? "").split(/[\s,]+/).filter((s) => s !== "");
}

function checkSecrets(name: string, secrets: string[]): void {
  secrets.forEach((secret, i) => {
    const entry = `${name} entry ${i + 1}`;
    const invalid = new ConfigError(name, `${entry} is not a valid whsec_ signing secret`);
    // svix accepts some malformed secrets silently; every delivery would then fail with 401.
    if (!/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret)) throw invalid;
    let bytes: number;
    try {
      new Webhook(secret);
      bytes = atob(secret.slice("whsec_".length)).length;
    } catch {
      throw invalid;
    }
    // svix takes a 1-byte key (`whsec_AA==`) as readily as a real one: refuse what no
    // Clerk endpoint generates, so a placeholder cannot become a guessable secret.
    if (bytes < MIN_SECRET_BYTES) {
      throw new ConfigError(
        name,
        `${entry} is too short: a signing secret decodes to at least ${MIN_SECRET_BYTES} bytes`,
      );
    }
  });
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
