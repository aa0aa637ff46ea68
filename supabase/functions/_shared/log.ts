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

/**
 * The most characters of one value in a log line (its escapes included). The longest message this
 * project writes itself (a ConfigError naming both Clerk keys) is about 300 characters, so a
 * value is cut only when it carries something from outside: a token header, Clerk's or the
 * database's words.
 */
export const MAX_VALUE_CHARS = 500;

// One character, or a surrogate pair kept whole.
const UNIT = /[\ud800-\udbff][\udc00-\udfff]|[\s\S]/g;

/**
 * A value as it may appear inside a log line: control characters escaped as `\n`, `\u001b`,
 * and cut after {@linkcode MAX_VALUE_CHARS} characters with a marker saying how many were left
 * out (`…[39500 more characters]`).
 */
export function printable(value: unknown): string {
  const text = String(value);
  if (text.length <= MAX_VALUE_CHARS) {
    const escaped = escape(text);
    if (escaped.length <= MAX_VALUE_CHARS) return escaped;
  }
  // Only the head is looked at: the cost does not grow with the value.
  let kept = "";
  let used = 0;
  for (const [unit] of text.slice(0, MAX_VALUE_CHARS + 2).matchAll(UNIT)) {
    const shown = escape(unit);
    if (kept.length + shown.length > MAX_VALUE_CHARS) break;
    kept += shown;
    used += unit.length;
  }
  return `${kept}…[${text.length - used} more characters]`;
}

/** A template tag that passes every interpolated value through {@linkcode printable}. */
export function logLine(strings: TemplateStringsArray, ...values: unknown[]): string {
  let line = strings[0];
  values.forEach((value, i) => line += printable(value) + strings[i + 1]);
  return line;
}

function escape(text: string): string {
  return text.replace(
    UNSAFE,
    (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
