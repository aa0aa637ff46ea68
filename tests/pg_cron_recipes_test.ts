// The docs' pg_cron recipes, run for real: every ```sql block of docs/operating.md that calls
// cron.schedule( (then every other block that uses pg_cron: the run history) is run as `postgres`
// on a cluster that preloads pg_cron, with the extension created as Supabase creates it (by the
// superuser, `with schema pg_catalog`: supabase.com/docs/guides/cron/install; postgres's rights in
// schema cron from the mirror's event trigger, tests/support/supabase_mirror.sql). The scheduler
// fires on the minute at best, so each job's command is then run as pg_cron runs it: its text, as
// the job's user, in the job's database, in one implicit transaction (the simple query protocol).
import assert from "node:assert/strict";
import postgres from "postgres";
import { type PgCluster, startCluster } from "./support/pg_cluster.ts";

const RECIPES = new URL("../docs/operating.md", import.meta.url);
const PRUNE = "prune-clerk-webhook-events";
const HEALTH = "clerk-sync-health";

/** The ```sql blocks of docs/operating.md that use pg_cron: those that schedule, and the others. */
async function cronBlocks(): Promise<{ recipes: string[]; queries: string[] }> {
  const text = await Deno.readTextFile(RECIPES);
  const blocks = [...text.matchAll(/^```sql\n([\s\S]*?)^```$/gm)]
    .map((match) => match[1])
    .filter((block) => block.includes("cron."));
  return {
    recipes: blocks.filter((block) => block.includes("cron.schedule(")),
    queries: blocks.filter((block) => !block.includes("cron.schedule(")),
  };
}

interface CronJob {
  jobid: number;
  jobname: string;
  command: string;
  username: string;
  database: string;
}

/** Runs the job's command as pg_cron does; resolves with its rows. */
async function runJob(cluster: PgCluster, job: CronJob): Promise<Record<string, unknown>[]> {
  const url = new URL(cluster.urlFor(job.username));
  url.pathname = `/${job.database}`;
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  try {
    return [...await sql.unsafe(job.command)];
  } finally {
    await sql.end();
  }
}

Deno.test("the pg_cron recipes of docs/operating.md schedule as postgres and their commands run", async () => {
  const { recipes, queries } = await cronBlocks();
  assert.ok(recipes.length >= 2, `found ${recipes.length} pg_cron recipes in docs/operating.md`);
  const cluster = await startCluster({
    settings: { shared_preload_libraries: "pg_cron", "cron.database_name": "postgres" },
  });
  const admin = postgres(cluster.adminUrl, { max: 1, onnotice: () => {} });
  const owner = postgres(cluster.url, { max: 1, onnotice: () => {} });
  try {
    await admin`create extension pg_cron with schema pg_catalog`;
    const [{ launchers }] = await owner`
      select count(*)::int as launchers from pg_stat_activity
      where backend_type = 'pg_cron launcher'`;
    assert.equal(launchers, 1, "pg_cron's scheduler runs");

    // Each recipe as the docs give it, as the project's `postgres` (the SQL editor's role).
    for (const recipe of recipes) await owner.unsafe(recipe);
    const jobs = await owner<CronJob[]>`
      select jobid, jobname, command, username, database from cron.job order by jobname`;
    assert.deepEqual(
      jobs.map((job) => [job.jobname, job.username, job.database]).filter(([name]) =>
        name === PRUNE || name === HEALTH
      ),
      [[HEALTH, "postgres", "postgres"], [PRUNE, "postgres", "postgres"]],
    );
    assert.equal(jobs.length, recipes.length, "one job per recipe");
    const job = (name: string) => jobs.find((j) => j.jobname === name)!;

    // The health check fails on an empty log, with its message.
    await assert.rejects(
      runJob(cluster, job(HEALTH)),
      (error: Error) =>
        /clerk-sync: no webhook delivery applied since the log began/.test(error.message),
    );
    // The prune returns how many rows it deleted.
    assert.deepEqual(await runJob(cluster, job(PRUNE)), [{ prune_webhook_events: "0" }]);

    // A delivery, recorded by the webhook's function: the health check passes, and so does every other
    // recipe's command.
    await owner`
      select public.sync_clerk_user('msg_cron1', 'user.created', 'user_cron1', now(),
        '{"email": "cron@example.com"}'::jsonb)`;
    assert.deepEqual(await runJob(cluster, job(HEALTH)), []);
    for (const other of jobs.filter((j) => j.jobname !== HEALTH && j.jobname !== PRUNE)) {
      await runJob(cluster, other);
    }

    // The only delivery 7 hours old: the check fails again, naming when.
    await owner`update clerk_sync.webhook_events set received_at = now() - interval '7 hours'
      where svix_id = 'msg_cron1'`;
    await assert.rejects(
      runJob(cluster, job(HEALTH)),
      (error: Error) => /clerk-sync: no webhook delivery applied since \d{4}-/.test(error.message),
    );
    // 40 days old: the prune deletes it and counts it.
    await owner`update clerk_sync.webhook_events set received_at = now() - interval '40 days'
      where svix_id = 'msg_cron1'`;
    assert.deepEqual(await runJob(cluster, job(PRUNE)), [{ prune_webhook_events: "1" }]);
    const [{ left }] = await owner`select count(*)::int as left from clerk_sync.webhook_events`;
    assert.equal(left, 0);

    // The docs' other pg_cron SQL (the run history) works as postgres, and so does stopping a
    // job as the docs say (`select cron.unschedule('<name>')`).
    for (const query of queries) await owner.unsafe(query);
    for (const { jobname } of jobs) {
      const [{ unschedule }] = await owner`select cron.unschedule(${jobname})`;
      assert.equal(unschedule, true, `unscheduled ${jobname}`);
    }
    assert.deepEqual([...await owner`select jobname from cron.job`], []);
  } finally {
    await admin.end();
    await owner.end();
    await cluster.destroy();
  }
});
