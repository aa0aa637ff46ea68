/**
 * The rig of the backfill tests: the Clerk API stand-in holding a test's objects, the PostgREST
 * stand-in (in-process for supabase-js, and over HTTP for the command's own client), and the real
 * backfill store and Clerk clients wired to them, against the test command's database.
 */
import postgres from "postgres";
import { createClerkClient } from "@clerk/backend";
import { createClient } from "@supabase/supabase-js";
import { createClerkSources } from "../../backfill/clerk_source.ts";
import { type BackfillStore, createSupabaseBackfillStore } from "../../backfill/store.ts";
import {
  type ClerkApiStandIn,
  type ClerkApiStandInOptions,
  startClerkApiStandIn,
} from "./clerk_api_stand_in.ts";
import { createPostgrestStandIn, type PostgrestStandIn } from "./postgrest_stand_in.ts";
import { databaseUrl, roleUrl } from "./test_database.ts";

/** The project's JWT secret in the backfill tests. */
export const JWT_SECRET = "backfill-test-jwt-secret-with-at-least-32-characters";
/** The `sb_secret_...` key the PostgREST stand-in takes as service_role. */
export const SECRET_KEY = "sb_secret_backfill_test_key";
/** Retry timing short enough for tests. */
export const FAST_RETRY = { baseDelayMs: 20, maxDelayMs: 100 };

/** What a backfill test works with. */
export interface Harness {
  clerk: ClerkApiStandIn;
  rest: PostgrestStandIn;
  /** Connection as `postgres` (the migrations' owner), to plant and inspect rows. */
  sql: postgres.Sql;
  store: BackfillStore;
  /** The supabase-js URL of the PostgREST stand-in, served over HTTP. */
  supabaseUrl: string;
  statePath: string;
}

/** Starts the rig with the Clerk stand-in holding `clerk`'s objects, runs `fn`, stops it all. */
export async function withBackfillHarness(
  options: { databaseUrl?: string; clerk?: ClerkApiStandInOptions },
  fn: (h: Harness) => Promise<void>,
): Promise<void> {
  const dbUrl = options.databaseUrl ?? databaseUrl();
  const clerk = startClerkApiStandIn(options.clerk);
  const rest = createPostgrestStandIn({
    databaseUrl: roleUrl("authenticator", dbUrl),
    jwtSecret: JWT_SECRET,
    secretKeys: [SECRET_KEY],
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, rest.handler);
  const sql = postgres(dbUrl, { max: 3, onnotice: () => {} });
  const supabase = createClient("http://stand-in.local", SECRET_KEY, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: { fetch: (input, init) => rest.handler(new Request(input, init)) },
  });
  const dir = await Deno.makeTempDir({ prefix: "backfill-test-" });
  try {
    await fn({
      clerk,
      rest,
      sql,
      store: createSupabaseBackfillStore(supabase, { retry: FAST_RETRY }),
      supabaseUrl: `http://127.0.0.1:${server.addr.port}`,
      statePath: `${dir}/.backfill-state.json`,
    });
  } finally {
    await server.shutdown();
    await clerk.close();
    await rest.close();
    await sql.end();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The backfill's Clerk sources over the stand-in, with fast retries (overridable). */
export function sourcesFor(clerk: ClerkApiStandIn, retry = {}) {
  const client = createClerkClient({ secretKey: clerk.secretKey, apiUrl: clerk.url });
  return createClerkSources(client, { retry: { ...FAST_RETRY, ...retry } });
}
