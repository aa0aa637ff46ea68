/**
 * The clerk-profile-sync handler over its real dependencies, for the `profile_sync_*` tests: the
 * session verifier and instance check of `@clerk/backend`, the Clerk API stand-in over loopback
 * (users, JWKS, faults), and the store through supabase-js → PostgREST stand-in → the migrated
 * PostgreSQL of scripts/test.ts (DATABASE_URL). Log lines are recorded.
 */
import { createClient } from "@supabase/supabase-js";
import postgres from "postgres";
import type { Logger } from "../../supabase/functions/_shared/log.ts";
import { createClerkApi } from "../../supabase/functions/clerk-profile-sync/clerk_api.ts";
import { createHandler } from "../../supabase/functions/clerk-profile-sync/handler.ts";
import { createInstanceCheck } from "../../supabase/functions/clerk-profile-sync/instance_check.ts";
import { parseJwtKey } from "../../supabase/functions/clerk-profile-sync/jwt_key.ts";
import { createSessionVerifier } from "../../supabase/functions/clerk-profile-sync/session.ts";
import { createSupabaseStore } from "../../supabase/functions/clerk-profile-sync/store.ts";
import {
  type ClerkApiStandIn,
  type ClerkUserObject,
  fakeClerkUser,
  startClerkApiStandIn,
} from "./clerk_api_stand_in.ts";
import {
  type ClerkSigningKey,
  generateSigningKey,
  type MintOptions,
  mintSessionToken,
} from "./clerk_session.ts";
import { roleJwt } from "./jwt.ts";
import { createPostgrestStandIn } from "./postgrest_stand_in.ts";
import { databaseUrl, roleUrl } from "./test_database.ts";

/** The signing key of the rig's Clerk instance, and of another instance. */
export const INSTANCE_KEY: ClerkSigningKey = await generateSigningKey();
/** A key of another Clerk instance (development beside production). */
export const OTHER_INSTANCE_KEY: ClerkSigningKey = await generateSigningKey();
/** The origin the minted tokens name in `azp`. */
export const APP_ORIGIN = "http://localhost:3000";

const JWT_SECRET = "profile-sync-rig-jwt-secret-at-least-32-chars";
const RUN = crypto.randomUUID().slice(0, 8);
let serial = 0;

/** How the rig builds the handler. */
export interface RigOptions {
  /** `jwt-key`: CLERK_JWT_KEY set (default); `secret-key`: only CLERK_SECRET_KEY (JWKS). */
  mode?: "jwt-key" | "secret-key";
  /** CLERK_JWT_KEY of another instance than the secret key's (jwt-key mode). */
  foreignJwtKey?: boolean;
  /** PROFILE_SYNC_MIN_INTERVAL_S (default 60). */
  minIntervalS?: number;
  /** PROFILE_SYNC_ALLOWED_ORIGINS (default `*`). */
  allowedOrigins?: "*" | string[];
  /** CLERK_AUTHORIZED_PARTIES (default none). */
  authorizedParties?: string[];
  /** The Clerk call deadline (default 5000). */
  clerkTimeoutMs?: number;
  /** The secret key the function uses (default the stand-in's). */
  secretKey?: string;
  /** Make the database unreachable (supabase-js's fetch rejects). */
  databaseUnreachable?: boolean;
  /** CLERK_API_URL (default the stand-in's): a closed port makes Clerk unreachable. */
  clerkApiUrl?: string;
}

/** A built handler and what it talks to. */
export interface Rig {
  handle(req: Request): Promise<Response>;
  /** Every log line, in order. */
  lines: string[];
  /** Connection to the test database as `postgres`, the owner of the migrations. */
  sql: postgres.Sql;
  /** The Clerk API stand-in (its `requests`, `put`, `injectFault`, `delayMs`, ...). */
  clerk: ClerkApiStandIn;
  /** A user id unique to this run (`user_ps<run><n>`), not yet in Clerk. */
  newUserId(): string;
  /** Puts a realistic Clerk user with this id into the stand-in; returns it. */
  putUser(userId: string, fields?: Record<string, unknown>): ClerkUserObject;
  /** A session token for `userId` from the instance's key. */
  token(userId: string, options?: MintOptions, key?: ClerkSigningKey): Promise<string>;
  /** A POST (by default) to the function with `Authorization: Bearer <token>` when given. */
  request(token?: string, init?: RequestInit): Request;
  /** How many requests the Clerk stand-in answered, on `path` when given. */
  clerkCalls(path?: string): number;
}

/** Runs `fn` over a fresh rig and closes it. */
export async function withRig(options: RigOptions, fn: (rig: Rig) => Promise<void>) {
  const sql = postgres(databaseUrl(), { max: 2, onnotice: () => {} });
  const clerk = startClerkApiStandIn({ signingKeys: [INSTANCE_KEY] });
  const postgrest = createPostgrestStandIn({
    databaseUrl: roleUrl("authenticator"),
    jwtSecret: JWT_SECRET,
  });
  const serviceKey = await roleJwt("service_role", JWT_SECRET);
  const fetch = options.databaseUnreachable
    ? () => Promise.reject(new TypeError("error sending request: Connection refused"))
    : (input: RequestInfo | URL, init?: RequestInit) => postgrest.handler(new Request(input, init));
  const client = createClient("http://postgrest.stand-in.test", serviceKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: { fetch },
  });
  const secretKey = options.secretKey ?? clerk.secretKey;
  const apiUrl = options.clerkApiUrl ?? clerk.url;
  const api = createClerkApi({
    secretKey,
    apiUrl,
    timeoutMs: options.clerkTimeoutMs ?? 5000,
  });
  const mode = options.mode ?? "jwt-key";
  const jwtKey = mode === "jwt-key"
    ? parseJwtKey((options.foreignJwtKey ? OTHER_INSTANCE_KEY : INSTANCE_KEY).pem)
    : null;
  const lines: string[] = [];
  const push = (line: string) => void lines.push(line);
  const log: Logger = { info: push, warn: push, error: push };
  const handle = createHandler({
    sessions: createSessionVerifier({
      jwtKeyPem: jwtKey?.pem ?? null,
      secretKey,
      apiUrl,
      authorizedParties: options.authorizedParties ?? [],
    }),
    instance: createInstanceCheck(jwtKey, api),
    clerk: api,
    store: createSupabaseStore(client, { timeoutMs: 5000 }),
    log,
    minIntervalS: options.minIntervalS ?? 60,
    allowedOrigins: options.allowedOrigins ?? "*",
  });
  const rig: Rig = {
    handle,
    lines,
    sql,
    clerk,
    newUserId: () => `user_ps${RUN}${String(++serial).padStart(4, "0")}`,
    putUser(userId, fields = {}) {
      const user = fakeClerkUser(serial, { fields: { id: userId, ...fields } });
      clerk.put(user);
      return user;
    },
    token: (userId, mint = {}, key = INSTANCE_KEY) => mintSessionToken(key, userId, mint),
    request(token, init = {}) {
      const headers = new Headers(init.headers);
      if (token !== undefined) headers.set("authorization", `Bearer ${token}`);
      return new Request("http://function.test/functions/v1/clerk-profile-sync", {
        method: "POST",
        ...init,
        headers,
      });
    },
    clerkCalls: (path) =>
      clerk.requests.filter((r) => path === undefined || r.path === path).length,
  };
  try {
    await fn(rig);
  } finally {
    await clerk.close();
    await postgrest.close();
    await sql.end();
  }
}

/** The stored row of `userId`, or undefined. */
export async function storedProfile(sql: postgres.Sql, userId: string) {
  const rows = await sql`select * from public.profiles where user_id = ${userId}`;
  return rows[0];
}
