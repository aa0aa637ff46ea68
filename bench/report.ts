// The printed table of `npm run bench`: the same figures as bench/results/latest.json.
import type { CpuCase } from "./cpu_cost.ts";
import type { LevelResult, StormResult } from "./e2e.ts";
import type { CpuTimes } from "./procfs.ts";
import type { ModuleGraph, StartupResult } from "./startup.ts";

/** The machine a run measured. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  deno: string;
  postgres: string;
  /** 1-minute load average when the run started and ended (other work on the machine). */
  loadAverage: { start: number; end: number };
}

/** One target and whether the run met it. */
export interface Target {
  target: string;
  measured: string;
  met: boolean;
}

/** Everything one `npm run bench` measured. */
export interface BenchResults {
  date: string;
  wallSeconds: number;
  eventsPerLevel: number;
  machine: Machine;
  cpuCost: CpuCase[];
  endToEnd: { concurrency: number; function: LevelResult; floor: LevelResult; ratio: number }[];
  standInAlone: LevelResult;
  duplicateStorm: StormResult;
  startup: StartupResult & { ratio: number };
  moduleGraph: ModuleGraph;
  /** The function process under the load of the end-to-end levels. */
  memory: { peakMiB: number; idleMiB: number };
  targets: Target[];
}

/** Formats the results as the table `npm run bench` prints. */
export function formatReport(r: BenchResults): string {
  const m = r.machine;
  const lines = [
    `clerk-supabase-sync benchmarks, ${r.date} (wall time ${r.wallSeconds.toFixed(0)} s)`,
    `machine: ${m.cpu}, ${m.cores} cores, ${
      m.memoryGiB.toFixed(1)
    } GiB, ${m.os}, Deno ${m.deno}, ` +
    `${m.postgres}; load average ${m.loadAverage.start.toFixed(2)} at start, ` +
    `${m.loadAverage.end.toFixed(2)} at end`,
    "",
    "1. Per-event CPU cost (Deno.bench, µs per event; ratio to the WebCrypto floor and to a " +
    "synchronous HMAC)",
    ...table(
      ["case", "payload", "avg µs", "p75 µs", "× floor", "× sync HMAC"],
      r.cpuCost.map((c) => [
        c.name,
        c.group,
        f1(c.avgMicros),
        f1(c.p75Micros),
        f2(c.ratioToFloor),
        f2(c.ratioToSyncHmac),
      ]),
    ),
    "",
    `2. End to end, ${r.eventsPerLevel} events per level (function: loopback HTTP to the real ` +
    "entrypoint → supabase-js → PostgREST stand-in → PostgreSQL; floor: postgres.js → " +
    "public.sync_clerk_user as service_role)",
    ...table(
      ["path", "c", "events/s", "p50 ms", "p95 ms", "p99 ms", "errors", "table", "× floor"],
      r.endToEnd.flatMap((l) => [
        levelRow("function", l.function, f2(l.ratio)),
        levelRow("floor", l.floor, ""),
      ]).concat([levelRow("stand-in alone", r.standInAlone, "")]),
    ),
    "",
    "   CPU µs per event by part of the stack (from /proc)",
    ...table(
      ["path", "c", "function", "stand-in", "client", "bench other", "postgres", "total"],
      r.endToEnd.flatMap((l) => [cpuRow("function", l.function), cpuRow("floor", l.floor)])
        .concat([cpuRow("stand-in alone", r.standInAlone)]),
    ),
    "",
    "3. Duplicate storm: 1,000 deliveries applied, then each sent 3 more times at once",
    ...table(
      [
        "requests",
        "c",
        "events/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "all duplicate",
        "rows unchanged",
      ],
      [[
        String(r.duplicateStorm.events),
        String(r.duplicateStorm.concurrency),
        f0(r.duplicateStorm.eventsPerSecond),
        f1(r.duplicateStorm.p50Ms),
        f1(r.duplicateStorm.p99Ms),
        String(r.duplicateStorm.errors),
        yesNo(r.duplicateStorm.allDuplicate),
        yesNo(r.duplicateStorm.unchanged),
      ]],
    ),
    "",
    `4. Start-up to the first 200 (median of ${r.startup.repetitions}, dependencies cached), ` +
    "module graph, memory",
    ...table(
      ["figure", "value"],
      [
        ["function start-up ms", f1(r.startup.functionMedianMs)],
        ["bare Deno.serve start-up ms", f1(r.startup.bareMedianMs)],
        ["start-up × bare", f2(r.startup.ratio)],
        ["local modules (bytes)", `${r.moduleGraph.localModules} (${r.moduleGraph.localBytes})`],
        [
          "npm packages (bytes on disk)",
          `${r.moduleGraph.npmPackages} (${r.moduleGraph.npmBytes})`,
        ],
        ["function memory idle MiB (VmRSS)", f1(r.memory.idleMiB)],
        ["function peak memory MiB (VmHWM)", f1(r.memory.peakMiB)],
      ],
    ),
    "",
    "Targets",
    ...table(
      ["target", "measured", "met"],
      r.targets.map((t) => [t.target, t.measured, yesNo(t.met)]),
    ),
  ];
  return lines.join("\n");
}

function levelRow(path: string, l: LevelResult, ratio: string): string[] {
  return [
    path,
    String(l.concurrency),
    f0(l.eventsPerSecond),
    f1(l.p50Ms),
    f1(l.p95Ms),
    f1(l.p99Ms),
    String(l.errors),
    `${l.tableExact ? "exact" : "WRONG"} ${l.rows}/${l.expectedRows}`,
    ratio,
  ];
}

function cpuRow(path: string, l: LevelResult): string[] {
  const c: CpuTimes = l.cpuMicros;
  const total = c.function + c.standIn + c.client + c.benchOther + c.postgres;
  return [
    path,
    String(l.concurrency),
    ...[c.function, c.standIn, c.client, c.benchOther, c.postgres, total].map(f0),
  ];
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    "  " +
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(
      "  ",
    );
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
}

function f0(n: number): string {
  return n.toFixed(0);
}

function f1(n: number): string {
  return n.toFixed(1);
}

function f2(n: number): string {
  return n.toFixed(2);
}

function yesNo(value: boolean): string {
  return value ? "yes" : "NO";
}
