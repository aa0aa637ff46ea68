// The printed table of `npm run bench`: the same figures as bench/results/latest.json.
import type { BackfillBenchResult } from "./backfill_bench.ts";
import type { DeepPagingResult } from "./deep_paging_bench.ts";
import type { Comparison, PhaseResult } from "./compare.ts";
import type { CpuCase } from "./cpu_cost.ts";
import type { LevelResult, StormResult } from "./e2e.ts";
import type { JwksFloodResult } from "./jwks_flood_bench.ts";
import type { LoadResult } from "./load.ts";
import type { CpuTimes } from "./procfs.ts";
import type { OrgRlsBenchResult } from "./org_rls_bench.ts";
import type { ProfileSyncBenchResult } from "./profile_sync_bench.ts";
import { formatRatio, median, type RatioSummary } from "./ratio.ts";
import type { ModuleGraph, StartupResult } from "./startup.ts";
import type { TokenCostResult } from "./token_cost_bench.ts";

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

/** A ratio target: the pairs' median against a bound. */
export interface RatioRow {
  name: string;
  ratio: RatioSummary;
  /** `<= 1.5`, `>= 0.8`. */
  target: string;
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
  /** The function, the peer and the relay in interleaved rounds. */
  comparison: Comparison;
  startup: StartupResult;
  moduleGraph: ModuleGraph;
  backfill: BackfillBenchResult;
  /** A backfill past the depth where offset paging slows down (bench/deep_paging_bench.ts). */
  deepPaging: DeepPagingResult;
  /** clerk-profile-sync (bench/profile_sync_bench.ts). */
  profileSync: ProfileSyncBenchResult;
  /** Organization-scoped RLS (bench/org_rls_bench.ts). */
  orgRls: OrgRlsBenchResult;
  /** clerk-profile-sync without CLERK_JWT_KEY under unknown key ids (bench/jwks_flood_bench.ts). */
  jwksFlood: JwksFloodResult;
  /** clerk-profile-sync's refused tokens (bench/token_cost_bench.ts). */
  tokenCost: TokenCostResult;
  /** Every ratio target, from interleaved pairs. */
  ratios: RatioRow[];
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
    "entrypoint → supabase-js → PostgREST stand-in → PostgreSQL; SQL floor, for context: " +
    "postgres.js → public.sync_clerk_user as service_role)",
    ...table(
      ["path", "c", "events/s", "p50 ms", "p95 ms", "p99 ms", "errors", "table", "× SQL floor"],
      r.endToEnd.flatMap((l) => [
        levelRow("function", l.function, f2(l.ratio)),
        levelRow("SQL floor", l.floor, ""),
      ]).concat([levelRow("stand-in alone", r.standInAlone, "")]),
    ),
    "",
    "   CPU µs per event by part of the stack (from /proc)",
    ...table(
      ["path", "c", "function", "stand-in", "client", "bench other", "postgres", "total"],
      r.endToEnd.flatMap((l) => [cpuRow("function", l.function), cpuRow("SQL floor", l.floor)])
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
        ["start-up × bare, median (min-max) of pairs", formatRatio(r.startup.ratio)],
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
    ...comparisonSection(r.comparison),
    "",
    `6. Backfill, ${r.backfill.users} users (floor: postgres.js, one upsert per 500 rows), ` +
    `${r.backfill.pairs.length} interleaved pairs`,
    ...table(
      ["pair", "floor users/s", "backfill users/s", "ratio"],
      r.backfill.pairs.map((p, i) => [
        String(i + 1),
        f0(p.floorRate),
        f0(p.backfillRate),
        f2(p.ratio),
      ]),
    ),
    "",
    "Ratios (each pair run back to back; median (min-max) of the pairs)",
    ...table(
      ["ratio", "pairs", "per pair", "median (min-max)", "target"],
      r.ratios.map((row) => [
        row.name,
        String(row.ratio.runs.length),
        row.ratio.runs.length > 3 ? "(see JSON)" : row.ratio.runs.map(f2).join(", "),
        formatRatio(row.ratio),
        row.target,
      ]),
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

function comparisonSection(c: Comparison): string[] {
  const rounds = c.rounds;
  const phase = (
    path: string,
    name: string,
    pick: (round: Comparison["rounds"][number]) => LoadResult & Partial<PhaseResult>,
  ) => {
    const runs = rounds.map(pick);
    const eps = runs.map((x) => x.eventsPerSecond);
    const wrong = runs.map((x) => (x.wrong ? String(x.wrong.wrong) : "-")).join("/");
    return [
      path,
      name,
      String(runs[0].events),
      `${f0(median(eps))} (${f0(Math.min(...eps))}-${f0(Math.max(...eps))})`,
      f1(median(runs.map((x) => x.p50Ms))),
      f1(median(runs.map((x) => x.p99Ms))),
      String(runs.reduce((n, x) => n + x.errors, 0)),
      wrong,
    ];
  };
  const whole = (path: "function" | "peer") => {
    const eps = rounds.map((round) => round[path].eventsPerSecond);
    return [
      path,
      "whole stream",
      String(rounds[0][path].unique.events + rounds[0][path].faults.events),
      `${f0(median(eps))} (${f0(Math.min(...eps))}-${f0(Math.max(...eps))})`,
      "",
      "",
      "",
      "",
    ];
  };
  const relayWrong = rounds.map((round) => round.relay.tableExact ? "exact" : "WRONG").join("/");
  const f = c.faultCounts;
  const cpu = (
    path: string,
    name: string,
    pick: (round: Comparison["rounds"][number]) => CpuTimes,
  ) => {
    const parts = rounds.map(pick);
    const at = (key: keyof CpuTimes) => median(parts.map((p) => p[key]));
    const keys: (keyof CpuTimes)[] = ["function", "standIn", "client", "benchOther", "postgres"];
    return [path, name, ...keys.map((k) => f0(at(k))), f0(keys.reduce((n, k) => n + at(k), 0))];
  };
  const breakdown = (path: "function" | "peer") =>
    rounds.map((round, i) => {
      const w = round[path].faults.wrong;
      return `round ${
        i + 1
      }: ${w.resurrected} resurrected, ${w.stale} stale, ${w.missing} missing ` +
        `of ${w.users} users`;
    }).join("; ");
  return [
    `5. The function, the peer (the guides' handler) and the relay floor at c = ${c.concurrency}: ` +
    `${rounds.length} interleaved rounds (order per round: ${rounds[0].order.join(", ")}, then ` +
    "reversed); medians over the rounds",
    `   stream: ${c.uniqueEvents} unique events, then the fault mix: ${f.events} Clerk events of ` +
    `${f.users} users sent as ${f.deliveries} deliveries (${f.redelivered} redelivered, ` +
    `${f.outOfOrder} out of order, ${f.lateAfterDelete} deletions followed by a late older ` +
    "update); the relay gets the unique events as RPC arguments",
    ...table(
      [
        "path",
        "phase",
        "deliveries",
        "events/s (min-max)",
        "p50 ms",
        "p99 ms",
        "errors",
        "wrong rows",
      ],
      [
        [
          ...phase("relay", "unique", (round) => round.relay).slice(0, 7),
          `table ${relayWrong}`,
        ],
        phase("function", "unique", (round) => round.function.unique),
        phase("function", "fault mix", (round) => round.function.faults),
        whole("function"),
        phase("peer", "unique", (round) => round.peer.unique),
        phase("peer", "fault mix", (round) => round.peer.faults),
        whole("peer"),
      ],
    ),
    "   wrong rows: rows of the phase that differ from Clerk's final state, counted from the " +
    "table, per round",
    `   peer, fault mix: ${breakdown("peer")}`,
    `   function, fault mix: ${breakdown("function")}`,
    "",
    "   CPU µs per delivery by part of the stack (from /proc; the path's own process first)",
    ...table(
      ["path", "phase", "process", "stand-in", "client", "bench other", "postgres", "total"],
      [
        cpu("relay", "unique", (round) => round.relay.cpuMicros),
        cpu("function", "unique", (round) => round.function.unique.cpuMicros),
        cpu("function", "fault mix", (round) => round.function.faults.cpuMicros),
        cpu("peer", "unique", (round) => round.peer.unique.cpuMicros),
        cpu("peer", "fault mix", (round) => round.peer.faults.cpuMicros),
      ],
    ),
  ];
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
