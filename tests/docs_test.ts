// The docs cannot drift from the code: README.md, BENCHMARKS.md and docs/*.md are read as a
// reader copies from them. Every fenced block names its language; every shell block carries one
// mark in its info string (```sh dev):
//
//   dev          run here, against `npm run dev`: the blocks of a page run in order in one bash
//                session (`set -euo pipefail`, from the repository root, a terminal's environment
//                without node_modules/.bin on PATH), and a ```text block right after one is its
//                shown output, whose lines must appear in what it printed (tests/support/
//                markdown.ts: ports, keys and times masked; `...` stands for any text).
//   dev-server   `npm run dev` itself (the first terminal; variables before it allowed): the test
//                starts dev with exactly that command and checks its shown output; a page's `dev`
//                blocks run against the dev its last `dev-server` block started, or a plain
//                `npm run dev`, in a session that outlives the restart as a second terminal does.
//   fresh-clone  the commands of a fresh clone: exactly what .ci/run runs (npm test cannot run
//                itself).
//   project      needs a real Supabase project or Clerk instance (or Docker): not run, `bash -n`.
//   local        runs on this machine but is not run here (minutes long, or changes the
//                checkout: npm test, npm run bench, the lock update): `bash -n`.
//
// Each page gets its own state file (CLERK_SYNC_DEV_STATE) and TMPDIR for its dev and its session,
// so a developer's own `npm run dev` is neither used nor disturbed. Relative links must resolve (files, and #anchors
// as GitHub makes them), and no inline code span may be broken across lines.
import assert from "node:assert/strict";
import {
  brokenCodeSpans,
  type Fence,
  fences,
  headingAnchors,
  linkTargets,
  proseLines,
  SHELL_LANGS,
  unmatchedLines,
} from "./support/markdown.ts";
import { cleanEnv } from "./support/command.ts";
import { type DevProcess, startDev } from "./e2e/dev_process.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const MARKS = ["dev", "dev-server", "fresh-clone", "project", "local"];
const README_MAX_LINES = 250;
const FRESH_CLONE_WITHIN = 60;
const BLOCK_TIMEOUT_MS = 180_000;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

interface Page {
  /** Path from the repository root. */
  path: string;
  text: string;
  fences: Fence[];
}

function readPages(): Page[] {
  const docs = [...Deno.readDirSync(`${ROOT}docs`)]
    .filter((e) => e.isFile && e.name.endsWith(".md"))
    .map((e) => `docs/${e.name}`)
    .sort();
  return ["README.md", "BENCHMARKS.md", ...docs].map((path) => {
    const text = Deno.readTextFileSync(`${ROOT}${path}`);
    return { path, text, fences: fences(text) };
  });
}

const PAGES = readPages();

function shellBlocks(page: Page): Fence[] {
  return page.fences.filter((f) => SHELL_LANGS.has(f.lang));
}

function where(page: Page, fence: Fence): string {
  return `${page.path}:${fence.line}`;
}

/** A terminal's PATH: npm adds node_modules/.bin for its scripts, a shell does not. */
function terminalPath(): string {
  return (Deno.env.get("PATH") ?? "").split(":").filter((d) => !d.includes("node_modules"))
    .join(":");
}

/** The commands of a script or block: no comments, blank lines, `set` or `cd`. */
function commands(text: string): string[] {
  return text.split("\n").map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#") && !/^(set|cd|git clone) /.test(l));
}

Deno.test("docs: every fenced block names its language, every shell block one known mark", () => {
  const problems: string[] = [];
  for (const page of PAGES) {
    for (const fence of page.fences) {
      if (fence.lang === "") problems.push(`${where(page, fence)}: a fence without a language`);
      if (!SHELL_LANGS.has(fence.lang)) continue;
      const marks = fence.marks.filter((m) => MARKS.includes(m));
      if (marks.length !== 1 || fence.marks.length !== 1) {
        problems.push(
          `${where(page, fence)}: ${fence.lang} block marked "${fence.marks.join(" ")}"; ` +
            `give it exactly one of ${MARKS.join(", ")}`,
        );
      }
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("docs: the README's fresh-clone block is what .ci/run runs, within its first lines", () => {
  const readme = PAGES.find((p) => p.path === "README.md")!;
  const blocks = readme.fences.filter((f) => f.marks.includes("fresh-clone"));
  assert.equal(blocks.length, 1, "one fresh-clone block in README.md");
  assert.ok(
    blocks[0].line + blocks[0].text.split("\n").length <= FRESH_CLONE_WITHIN,
    `the fresh-clone block ends within the first ${FRESH_CLONE_WITHIN} lines`,
  );
  const ci = Deno.readTextFileSync(`${ROOT}.ci/run`);
  assert.deepEqual(commands(blocks[0].text), commands(ci));
  for (const page of PAGES) {
    for (const fence of page.fences.filter((f) => f.marks.includes("fresh-clone"))) {
      assert.deepEqual(commands(fence.text), commands(ci), where(page, fence));
    }
  }
});

Deno.test("docs: README.md is at most 250 lines and links every page of docs/", () => {
  const readme = PAGES.find((p) => p.path === "README.md")!;
  const lines = readme.text.trimEnd().split("\n").length;
  assert.ok(lines <= README_MAX_LINES, `README.md has ${lines} lines`);
  const linked = new Set(
    proseLines(readme.text).flatMap((l) => linkTargets(l.text)).map((t) => t.split("#")[0]),
  );
  const missing = PAGES.filter((p) => p.path.startsWith("docs/") && !linked.has(p.path));
  assert.deepEqual(missing.map((p) => p.path), []);
});

Deno.test("docs: every shell block parses (bash -n)", async () => {
  const problems: string[] = [];
  for (const page of PAGES) {
    for (const fence of shellBlocks(page)) {
      const output = await new Deno.Command("bash", {
        args: ["-n"],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = output.stdin.getWriter();
      await writer.write(encoder.encode(fence.text));
      await writer.close();
      const result = await output.output();
      if (!result.success) {
        problems.push(`${where(page, fence)}: ${decoder.decode(result.stderr).trim()}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("docs: relative links resolve, to files and to headings as GitHub names them", () => {
  const problems: string[] = [];
  const anchors = new Map(PAGES.map((p) => [p.path, headingAnchors(p.text)]));
  for (const page of PAGES) {
    const dir = page.path.includes("/") ? page.path.slice(0, page.path.lastIndexOf("/") + 1) : "";
    for (const { line, text } of proseLines(page.text)) {
      for (const target of linkTargets(text)) {
        if (/^[a-z][a-z+.-]*:/i.test(target)) continue; // https:, mailto:
        const [file, anchor] = target.split("#");
        const path = file === "" ? page.path : new URL(file, `file:///${dir}`).pathname.slice(1);
        try {
          Deno.statSync(`${ROOT}${path}`);
        } catch {
          problems.push(`${page.path}:${line}: ${target}: no ${path}`);
          continue;
        }
        if (anchor === undefined) continue;
        const known = anchors.get(path) ??
          (path.endsWith(".md") ? headingAnchors(Deno.readTextFileSync(`${ROOT}${path}`)) : null);
        if (!known?.has(anchor)) {
          problems.push(`${page.path}:${line}: ${target}: no heading #${anchor}`);
        }
      }
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("docs: no inline code span is broken across lines", () => {
  const problems: string[] = [];
  for (const page of PAGES) {
    for (const { line, text } of proseLines(page.text)) {
      for (const span of brokenCodeSpans(text)) problems.push(`${page.path}:${line}: ${span}`);
    }
  }
  assert.deepEqual(problems, []);
});

/** What a block printed, and whether the session survived it. */
type BlockResult = { ok: true; output: string } | { ok: false; output: string; code: number };

/** One bash session, as a terminal: blocks are sent one at a time and their output collected. */
interface Session {
  /** Runs `text` in the session (stdin from /dev/null); resolves with what it printed. */
  run(text: string): Promise<BlockResult>;
  close(): Promise<void>;
}

function openSession(env: Record<string, string>): Session {
  const child = new Deno.Command("bash", {
    args: ["--noprofile", "--norc"],
    cwd: ROOT,
    clearEnv: true,
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const sentinel = `@@docs-test-${crypto.randomUUID()}@@`;
  let buffer = "";
  let ended: Deno.CommandStatus | undefined;
  let count = 0;
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) buffer += chunk;
  };
  const pumps = Promise.all([collect(child.stdout), collect(child.stderr)]);
  child.status.then((s) => ended = s);

  return {
    async run(text) {
      const n = ++count;
      const marker = `${sentinel}${n}`;
      const start = buffer.length;
      const prologue = n === 1 ? "exec 2>&1\nset -euo pipefail\n" : "";
      await writer.write(
        encoder.encode(`${prologue}{\n${text}\n} </dev/null\nprintf '\\n%s\\n' '${marker}'\n`),
      );
      const deadline = Date.now() + BLOCK_TIMEOUT_MS;
      for (;;) {
        const at = buffer.indexOf(`\n${marker}\n`, start);
        if (at >= 0) {
          const output = buffer.slice(start, at);
          buffer = buffer.slice(0, start) + buffer.slice(at + marker.length + 2);
          return { ok: true, output };
        }
        if (ended) {
          await pumps;
          return { ok: false, output: buffer.slice(start), code: ended.code };
        }
        if (Date.now() > deadline) {
          return { ok: false, output: `${buffer.slice(start)}\n(timed out)`, code: -1 };
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async close() {
      await writer.close().catch(() => {});
      if (!ended) {
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await child.status;
        clearTimeout(timer);
      }
      await pumps;
    },
  };
}

/** Starts `npm run dev` as `command` shows it, in a process group of its own; waits for its block. */
async function startPageDev(command: string, statePath: string): Promise<DevProcess> {
  const dev = await startDev({
    command: ["bash", "--noprofile", "--norc", "-c", command],
    env: {
      PATH: terminalPath(),
      npm_config_update_notifier: "false",
      CLERK_SYNC_DEV_STATE: statePath,
    },
  });
  try {
    await dev.ready(120_000);
    const deadline = Date.now() + 10_000;
    while (!dev.stdout.includes("# Stop with Ctrl-C.")) {
      if (Date.now() > deadline) throw new Error("dev printed no '# Stop with Ctrl-C.' line");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } catch (error) {
    await dev.dispose();
    throw error;
  }
  return dev;
}

async function stopPageDev(dev: DevProcess): Promise<void> {
  dev.signalGroup("SIGINT");
  const timer = setTimeout(() => dev.signalGroup("SIGKILL"), 20_000);
  await dev.status;
  clearTimeout(timer);
  await dev.dispose();
}

// `npm run dev`, its options, and variables set for it (`FUNCTION_DENO=... npm run dev`).
const DEV_COMMAND = /^([A-Z_]+=[\w./-]+ )*npm run dev( -- [a-z -]+)?$/;

for (const page of PAGES) {
  const run = shellBlocks(page).filter((f) => f.marks[0] === "dev" || f.marks[0] === "dev-server");
  if (!run.some((f) => f.marks[0] === "dev")) continue;
  Deno.test(`docs: ${page.path}: its dev blocks run in order against npm run dev`, async () => {
    // The page's terminal outlives a restart of dev (a dev-server block), as a user's second
    // terminal does: one session, one state file for every dev the page starts.
    const pageDir = await Deno.makeTempDir({ prefix: "clerk-sync-docs-test-" });
    const statePath = `${pageDir}/dev-stack.env`;
    let dev: DevProcess | undefined;
    let session: Session | undefined;
    const failures: string[] = [];
    try {
      for (const fence of run) {
        if (fence.marks[0] === "dev-server") {
          const command = commands(fence.text);
          assert.ok(
            command.length === 1 && DEV_COMMAND.test(command[0]),
            `${where(page, fence)}: a dev-server block holds one npm run dev command`,
          );
          if (dev) await stopPageDev(dev);
          dev = await startPageDev(command[0], statePath);
          if (fence.output) {
            const printed = [...dev.stdout, ...dev.stderr].join("\n");
            for (const line of unmatchedLines(fence.output.text, printed)) {
              failures.push(`${where(page, fence)}: npm run dev printed no line like: ${line}`);
            }
          }
          continue;
        }
        dev ??= await startPageDev("npm run dev", statePath);
        session ??= openSession(
          cleanEnv({
            PATH: terminalPath(),
            TMPDIR: pageDir,
            CLERK_SYNC_DEV_STATE: statePath,
            npm_config_update_notifier: "false",
          }),
        );
        const result = await session.run(fence.text);
        if (!result.ok) {
          throw new Error(
            `${where(page, fence)} failed (exit ${result.code}):\n${fence.text}\n--- output:\n` +
              `${result.output}\n--- dev's last lines:\n${dev.stderr.slice(-15).join("\n")}`,
          );
        }
        if (fence.output) {
          for (const line of unmatchedLines(fence.output.text, result.output)) {
            failures.push(
              `${
                where(page, fence)
              }: printed no line like: ${line}\n--- it printed:\n${result.output}`,
            );
          }
        }
      }
    } finally {
      await session?.close();
      if (dev) await stopPageDev(dev);
      await Deno.remove(pageDir, { recursive: true });
    }
    assert.deepEqual(failures, []);
  });
}
