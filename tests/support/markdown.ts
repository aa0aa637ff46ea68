/**
 * What tests/docs_test.ts reads in the project's Markdown: fenced blocks with their info strings
 * and shown output, relative links, heading anchors as GitHub makes them, and inline code spans
 * broken across lines. CommonMark (spec.commonmark.org 0.31) for fences and code spans; GitHub's
 * heading ids follow github-slugger (lowercase, punctuation dropped, spaces to `-`, `-1`, `-2` for
 * repeats), which github.com uses for rendered Markdown.
 */

/** A fenced code block. */
export interface Fence {
  /** 1-based line of the opening fence. */
  line: number;
  /** The info string's first word (`sh`), lowercased; "" when there is none. */
  lang: string;
  /** The info string's other words: the doc test's marks (`dev`, `project`, ...). */
  marks: string[];
  /** The content, without the fence lines and the fence's indentation. */
  text: string;
  /** The block right after this one (only blank lines between) when its language is `text`. */
  output?: Fence;
}

/** Languages whose blocks are shell commands. */
export const SHELL_LANGS = new Set([
  "sh",
  "bash",
  "shell",
  "zsh",
  "console",
  "shell-session",
  "shellsession",
  "sh-session",
  "terminal",
]);

const OPEN = /^( {0,3})(`{3,}|~{3,})\s*([^`]*)$/;

/** The fenced blocks of `markdown`, in order; each `text` block after another is its output. */
export function fences(markdown: string): Fence[] {
  const lines = markdown.split("\n");
  const found: { fence: Fence; end: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = OPEN.exec(lines[i]);
    if (!open) continue;
    const [, indent, marker] = open;
    const words = open[3].trim().split(/\s+/).filter(Boolean);
    const close = new RegExp(`^ {0,3}${marker[0] === "`" ? "`" : "~"}{${marker.length},}\\s*$`);
    let end = i + 1;
    while (end < lines.length && !close.test(lines[end])) end++;
    const body = lines.slice(i + 1, end).map((l) =>
      l.startsWith(indent) ? l.slice(indent.length) : l.trimStart()
    );
    found.push({
      fence: {
        line: i + 1,
        lang: (words[0] ?? "").toLowerCase(),
        marks: words.slice(1),
        text: body.length ? body.join("\n") + "\n" : "",
      },
      end,
    });
    i = end;
  }
  for (let k = 1; k < found.length; k++) {
    const between = lines.slice(found[k - 1].end + 1, found[k].fence.line - 1);
    if (found[k].fence.lang === "text" && between.every((l) => l.trim() === "")) {
      found[k - 1].fence.output = found[k].fence;
    }
  }
  return found.map((f) => f.fence);
}

/** The lines of `markdown` outside fenced blocks, with their 1-based numbers. */
export function proseLines(markdown: string): { line: number; text: string }[] {
  const lines = markdown.split("\n");
  const inFence = new Set<number>();
  for (const fence of fences(markdown)) {
    const count = fence.text === "" ? 0 : fence.text.split("\n").length - 1;
    for (let n = fence.line; n <= fence.line + count + 1; n++) inFence.add(n);
  }
  return lines.flatMap((text, i) => inFence.has(i + 1) ? [] : [{ line: i + 1, text }]);
}

/**
 * The inline code spans opened on `line` and not closed on it (a backtick run with no run of the
 * same length after it): what a reader cannot paste.
 */
export function brokenCodeSpans(line: string): string[] {
  const broken: string[] = [];
  let at = 0;
  while (at < line.length) {
    const open = line.indexOf("`", at);
    if (open < 0) break;
    if (open > 0 && line[open - 1] === "\\") {
      at = open + 1;
      continue;
    }
    let length = 1;
    while (line[open + length] === "`") length++;
    const run = "`".repeat(length);
    let close = line.indexOf(run, open + length);
    // A run of the same length, not part of a longer run.
    while (close >= 0 && line[close + length] === "`") {
      let skip = close;
      while (line[skip] === "`") skip++;
      close = line.indexOf(run, skip);
    }
    if (close < 0) {
      broken.push(line.slice(open));
      break;
    }
    at = close + length;
  }
  return broken;
}

/** `line` without its inline code spans (so links inside code are not read as links). */
export function withoutCodeSpans(line: string): string {
  return line.replace(/(`+)(?:(?!\1)[\s\S])*?\1/g, "");
}

/** The targets of the inline links and images on `line` (outside code spans). */
export function linkTargets(line: string): string[] {
  const targets: string[] = [];
  for (
    const match of withoutCodeSpans(line).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)
  ) {
    targets.push(match[1]);
  }
  return targets;
}

/** A heading's id on GitHub, before the `-1`, `-2` of repeats. */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // links and images: their text
    .replace(/<[^>]+>/g, "") // inline HTML
    .replace(/`/g, "")
    .replace(/(\*\*|__|\*|~~)/g, "");
  return text.trim().toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replace(/ /g, "-");
}

/** The anchors of every ATX heading of `markdown` (outside fenced blocks), repeats numbered. */
export function headingAnchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const { text } of proseLines(markdown)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(text);
    if (!heading) continue;
    const slug = githubSlug(heading[1]);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/**
 * What varies from run to run in the output of the documented commands, masked the same way in
 * the shown and the real output: ports, keys, secrets, passwords, svix ids, times, durations.
 */
const VOLATILE: [RegExp, string][] = [
  [/127\.0\.0\.1:\d+/g, "127.0.0.1:<port>"],
  [/postgres(ql)?:\/\/([^:@\s]+):[^@\s]+@/g, "postgres$1://$2:<password>@"],
  [/sk_(test|live)_[A-Za-z0-9]+/g, "sk_$1_<key>"],
  [/whsec_[A-Za-z0-9+/=]+/g, "whsec_<secret>"],
  [/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, "<jwt>"],
  [/msg_[A-Za-z0-9]+/g, "msg_<id>"],
  [/\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d(:\d\d)?)?/g, "<time>"],
  [/\d+(\.\d+)? (ms|s)\b/g, "<n> $2"],
  [/\d+(\.\d+)?\/s\b/g, "<n>/s"],
  [/\d+ (users|organizations|memberships)\/s/g, "<n> $1/s"],
];

/** `line` with its volatile parts masked (see {@linkcode VOLATILE}) and trailing blanks dropped. */
export function masked(line: string): string {
  let out = line.trimEnd();
  for (const [pattern, replacement] of VOLATILE) out = out.replace(pattern, replacement);
  return out;
}

/** A pattern for `line`, `...` standing for any text. */
function linePattern(line: string): RegExp {
  const parts = line.split("...").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${parts.join(".*")}$`);
}

/**
 * The lines of `shown` (a documented output) that no line of `actual` matches. A shown line
 * matches a real one when both are equal once masked (see {@linkcode masked}), or as they are,
 * `...` standing for any text either way; blank lines and lines that are only `...` (left-out
 * lines) are not checked. Order is not checked: two processes' log lines come in either order.
 */
export function unmatchedLines(shown: string, actual: string): string[] {
  const raw = actual.split("\n").map((l) => l.trimEnd());
  const real = raw.map(masked);
  return shown.split("\n").filter((line) => {
    if (line.trim() === "" || line.trim() === "...") return false;
    const exact = linePattern(line.trimEnd());
    const loose = linePattern(masked(line));
    return !raw.some((l) => exact.test(l)) && !real.some((l) => loose.test(l));
  });
}
