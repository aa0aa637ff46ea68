/** Progress output: a redrawn bar on a terminal, periodic plain lines otherwise. */

/** Where progress goes (stderr in the CLI, a recorder in tests). */
export interface ProgressOutput {
  /** Whether the output is a terminal (a bar is redrawn in place) or a log/pipe (plain lines). */
  readonly isTerminal: boolean;
  write(text: string): void;
}

/** Tracks one run. */
export interface Progress {
  /** `done` objects out of `total` (the total may change while Clerk gains or loses some). */
  update(done: number, total: number): void;
  /** Draws the final state and ends the bar's line. */
  finish(): void;
}

/** Options of {@linkcode createProgress}. */
export interface ProgressOptions {
  /** What is being done, e.g. "backfill users" or "reconcile organizations". */
  label: string;
  /** What is counted, for the rate (default "users": "500 users/s"). */
  unit?: string;
  /** Objects already done before this run (a resumed run), excluded from the rate. */
  startDone?: number;
  /** Interval between plain lines (default 5000 ms). */
  lineIntervalMs?: number;
  /** Clock in milliseconds (default performance.now). */
  now?: () => number;
}

const BAR_WIDTH = 28;
const REDRAW_MS = 100;

/** A progress display on `out`. */
export function createProgress(out: ProgressOutput, options: ProgressOptions): Progress {
  const now = options.now ?? (() => performance.now());
  const startDone = options.startDone ?? 0;
  const lineIntervalMs = options.lineIntervalMs ?? 5000;
  const unit = options.unit ?? "users";
  const started = now();
  let lastDraw = -Infinity;
  let done = startDone;
  let total = 0;

  function render(): string {
    const elapsedS = Math.max((now() - started) / 1000, 1e-3);
    const rate = (done - startDone) / elapsedS;
    const remaining = Math.max(total - done, 0);
    const eta = rate > 0 ? formatDuration(remaining / rate) : "--:--";
    const percent = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
    const counts = `${fmt(done)}/${fmt(total)} ${String(percent).padStart(3)}%`;
    const tail = `${fmt(Math.round(rate))} ${unit}/s  ETA ${eta}`;
    if (!out.isTerminal) return `${options.label}: ${counts}, ${tail}`;
    const filled = total > 0 ? Math.min(BAR_WIDTH, Math.round((done / total) * BAR_WIDTH)) : 0;
    const bar = "█".repeat(filled) + "░".repeat(BAR_WIDTH - filled);
    return `${options.label} ${bar} ${counts}  ${tail}`;
  }

  function draw(force: boolean): void {
    const t = now();
    if (!force && t - lastDraw < (out.isTerminal ? REDRAW_MS : lineIntervalMs)) return;
    lastDraw = t;
    out.write(out.isTerminal ? `\r${render()}\x1b[K` : `${render()}\n`);
  }

  return {
    update(nextDone, nextTotal) {
      done = nextDone;
      total = Math.max(nextTotal, nextDone);
      draw(false);
    },
    finish() {
      draw(true);
      if (out.isTerminal) out.write("\n");
    },
  };
}

/** A progress that prints nothing. */
export const silentProgress: Progress = { update() {}, finish() {} };

/** 1234567 → "1,234,567". */
export function fmt(n: number): string {
  return n.toLocaleString("en-US");
}

/** Seconds → "m:ss" or "h:mm:ss". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}
