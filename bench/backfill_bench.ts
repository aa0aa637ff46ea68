// Backfill throughput (a benchmark, not a test): N users (default 100,000) from the Clerk API
// stand-in, through the backfill's Clerk reader (fetch, by starting_after), the webhook's mapping, supabase-js, the PostgREST stand-in
// (over HTTP) and public.sync_clerk_users, into a throwaway cluster. Next to it, in the same run
// on the same cluster, the floor: the same rows upserted straight into public.profiles with
// postgres.js, one statement per 500 rows. The pair (floor, backfill) runs three times in a row,
// each on an empty table; the ratio is the median of the three pairs' ratios, with their spread.
// Target: the backfill at least half the floor's rate. The two stand-ins run in a worker
// (bench/backfill_bench_services.ts): remote services in production, they do not share the
// backfill's thread here either. `npm run bench` runs it too, with fewer users.
//
// Usage: deno run -A --frozen bench/backfill_bench.ts [users] [pairs]
import postgres from "postgres";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { type Profile, toProfile } from "../supabase/functions/_shared/clerk_user.ts";
import { type ClerkApi, createClerkApi } from "../backfill/clerk_api.ts";
import { createClerkSources } from "../backfill/clerk_source.ts";
import { runBackfill } from "../backfill/run_backfill.ts";
import { createSupabaseBackfillStore } from "../backfill/store.ts";
import { fakeClerkUser, type PagingCost } from "../tests/support/clerk_api_stand_in.ts";
import { startCluster } from "../tests/support/pg_cluster.ts";
import type { ServicesReady, ServicesStart } from "./backfill_bench_services.ts";
import { formatRatio, type RatioSummary, summarizeRatios } from "./ratio.ts";

const JWT_SECRET = "backfill-bench-jwt-secret-with-at-least-32-characters";
const SECRET_KEY = "sb_secret_backfill_bench";
const CHUNK = 500;

type FloorRow = Omit<Profile, "public_metadata"> & { public_metadata: postgres.JSONValue };

/** One pair: the floor, then the backfill, each into an empty table (users/s). */
export interface BackfillPair {
  floorRate: number;
  backfillRate: number;
  backfillSeconds: number;
  /** backfillRate / floorRate. */
  ratio: number;
}

/** Rates measured by one run. */
export interface BackfillBenchResult {
  users: number;
  pairs: BackfillPair[];
  /** The pairs' ratios: median and spread; the target is a median >= 0.5. */
  ratio: RatioSummary;
}

/** Runs `pairs` interleaved (floor, backfill) pairs on a fresh cluster, then removes it. */
export function runBackfillBench(count: number, pairs = 3): Promise<BackfillBenchResult> {
  return withBackfillRig({ users: count, dirPrefix: "backfill-bench-" }, async (rig) => {
    const { sql, supabase, clerk, dir } = rig;
    const rows: FloorRow[] = [];
    for (let i = 1; i <= count; i++) {
      const profile = toProfile(fakeClerkUser(i));
      // Metadata as a JSON value (what postgres.js binds to the jsonb column).
      rows.push({
        ...profile,
        public_metadata: JSON.parse(JSON.stringify(profile.public_metadata)),
      });
    }

    const results: BackfillPair[] = [];
    for (let pair = 0; pair < pairs; pair++) {
      // Cascade: tables of other features reference profiles; they are empty in this cluster.
      await sql`truncate public.profiles cascade`;
      const floorRate = await floor(sql, rows);
      await sql`truncate public.profiles cascade`;
      const started = performance.now();
      const result = await runBackfill(
        createClerkSources(clerk),
        createSupabaseBackfillStore(supabase),
        { statePath: `${dir}/state.json`, resume: false, target: "bench" },
      );
      const backfillSeconds = (performance.now() - started) / 1000;
      if (result.counts.users.applied !== count) {
        throw new Error(`backfill applied ${result.counts.users.applied} of ${count} users`);
      }
      const [{ n }] = await sql`select count(*)::int as n from public.profiles`;
      if (n !== count) throw new Error(`profiles holds ${n} rows, expected ${count}`);
      const backfillRate = count / backfillSeconds;
      results.push({ floorRate, backfillRate, backfillSeconds, ratio: backfillRate / floorRate });
    }
    return { users: count, pairs: results, ratio: summarizeRatios(results.map((p) => p.ratio)) };
  });
}

/** What the backfill benchmarks run on: a fresh cluster and the services worker's stand-ins. */
export interface BackfillRig {
  /** postgres.js on the cluster (one connection). */
  sql: postgres.Sql;
  /** supabase-js on the PostgREST stand-in, with its secret key. */
  supabase: SupabaseClient;
  /** The backfill's Clerk reader on the Clerk API stand-in. */
  clerk: ClerkApi;
  /** A temporary directory (for the backfill's state file). */
  dir: string;
}

/** Options of {@linkcode withBackfillRig}. */
export interface BackfillRigOptions {
  /** The Clerk stand-in holds fakeClerkUser(1) to fakeClerkUser(users). */
  users: number;
  /** Prefix of the temporary directory's name. */
  dirPrefix: string;
  /** The Clerk stand-in's paging cost model (default: its default). */
  paging?: PagingCost;
}

/** Starts a cluster, the services worker and the clients, runs `fn` on them, then removes all. */
export async function withBackfillRig<T>(
  options: BackfillRigOptions,
  fn: (rig: BackfillRig) => Promise<T>,
): Promise<T> {
  const cluster = await startCluster();
  const worker = new Worker(new URL("./backfill_bench_services.ts", import.meta.url), {
    type: "module",
  });
  const sql = postgres(cluster.url, { max: 1, onnotice: () => {} });
  const dir = await Deno.makeTempDir({ prefix: options.dirPrefix });
  try {
    const start: ServicesStart = {
      users: options.users,
      databaseUrl: cluster.urlFor("authenticator"),
      jwtSecret: JWT_SECRET,
      secretKey: SECRET_KEY,
      paging: options.paging,
    };
    const services = await ask<ServicesReady>(worker, start);
    const supabase = createClient(services.supabaseUrl, SECRET_KEY, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    });
    const clerk = createClerkApi({ secretKey: services.clerkSecretKey, apiUrl: services.clerkUrl });
    return await fn({ sql, supabase, clerk, dir });
  } finally {
    await ask(worker, "close").catch(() => {});
    worker.terminate();
    await sql.end();
    await Deno.remove(dir, { recursive: true });
    await cluster.destroy();
  }
}

/** Posts a message to the services worker and waits for its answer. */
export function ask<T>(worker: Worker, message: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<T>) => resolve(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`services worker: ${event.message}`));
    };
    worker.postMessage(message);
  });
}

// The same rows, the same guard (only newer data wins), one INSERT ... ON CONFLICT per 500 rows.
async function floor(sql: postgres.Sql, rows: FloorRow[]): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK);
    await sql`
      insert into public.profiles ${sql(chunk)}
      on conflict (user_id) do update set
        email = excluded.email,
        phone = excluded.phone,
        first_name = excluded.first_name,
        last_name = excluded.last_name,
        username = excluded.username,
        image_url = excluded.image_url,
        public_metadata = excluded.public_metadata,
        clerk_created_at = excluded.clerk_created_at,
        clerk_updated_at = excluded.clerk_updated_at,
        updated_at = now()
      where profiles.clerk_updated_at < excluded.clerk_updated_at`;
  }
  const rate = rows.length / ((performance.now() - started) / 1000);
  const [{ n }] = await sql`
    select count(*)::int as n from public.profiles where jsonb_typeof(public_metadata) = 'object'`;
  if (n !== rows.length) throw new Error(`the floor wrote ${n} of ${rows.length} rows`);
  return rate;
}

if (import.meta.main) {
  const count = Number(Deno.args[0] ?? "100000");
  const r = await runBackfillBench(count, Number(Deno.args[1] ?? "3"));
  const rate = (n: number) => `${Math.round(n).toLocaleString("en-US")} users/s`;
  console.log(`users: ${r.users.toLocaleString("en-US")}`);
  console.log(
    "floor: postgres.js, one upsert per 500 rows; backfill: Clerk stand-in -> fetch -> " +
      "toProfile -> supabase-js -> PostgREST stand-in -> sync_clerk_users",
  );
  r.pairs.forEach((p, i) =>
    console.log(
      `pair ${i + 1}: floor ${rate(p.floorRate)}, backfill ${rate(p.backfillRate)} ` +
        `(${p.backfillSeconds.toFixed(1)} s), ratio ${p.ratio.toFixed(2)}`,
    )
  );
  console.log(
    `ratio: ${formatRatio(r.ratio)} of the floor, median (min-max) of ${r.pairs.length} pairs ` +
      `(target >= 0.50): ${r.ratio.median >= 0.5 ? "met" : "NOT met"}`,
  );
}
