import { Webhook } from "svix";
import {
  type Env,
  readPositiveInt,
  readServiceKey,
  readUrl,
  type ServiceKey,
} from "../_shared/env.ts";
import { ConfigError } from "../_shared/errors.ts";

/** The function's validated configuration. */
export interface Config extends ServiceKey {
  /** Every accepted signing secret (`whsec_...`); more than one while rotating. */
  webhookSecrets: string[];
  supabaseUrl: string;
  /** Abort a database call after this long (default 8000; Svix gives up after 15 s). */
  dbTimeoutMs: number;
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
