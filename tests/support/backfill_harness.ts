/**
 * The rig of the backfill tests: the Clerk API stand-in holding a test's objects, the PostgREST
 * stand-in (in-process for supabase-js, and over HTTP for the command's own client), and the real
 * backfill store and Clerk clients wired to them, against the test command's database.
 */
import postgres from "postgres";
import { createClient } from "@supabase/supabase-js";
import { createClerkApi } from "../../backfill/clerk_api.ts";
import { runCli } from "../../backfill/cli.ts";
import { type ClerkSources, createClerkSources } from "../../backfill/clerk_source.ts";
import { type BackfillStore, createSupabaseBackfillStore } from "../../backfill/store.ts";
import {
  type ClerkApiStandIn,
  type ClerkApiStandInOptions,
  type ClerkMembershipObject,
  type ClerkOrganizationObject,
  type ClerkUserObject,
  fakeClerkMembership,
  fakeClerkOrganization,
  fakeClerkUser,
  startClerkApiStandIn,
} from "./clerk_api_stand_in.ts";
import { startCluster } from "./pg_cluster.ts";
import { createPostgrestStandIn, type PostgrestStandIn } from "./postgrest_stand_in.ts";
import { databaseUrl, roleUrl } from "./test_database.ts";

/** The project's JWT secret in the backfill tests. */
export const JWT_SECRET = "backfill-test-jwt-secret-with-at-least-32-characters";
/** The `sb_secret_...` key the PostgREST stand-in takes as service_role. */
export const SECRET_KEY = "sb_secret_backfill_test_key";
/** Retry timing short enough for tests. */
export const FAST_RETRY = { baseDelayMs: 20, maxDelayMs: 100 };

/**
 * A source of id prefixes `<tag><run>_<n>_` (n = 1, 2, ...; run random per source) that keep a
 * test's Clerk objects apart from every other test's in the shared database.
 */
export function idPrefixes(tag: string): () => string {
  const run = crypto.randomUUID().slice(0, 8);
  let serial = 0;
  return () => {
    serial += 1;
    return `${tag}${run}_${serial}_`;
  };
}

/** `count` users, fakeClerkUser(1) to fakeClerkUser(count), with ids under `prefix`. */
export function fakeUsers(count: number, prefix: string): ClerkUserObject[] {
  return Array.from({ length: count }, (_, i) => fakeClerkUser(i + 1, { prefix }));
}

/** A Clerk instance's objects, named as {@linkcode ClerkApiStandInOptions} takes them. */
export interface FakeInstance {
  users: ClerkUserObject[];
  organizations: ClerkOrganizationObject[];
  memberships: ClerkMembershipObject[];
}

/**
 * `users` users and `orgs` organizations; organization i has user i (as `org:admin`) and user
 * i + 1 (wrapping around) as members, memberships numbered in creation order.
 */
export function fakeInstance(
  prefix: string,
  counts: { users: number; orgs: number },
): FakeInstance {
  const users = fakeUsers(counts.users, prefix);
  const organizations = Array.from(
    { length: counts.orgs },
    (_, i) => fakeClerkOrganization(i + 1, { prefix }),
  );
  const memberships = organizations.flatMap((org, i) => [
    fakeClerkMembership(2 * i + 1, org, users[i % users.length].id, { prefix, role: "org:admin" }),
    fakeClerkMembership(2 * i + 2, org, users[(i + 1) % users.length].id, { prefix }),
  ]);
  return { users, organizations, memberships };
}

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
export function sourcesFor(
  clerk: ClerkApiStandIn,
  retry = {},
  options: { pageSize?: number; secretKey?: string } = {},
): ClerkSources {
  const api = createClerkApi({
    secretKey: options.secretKey ?? clerk.secretKey,
    apiUrl: clerk.url,
  });
  return createClerkSources(api, {
    pageSize: options.pageSize,
    retry: { ...FAST_RETRY, ...retry },
  });
}

/** What one run of the command printed, and its exit code. */
export interface CommandRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the command (`npm run backfill`'s runCli) in-process against the harness, with the
 * stand-in's key and URL unless `env` overrides them.
 */
export async function runBackfillCli(
  h: Harness,
  argv: string[],
  env: Record<string, string> = {},
): Promise<CommandRun> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await runCli({
    argv: [...argv, "--state", h.statePath],
    env: new Map(Object.entries({
      CLERK_SECRET_KEY: h.clerk.secretKey,
      CLERK_API_URL: h.clerk.url,
      SUPABASE_URL: h.supabaseUrl,
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET_KEY }),
      ...env,
    })),
    stdout: (text) => void stdout.push(text),
    stderr: { isTerminal: false, write: (text) => void stderr.push(text) },
    retry: FAST_RETRY,
  });
  return { code, stdout: stdout.join("\n"), stderr: stderr.join("") };
}

/** Rows whose ids start with `prefix` in profiles, organizations and organization_memberships. */
export async function rowCounts(sql: postgres.Sql, prefix = "") {
  const [row] = await sql`
    select
      (select count(*)::int from public.profiles where user_id like ${`user_${prefix}%`}) as users,
      (select count(*)::int from public.organizations
        where org_id like ${`org_${prefix}%`}) as orgs,
      (select count(*)::int from public.organization_memberships
        where membership_id like ${`orgmem_${prefix}%`}) as memberships`;
  return { ...row };
}

/** Runs `fn` on a throwaway migrated cluster of its own (a test that needs the whole database). */
export async function withOwnCluster(fn: (databaseUrl: string) => Promise<void>): Promise<void> {
  const cluster = await startCluster();
  try {
    await fn(cluster.url);
  } finally {
    await cluster.destroy();
  }
}
