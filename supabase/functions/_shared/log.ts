/** Where the function writes its log lines (console in production, a recorder in tests). */
export interface Logger {
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
}

/** Logs to the console, which Supabase shows in the function's logs. */
export const consoleLogger: Logger = {
  info: (line) => console.log(line),
  warn: (line) => console.warn(line),
  error: (line) => console.error(line),
};

// C0 and C1 controls, DEL, the line and paragraph separators, bidirectional overrides and
// isolates, and lone surrogates: what could end a line, forge another or restyle a terminal.
const UNSAFE =
  // deno-lint-ignore no-control-regex -- matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const SHORT: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** A value as it may appear inside a log line: control characters escaped as `\n`, `\u001b`. */
export function printable(value: unknown): string {
  return String(value).replace(
    UNSAFE,
    (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** A template tag that passes every interpolated value through {@linkcode printable}. */
export function logLine(strings: TemplateStringsArray, ...values: unknown[]): string {
  let line = strings[0];
  values.forEach((value, i) => line += printable(value) + strings[i + 1]);
  return line;
}
