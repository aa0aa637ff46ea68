// `npm run bench [-- --events N] [--rounds R]`: every benchmark of BENCHMARKS.md in one run on
// a throwaway local stack; prints the tables and writes the same figures to
// bench/results/latest.json. Every ratio target is the median of interleaved pairs.
import postgres from "postgres";
import { startLocalStack } from "../tests/support/local_stack.ts";
import { runBackfillBench } from "./backfill_bench.ts";
import { formatDeepPagingReport, runDeepPagingBench } from "./deep_paging_bench.ts";
import { formatJwksFloodReport, runJwksFloodBench } from "./jwks_flood_bench.ts";
import { formatOrgRlsReport, runOrgRlsBench } from "./org_rls_bench.ts";
import { formatProfileSyncReport, runProfileSyncBench } from "./profile_sync_bench.ts";
import { compareWithPeerAndRelay } from "./compare.ts";
import { measureCpuCost } from "./cpu_cost.ts";
import { duplicateStorm, floorLevel, functionLevel, type Rig, standInLevel } from "./e2e.ts";
import { childPid, memoryMiB, postmasterPid } from "./procfs.ts";
import { formatRatio } from "./ratio.ts";
import {
  type BenchResults,
  formatReport,
  type Machine,
  type RatioRow,
  type Target,
} from "./report.ts";
import { ENTRYPOINT, measureStartup, moduleGraph } from "./startup.ts";
import { formatTokenCostReport, runTokenCostBench } from "./token_cost_bench.ts";

const LEVELS = [1, 16, 64];
const STARTUP_REPETITIONS = 9;
const COMPARE_CONCURRENCY = 16;
const BACKFILL_USERS = 50_000;
const DEEP_PAGING_USERS = 200_000;
const RESULTS = new URL("./results/latest.json", import.meta.url);

const events = intOption(Deno.args, "--events", 8_000);
if (events < 8 || events % 8 !== 0) {
  throw new Error("--events takes a multiple of 8 (each user gets a create and an update)");
}
const rounds = intOption(Deno.args, "--rounds", 3);
if (rounds < 3) throw new Error("--rounds takes 3 or more: a ratio is a median of 3+ pairs");
const started = performance.now();
const loadAtStart = Deno.loadavg()[0];

console.log("per-event CPU cost (deno bench) ...");
const cpuCost = await measureCpuCost();
const graph = await moduleGraph();

const onStack = await measureOnStack();
console.log(`backfill, ${BACKFILL_USERS} users, ${rounds} pairs ...`);
const backfill = await runBackfillBench(BACKFILL_USERS, rounds);
console.log(`deep paging, a backfill of ${DEEP_PAGING_USERS} users, ${rounds} rounds ...`);
const deepPaging = await runDeepPagingBench(DEEP_PAGING_USERS, rounds);
console.log(`clerk-profile-sync, ${rounds} interleaved runs ...`);
const profileSync = await runProfileSyncBench({ runs: rounds, progress: () => {} });
console.log(`organization-scoped RLS, ${rounds} interleaved pairs ...`);
const orgRls = await runOrgRlsBench(rounds);
console.log(`clerk-profile-sync, a flood of unknown key ids, ${rounds} runs ...`);
const jwksFlood = await runJwksFloodBench({ runs: rounds });
console.log(`clerk-profile-sync, refused tokens, ${rounds * 3} rounds ...`);
const tokenCost = await runTokenCostBench(rounds * 3);

const results: BenchResults = {
  date: new Date().toISOString(),
  wallSeconds: (performance.now() - started) / 1000,
  eventsPerLevel: events,
  machine: machine(onStack.postgresVersion, loadAtStart),
  cpuCost,
  endToEnd: onStack.endToEnd,
  standInAlone: onStack.standInAlone,
  duplicateStorm: onStack.duplicateStorm,
  comparison: onStack.comparison,
  startup: onStack.startup,
  moduleGraph: graph,
  backfill,
  deepPaging,
  profileSync,
  orgRls,
  jwksFlood,
  tokenCost,
  memory: onStack.memory,
  ratios: [],
  targets: [],
};
results.ratios = ratioRows(results);
results.targets = targets(results);
console.log(`\n${formatReport(results)}`);
console.log(`\n${formatDeepPagingReport(deepPaging)}`);
console.log(`\nclerk-profile-sync (sync on visit)\n${formatProfileSyncReport(profileSync)}`);
console.log(`\n${formatOrgRlsReport(orgRls)}`);
console.log(`\n${formatJwksFloodReport([jwksFlood])}`);
console.log(`\n${formatTokenCostReport(tokenCost)}`);
await Deno.writeTextFile(RESULTS, JSON.stringify(results, null, 2) + "\n");
console.log(`\nwrote ${RESULTS.pathname}`);

// Everything measured on the local stack, which is closed before the backfill's own cluster.
async function measureOnStack() {
  console.log("starting the local stack ...");
  const stack = await startLocalStack();
  const sql = postgres(stack.databaseUrl, { max: 2, onnotice: () => {} });
  try {
    const rig: Rig = {
      stack,
      sql,
      functionPid: childPid(ENTRYPOINT),
      postmasterPid: postmasterPid(stack.cluster.dataDir),
    };
    const [{ version }] = await sql`select split_part(version(), ' on ', 1) as version`;

    console.log(`start-up, ${STARTUP_REPETITIONS} times each ...`);
    const startup = await measureStartup(
      stack.functionEnv,
      stack.webhookSecret,
      STARTUP_REPETITIONS,
    );
    const idleMiB = memoryMiB(rig.functionPid).current;

    const endToEnd = [];
    for (const concurrency of LEVELS) {
      console.log(`end to end, concurrency ${concurrency}: function, then SQL floor ...`);
      const fn = await functionLevel(rig, concurrency, events);
      const floor = await floorLevel(rig, concurrency, events);
      endToEnd.push({
        concurrency,
        function: fn,
        floor,
        ratio: fn.eventsPerSecond / floor.eventsPerSecond,
      });
    }
    // Peak after the three levels, as before the comparison was added (VmHWM only grows).
    const peakMiB = memoryMiB(rig.functionPid).peak;
    console.log("the stand-in alone, concurrency 16 ...");
    const standInAlone = await standInLevel(rig, 16, events);
    console.log("duplicate storm ...");
    const storm = await duplicateStorm(rig, 64);
    console.log(`the function, the peer and the relay, ${rounds} rounds ...`);
    const comparison = await compareWithPeerAndRelay(rig, {
      rounds,
      concurrency: COMPARE_CONCURRENCY,
      uniqueUsers: events / 4,
      faultUsers: events / 8,
    });
    return {
      postgresVersion: String(version),
      startup,
      endToEnd,
      standInAlone,
      duplicateStorm: storm,
      comparison,
      memory: { peakMiB, idleMiB },
    };
  } finally {
    await sql.end();
    await stack.close();
  }
}

function ratioRows(r: BenchResults): RatioRow[] {
  const c = r.comparison;
  return [
    { name: "function process CPU/event ÷ relay's", ratio: c.cpuRatio, target: "<= 1.5" },
    {
      name: "function events/s ÷ peer's, whole stream",
      ratio: c.throughputRatio,
      target: ">= 0.8",
    },
    { name: "  unique events only", ratio: c.uniqueThroughputRatio, target: "" },
    { name: "  fault mix only", ratio: c.faultThroughputRatio, target: "" },
    { name: "function start-up ÷ bare Deno.serve", ratio: r.startup.ratio, target: "<= 2" },
    { name: "backfill users/s ÷ its floor's", ratio: r.backfill.ratio, target: ">= 0.5" },
    {
      name: "backfill time/page at the end ÷ start, 200k users",
      ratio: r.deepPaging.cursorRatio,
      target: "<= 1.5",
    },
    {
      name: "  before: users by offset",
      ratio: r.deepPaging.offsetRatio,
      target: "",
    },
    {
      name: "org-scoped select through RLS ÷ plain where",
      ratio: r.orgRls.ratio,
      target: "<= 1.5",
    },
    {
      name: "clerk-profile-sync start-up ÷ bare Deno.serve",
      ratio: r.profileSync.startup.ratio,
      target: "<= 1.5",
    },
    {
      name: "co-member cards through RLS ÷ plain join",
      ratio: r.orgRls.cards.ratio,
      target: "",
    },
    {
      name: "a user's first call in a flood of unknown kids ÷ idle",
      ratio: r.jwksFlood.ratio,
      target: "<= 2",
    },
  ];
}

function targets(r: BenchResults): Target[] {
  const c = r.comparison;
  const comparedErrors = c.rounds.reduce(
    (n, round) =>
      n + round.relay.errors + round.function.unique.errors + round.function.faults.errors,
    0,
  );
  const errors = r.endToEnd.reduce((n, l) => n + l.function.errors, 0) +
    r.duplicateStorm.errors + comparedErrors;
  const exact = r.endToEnd.every((l) => l.function.tableExact && l.floor.tableExact) &&
    c.rounds.every((round) => round.relay.tableExact);
  const functionWrong = c.rounds.map((round) =>
    round.function.unique.wrong.wrong + round.function.faults.wrong.wrong
  );
  const peerWrong = c.rounds.map((round) =>
    round.peer.unique.wrong.wrong + round.peer.faults.wrong.wrong
  );
  return [
    {
      target: "function process CPU/event <= 1.5 x relay (c=16)",
      measured: formatRatio(c.cpuRatio),
      met: c.cpuRatio.median <= 1.5,
    },
    {
      target: "function events/s >= 0.8 x peer (c=16, same stream)",
      measured: formatRatio(c.throughputRatio),
      met: c.throughputRatio.median >= 0.8,
    },
    {
      target: "function: zero wrong rows (peer: counted)",
      measured: `${functionWrong.join("/")} (peer ${peerWrong.join("/")}) per round`,
      met: functionWrong.every((n) => n === 0),
    },
    { target: "zero errors", measured: String(errors), met: errors === 0 },
    {
      target: "table exactly right",
      measured: exact ? "every level exact" : "MISMATCH",
      met: exact,
    },
    {
      target: "duplicate storm changes nothing",
      measured:
        `${r.duplicateStorm.outcomes.duplicate ?? 0}/${r.duplicateStorm.events} duplicate, ` +
        `rows ${r.duplicateStorm.unchanged ? "unchanged" : "CHANGED"}`,
      met: r.duplicateStorm.allDuplicate && r.duplicateStorm.unchanged,
    },
    {
      target: "start-up <= 2 x bare Deno.serve",
      measured: formatRatio(r.startup.ratio),
      met: r.startup.ratio.median <= 2,
    },
    {
      target: "peak memory < 150 MB",
      measured: `${(r.memory.peakMiB * 1.048576).toFixed(1)} MB (${
        r.memory.peakMiB.toFixed(1)
      } MiB)`,
      met: r.memory.peakMiB * 1.048576 < 150,
    },
    {
      target: "backfill >= 0.5 x its floor",
      measured: formatRatio(r.backfill.ratio),
      met: r.backfill.ratio.median >= 0.5,
    },
    {
      target: `backfill time per page at the end <= 1.5 x at the start (${
        r.deepPaging.users.toLocaleString("en-US")
      } users)`,
      measured: `${formatRatio(r.deepPaging.cursorRatio)} (by offset: ${
        formatRatio(r.deepPaging.offsetRatio)
      })`,
      met: r.deepPaging.cursorRatio.median <= 1.5,
    },
    {
      target: "clerk-profile-sync start-up <= 1.5 x bare Deno.serve",
      measured: formatRatio(r.profileSync.startup.ratio),
      met: r.profileSync.startup.ratio.median <= 1.5,
    },
    {
      target: "org-scoped select through RLS <= 1.5 x plain where",
      measured: formatRatio(r.orgRls.ratio),
      met: r.orgRls.ratio.median <= 1.5,
    },
    {
      target: "flood of 1,000 unknown key ids: <= 2 JWKS requests",
      measured: `${r.jwksFlood.jwksRequests.max} at most (${r.jwksFlood.runs.length} runs)`,
      met: r.jwksFlood.jwksRequests.max <= 2,
    },
    {
      target: "a user's first call in that flood <= 2 x idle",
      measured: formatRatio(r.jwksFlood.ratio),
      met: r.jwksFlood.ratio.median <= 2,
    },
    {
      target: "costliest refused token <= 3 x an ordinary bad token",
      measured: `${r.tokenCost.worst.after.ratio.toFixed(2)} (${r.tokenCost.worst.after.kase})`,
      met: r.tokenCost.worst.after.ratio <= 3,
    },
    {
      target: "clerk-profile-sync does not load svix",
      measured: r.profileSync.moduleGraph.loadsSvix ? "loads svix" : "no svix in its graph",
      met: !r.profileSync.moduleGraph.loadsSvix,
    },
    {
      target: "reload storm: fewest possible Clerk API calls",
      measured: `${r.profileSync.storm.jwtKeyPer1000.median.toFixed(1)} (JWT key), ${
        r.profileSync.storm.secretKeyPer1000.median.toFixed(1)
      } (secret key) per 1,000 calls; fewest ${r.profileSync.storm.minimumPer1000.toFixed(1)}`,
      met: r.profileSync.storm.jwtKeyPer1000.max <= r.profileSync.storm.minimumPer1000 &&
        r.profileSync.storm.secretKeyPer1000.max <= r.profileSync.storm.minimumPer1000 &&
        r.profileSync.storm.non200 === 0,
    },
  ];
}

function machine(postgresVersion: string, loadAtStart: number): Machine {
  const cpuinfo = Deno.readTextFileSync("/proc/cpuinfo");
  return {
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    cores: navigator.hardwareConcurrency,
    memoryGiB: Deno.systemMemoryInfo().total / 1024 ** 3,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: Deno.version.deno,
    postgres: postgresVersion,
    loadAverage: { start: loadAtStart, end: Deno.loadavg()[0] },
  };
}

function intOption(args: string[], name: string, fallback: number): number {
  const at = args.indexOf(name);
  const value = at === -1 ? fallback : Number(args[at + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} takes a positive integer`);
  return value;
}
