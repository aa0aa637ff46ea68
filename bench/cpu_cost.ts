// Runs bench/verify_bench.ts with `deno bench --json` in its own process and reads the figures.

const ROOT = new URL("../", import.meta.url).pathname;
/** The name verify_bench.ts gives the synchronous HMAC case. */
const SYNC_HMAC = "node:crypto";

/** One Deno.bench case: average and p75 microseconds per event, and the ratio to its floor. */
export interface CpuCase {
  group: string;
  name: string;
  avgMicros: number;
  p75Micros: number;
  /** `avgMicros` over the group's baseline (the WebCrypto floor) average. */
  ratioToFloor: number;
  /** `avgMicros` over the synchronous node:crypto HMAC's average (no async dispatch). */
  ratioToSyncHmac: number;
}

interface BenchJson {
  benches: {
    group: string;
    name: string;
    baseline: boolean;
    results: { ok?: { avg: number; p75: number } }[];
  }[];
}

/** Runs the per-event CPU benchmarks (about 15 s) and returns one row per case. */
export async function measureCpuCost(): Promise<CpuCase[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["bench", "--allow-all", "--frozen", "--json", "bench/verify_bench.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(`deno bench failed:\n${new TextDecoder().decode(output.stderr)}${text}`);
  }
  const { benches }: BenchJson = JSON.parse(text);
  const floors = new Map<string, number>();
  const syncHmacs = new Map<string, number>();
  for (const b of benches) {
    if (b.baseline) floors.set(b.group, okResult(b).avg);
    if (b.name.startsWith(SYNC_HMAC)) syncHmacs.set(b.group, okResult(b).avg);
  }
  return benches.map((b) => {
    const { avg, p75 } = okResult(b);
    return {
      group: b.group,
      name: b.name,
      avgMicros: avg / 1000,
      p75Micros: p75 / 1000,
      ratioToFloor: avg / (floors.get(b.group) ?? Number.NaN),
      ratioToSyncHmac: avg / (syncHmacs.get(b.group) ?? Number.NaN),
    };
  });
}

function okResult(bench: BenchJson["benches"][number]): { avg: number; p75: number } {
  const ok = bench.results[0]?.ok;
  if (!ok) throw new Error(`bench "${bench.name}" failed`);
  return ok;
}
