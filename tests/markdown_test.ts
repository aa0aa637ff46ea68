// The Markdown reading of tests/docs_test.ts (tests/support/markdown.ts): fences and their marks,
// GitHub's heading ids, inline code spans broken across lines, and shown output against real.
import assert from "node:assert/strict";
import {
  brokenCodeSpans,
  fences,
  githubSlug,
  headingAnchors,
  linkTargets,
  unmatchedLines,
} from "./support/markdown.ts";

Deno.test("fences() reads the language, the marks, indented content and the shown output", () => {
  const text = [
    "Intro",
    "",
    "1. Step:",
    "",
    "   ```sh dev",
    "   npm run send -- user.created",
    "   ```",
    "",
    "   ```text",
    "   200 OK",
    "   ```",
    "",
    "````md",
    "```sh",
    "not a fence of its own",
    "```",
    "````",
  ].join("\n");
  const found = fences(text);
  assert.equal(found.length, 3);
  assert.deepEqual([found[0].lang, found[0].marks, found[0].line], ["sh", ["dev"], 5]);
  assert.equal(found[0].text, "npm run send -- user.created\n");
  assert.equal(found[0].output?.text, "200 OK\n");
  assert.equal(found[1].output, undefined);
  assert.equal(found[2].lang, "md");
  assert.equal(found[2].text, "```sh\nnot a fence of its own\n```\n");
});

Deno.test("fences() takes a text block as output only right after another block", () => {
  const found = fences("```sh dev\nls\n```\n\nIt prints:\n\n```text\nREADME.md\n```\n");
  assert.equal(found[0].output, undefined);
});

Deno.test("githubSlug() names headings as GitHub does", () => {
  assert.equal(githubSlug("Configuration (`clerk-webhook`)"), "configuration-clerk-webhook");
  assert.equal(githubSlug("What `deleted` and `stale` mean"), "what-deleted-and-stale-mean");
  assert.equal(
    githubSlug("9. Deep paging (`bench/deep_paging_bench.ts`)"),
    "9-deep-paging-benchdeep_paging_benchts",
  );
  assert.equal(
    githubSlug("Quick start: everything on your machine"),
    "quick-start-everything-on-your-machine",
  );
  assert.equal(
    githubSlug("In another terminal: `npm run dev-env`"),
    "in-another-terminal-npm-run-dev-env",
  );
  assert.equal(githubSlug("[Linked](x.md) **bold** heading"), "linked-bold-heading");
});

Deno.test("headingAnchors() numbers repeated headings and skips fenced ones", () => {
  const anchors = headingAnchors("# A\n\n## Setup\n\n```sh local\n# Setup\n```\n\n### Setup\n");
  assert.deepEqual([...anchors], ["a", "setup", "setup-1"]);
});

Deno.test("brokenCodeSpans() finds a span that does not close on its line", () => {
  assert.deepEqual(brokenCodeSpans("run `npm run reconcile --"), ["`npm run reconcile --"]);
  assert.deepEqual(brokenCodeSpans("`a` and ``b ` c`` and \\` alone"), []);
  assert.deepEqual(brokenCodeSpans("```` ```sh dev ```` marks"), []);
});

Deno.test("linkTargets() reads inline links outside code spans", () => {
  assert.deepEqual(
    linkTargets("See [ops](docs/operating.md#backfill), `[not](a.md)` and ![img](x.png)."),
    ["docs/operating.md#backfill", "x.png"],
  );
});

Deno.test("unmatchedLines() masks ports and keys, reads ... as any text, and names what is missing", () => {
  const actual = [
    "FUNCTION_URL=http://127.0.0.1:40001/functions/v1/clerk-webhook",
    "CLERK_SECRET_KEY=sk_test_abc123",
    '{"status":"applied","profile":{"email":"ada@example.org","phone":null}}',
    "Backfill finished: 3 of 3 Clerk users; 3 in this run in 0.1 s (23/s)",
  ].join("\n");
  const shown = [
    "FUNCTION_URL=http://127.0.0.1:35053/functions/v1/clerk-webhook",
    "CLERK_SECRET_KEY=sk_test_rBAvsw0V0obrp0",
    '{"status":"applied","profile":{"email":"ada@example.org",...}}',
    "...",
    "Backfill finished: 3 of 3 Clerk users; 3 in this run in 0.2 s (19/s)",
    "",
  ].join("\n");
  assert.deepEqual(unmatchedLines(shown, actual), []);
  assert.deepEqual(unmatchedLines('{"status":"stale"}\n', actual), ['{"status":"stale"}']);
  assert.deepEqual(
    unmatchedLines("Backfill finished: 2 of 3 Clerk users; 3 in this run in 0.1 s (23/s)", actual),
    ["Backfill finished: 2 of 3 Clerk users; 3 in this run in 0.1 s (23/s)"],
  );
});
