// `npm run bench [-- --events N]`: every benchmark of BENCHMARKS.md in one run on a throwaway
// local stack; prints the table and writes the same figures to bench/results/latest.json.
import postgres from "postgres";
import { startLocalStack } from "../tests/support/local_stack.ts";
import { measureCpuCost } from "./cpu_cost.ts";
import { duplicateStorm, floorLevel, functionLevel, type Rig, standInLevel } from "./e2e.ts";
import { childPid, memoryMiB, postmasterPid } from "./procfs.ts";
import { type BenchResults, formatReport, type Machine, type Target } from "./report.ts";
import { ENTRYPOINT, measureStartup, moduleGraph } from "./startup.ts";

const LEVELS = [1, 16, 64];
const STARTUP_REPETITIONS = 9;
const RESULTS = new URL("./results/latest.json", import.meta.url);

const events = eventsPerLevel(Deno.args);
const started = performance.now();
const loadAtStart = Deno.loadavg()[0];

console.log("per-event CPU cost (deno bench) ...");
const cpuCost = await measureCpuCost();
const graph = await moduleGraph();

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
  const startup = await measureStartup(stack.functionEnv, stack.webhookSecret, STARTUP_REPETITIONS);
  const idleMiB = memoryMiB(rig.functionPid).current;

  const endToEnd = [];
  for (const concurrency of LEVELS) {
    console.log(`end to end, concurrency ${concurrency}: function, then floor ...`);
    const fn = await functionLevel(rig, concurrency, events);
    const floor = await floorLevel(rig, concurrency, events);
    endToEnd.push({
      concurrency,
      function: fn,
      floor,
      ratio: fn.eventsPerSecond / floor.eventsPerSecond,
    });
  }
  const peakMiB = memoryMiB(rig.functionPid).peak;
  console.log("the stand-in alone, concurrency 16 ...");
  const standInAlone = await standInLevel(rig, 16, events);
  console.log("duplicate storm ...");
  const storm = await duplicateStorm(rig, 64);

  const results: BenchResults = {
    date: new Date().toISOString(),
    wallSeconds: (performance.now() - started) / 1000,
    eventsPerLevel: events,
    machine: machine(String(version), loadAtStart),
    cpuCost,
    endToEnd,
    standInAlone,
    duplicateStorm: storm,
    startup: { ...startup, ratio: startup.functionMedianMs / startup.bareMedianMs },
    moduleGraph: graph,
    memory: { peakMiB, idleMiB },
    targets: [],
  };
  results.targets = targets(results);
  console.log(`\n${formatReport(results)}`);
  await Deno.writeTextFile(RESULTS, JSON.stringify(results, null, 2) + "\n");
  console.log(`\nwrote ${RESULTS.pathname}`);
} finally {
  await sql.end();
  await stack.close();
}

function targets(r: BenchResults): Target[] {
  const c16 = r.endToEnd.find((l) => l.concurrency === 16);
  if (!c16) throw new Error("no concurrency-16 level");
  const errors = r.endToEnd.reduce((n, l) => n + l.function.errors, 0) + r.duplicateStorm.errors;
  const exact = r.endToEnd.every((l) => l.function.tableExact && l.floor.tableExact);
  return [
    {
      target: "events/s at c=16 ≥ 0.5 × floor",
      measured: `${c16.function.eventsPerSecond.toFixed(0)} / ${
        c16.floor.eventsPerSecond.toFixed(0)
      } = ${c16.ratio.toFixed(2)}`,
      met: c16.ratio >= 0.5,
    },
    {
      target: "p99 at c=16 < 25 ms",
      measured: `${c16.function.p99Ms.toFixed(1)} ms`,
      met: c16.function.p99Ms < 25,
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
      target: "start-up ≤ 2 × bare Deno.serve",
      measured: `${r.startup.functionMedianMs.toFixed(0)} / ${
        r.startup.bareMedianMs.toFixed(0)
      } ms = ${r.startup.ratio.toFixed(2)}`,
      met: r.startup.ratio <= 2,
    },
    {
      target: "peak memory < 150 MB",
      measured: `${(r.memory.peakMiB * 1.048576).toFixed(1)} MB (${
        r.memory.peakMiB.toFixed(1)
      } MiB)`,
      met: r.memory.peakMiB * 1.048576 < 150,
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

function eventsPerLevel(args: string[]): number {
  const at = args.indexOf("--events");
  const value = at === -1 ? 20_000 : Number(args[at + 1]);
  if (!Number.isInteger(value) || value < 2 || value % 2 !== 0) {
    throw new Error("--events takes an even number (each user gets a create and an update)");
  }
  return value;
}
