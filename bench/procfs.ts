// Where the time goes, from /proc: CPU time of the function process, of this process's threads
// (the stand-in runs on the main thread, the load on a Worker thread) and of PostgreSQL.

/** CPU milliseconds spent so far by each part of the stack. */
export interface CpuTimes {
  /** The function's Deno process (every thread). */
  function: number;
  /** This process's main thread: the PostgREST stand-in (and the function's log pump). */
  standIn: number;
  /** The Worker thread that posts the deliveries. */
  client: number;
  /** This process's other threads (V8 garbage collection, Deno's I/O and crypto pool). */
  benchOther: number;
  /** The postmaster and every backend, including backends that have exited. */
  postgres: number;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** The pid of this process's child running `script` (the function started by the local stack). */
export function childPid(script: string): number {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    try {
      if (parentOf(pid) !== Deno.pid) continue;
      const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
      if (cmdline.some((arg) => arg.endsWith(script))) return pid;
    } catch {
      // Ended while we looked.
    }
  }
  throw new Error(`no child process runs ${script}`);
}

/** The postmaster's pid, from the data directory of a pg_cluster.ts cluster. */
export function postmasterPid(dataDir: string): number {
  return Number(Deno.readTextFileSync(`${dataDir}/data/postmaster.pid`).split("\n")[0]);
}

/** Peak and current resident memory of a process, in MiB (VmHWM and VmRSS). */
export function memoryMiB(pid: number): { peak: number; current: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { peak: kb("VmHWM") / 1024, current: kb("VmRSS") / 1024 };
}

/** Reads the CPU times of the stack's parts now; `client` is what the load Worker reported. */
export function cpuTimes(functionPid: number, postmaster: number, client = 0): CpuTimes {
  const process = cpuMs("/proc/self/stat");
  const standIn = cpuMs(`/proc/self/task/${Deno.pid}/stat`);
  let postgres = cpuMs(`/proc/${postmaster}/stat`, true);
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      if (parentOf(Number(entry.name)) === postmaster) {
        postgres += cpuMs(`/proc/${entry.name}/stat`);
      }
    } catch {
      // Exited: its time is in the postmaster's children times from now on.
    }
  }
  return {
    function: cpuMs(`/proc/${functionPid}/stat`),
    standIn,
    client,
    benchOther: process - standIn - client,
    postgres,
  };
}

/** CPU milliseconds of the calling thread (the load Worker reports its own). */
export function threadCpuMs(): number {
  return cpuMs("/proc/thread-self/stat");
}

/** `after - before`, per part, in microseconds per event. */
export function perEventMicros(before: CpuTimes, after: CpuTimes, events: number): CpuTimes {
  const per = (key: keyof CpuTimes) => ((after[key] - before[key]) * 1000) / events;
  return {
    function: per("function"),
    standIn: per("standIn"),
    client: per("client"),
    benchOther: per("benchOther"),
    postgres: per("postgres"),
  };
}

// Fields after the command name (which may hold spaces): state is 3, utime 14, stime 15,
// cutime 16, cstime 17 (man 5 proc).
function statFields(path: string): string[] {
  const text = Deno.readTextFileSync(path);
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

function cpuMs(path: string, withChildren = false): number {
  const f = statFields(path);
  const ticks = Number(f[11]) + Number(f[12]) + (withChildren ? Number(f[13]) + Number(f[14]) : 0);
  return ticks * TICK_MS;
}

function parentOf(pid: number): number {
  return Number(statFields(`/proc/${pid}/stat`)[1]);
}
