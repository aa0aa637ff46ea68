// bundleFunctions(): each function's module graph as add-to installs it, on small made-up trees
// and on this repository's own functions.
import assert from "node:assert/strict";
import {
  bundleFunctions,
  FUNCTION_NAMES,
  importSpecifiers,
  SourceError,
} from "../scripts/add_to/bundle.ts";
import { readSource } from "../scripts/add_to/source.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const IMPORTS = {
  "@supabase/supabase-js": "npm:@supabase/supabase-js@2.119.1",
  "svix": "npm:svix@2.5.0",
  "react/": "npm:/@types/react@19.3.3/",
  "unused": "npm:unused@1.0.0",
};

function tree(extra: Record<string, string> = {}): Map<string, string> {
  return new Map(Object.entries({
    "supabase/functions/clerk-webhook/index.ts": [
      'import { createClient } from "@supabase/supabase-js";',
      'import { log } from "../_shared/log.ts";',
      'import { handler } from "./handler.ts";',
      "",
    ].join("\n"),
    "supabase/functions/clerk-webhook/handler.ts": [
      "import {",
      "  type Thing,",
      "  other,",
      '} from "../_shared/thing.ts";',
      'import { Webhook } from "svix";',
      "export const handler = 1;",
      "",
    ].join("\n"),
    "supabase/functions/clerk-webhook/not_imported.ts": "export {};\n",
    "supabase/functions/clerk-profile-sync/index.ts": 'export * from "../_shared/log.ts";\n',
    "supabase/functions/_shared/log.ts":
      'import type { X } from "./thing.ts";\nexport const log = 1;\n',
    "supabase/functions/_shared/thing.ts": "export const other = 1;\n",
    "supabase/functions/_shared/cli_only.ts": "export {};\n",
    ...extra,
  }));
}

Deno.test("importSpecifiers() finds static, multi-line, type, re-export, side-effect and dynamic imports", () => {
  const code = [
    'import a from "./a.ts";',
    "import {",
    "  b,",
    '} from "./b.ts";',
    'import type { C } from "../c.ts";',
    "export * from './d.ts';",
    'import "./e.ts";',
    'const f = await import("./f.ts");',
    "// import the rest from Clerk's API, no module here",
    'const s = "import x from y";',
  ].join("\n");
  assert.deepEqual(importSpecifiers(code).map((i) => i.specifier), [
    "./a.ts",
    "./b.ts",
    "../c.ts",
    "./d.ts",
    "./e.ts",
    "./f.ts",
  ]);
  for (const { specifier, start, end } of importSpecifiers(code)) {
    assert.equal(code.slice(start, end), specifier);
  }
});

Deno.test("bundleFunctions() installs each graph once, _shared/ moved to _clerk_sync/, imports rewritten", () => {
  const files = new Map(
    bundleFunctions({ files: tree(), imports: IMPORTS }).map((f) => [f.path, f.content]),
  );
  assert.deepEqual([...files.keys()], [
    "supabase/functions/_clerk_sync/log.ts",
    "supabase/functions/_clerk_sync/thing.ts",
    "supabase/functions/clerk-profile-sync/deno.json",
    "supabase/functions/clerk-profile-sync/index.ts",
    "supabase/functions/clerk-webhook/deno.json",
    "supabase/functions/clerk-webhook/handler.ts",
    "supabase/functions/clerk-webhook/index.ts",
  ]);
  assert.equal(
    files.get("supabase/functions/clerk-webhook/index.ts"),
    tree().get("supabase/functions/clerk-webhook/index.ts")!.replace(
      "../_shared/",
      "../_clerk_sync/",
    ),
  );
  assert.match(
    files.get("supabase/functions/clerk-webhook/handler.ts")!,
    /\} from "\.\.\/_clerk_sync\/thing\.ts";/,
  );
  assert.equal(
    files.get("supabase/functions/_clerk_sync/log.ts"),
    tree().get("supabase/functions/_shared/log.ts"),
  );
  assert.deepEqual(JSON.parse(files.get("supabase/functions/clerk-webhook/deno.json")!), {
    imports: { "@supabase/supabase-js": IMPORTS["@supabase/supabase-js"], svix: IMPORTS.svix },
  });
  assert.deepEqual(JSON.parse(files.get("supabase/functions/clerk-profile-sync/deno.json")!), {
    imports: {},
  });
});

Deno.test("bundleFunctions() maps a specifier under a prefix key of the import map", () => {
  const files = bundleFunctions({
    files: tree({
      "supabase/functions/clerk-profile-sync/index.ts":
        'import type { FC } from "react/index.d.ts";\n',
    }),
    imports: IMPORTS,
  });
  const denoJson = files.find((f) => f.path === "supabase/functions/clerk-profile-sync/deno.json")!;
  assert.deepEqual(JSON.parse(denoJson.content).imports, { "react/": IMPORTS["react/"] });
});

Deno.test("bundleFunctions() refuses a bare specifier import_map.json does not map", () => {
  const files = tree({
    "supabase/functions/clerk-profile-sync/index.ts": 'import x from "left-pad";\n',
  });
  assert.throws(() => bundleFunctions({ files, imports: IMPORTS }), SourceError);
});

Deno.test("bundleFunctions() refuses an import from another function's folder or outside supabase/functions", () => {
  for (const specifier of ["../clerk-webhook/handler.ts", "../../../backfill/x.ts"]) {
    const files = tree({
      "supabase/functions/clerk-profile-sync/index.ts": `import x from "${specifier}";\n`,
      "backfill/x.ts": "export default 1;\n",
    });
    assert.throws(() => bundleFunctions({ files, imports: IMPORTS }), SourceError, specifier);
  }
});

Deno.test("bundleFunctions() refuses an import of a module that does not exist", () => {
  const files = tree({ "supabase/functions/clerk-profile-sync/index.ts": 'import "./gone.ts";\n' });
  assert.throws(() => bundleFunctions({ files, imports: IMPORTS }), /gone\.ts does not exist/);
});

Deno.test("readSource() on this repository: both graphs, no _shared/ left, versions from import_map.json", async () => {
  const source = await readSource(ROOT);
  const importMap = JSON.parse(await Deno.readTextFile(`${ROOT}/import_map.json`)).imports;
  for (const name of FUNCTION_NAMES) {
    assert.ok(source.files.some((f) => f.path === `supabase/functions/${name}/index.ts`));
    const denoJson = source.files.find((f) => f.path === `supabase/functions/${name}/deno.json`)!;
    const imports = JSON.parse(denoJson.content).imports;
    assert.ok(Object.keys(imports).length > 0);
    for (const [key, value] of Object.entries(imports)) assert.equal(value, importMap[key], key);
  }
  for (const file of source.files) {
    assert.doesNotMatch(file.content, /from "[^"]*_shared\//, file.path);
    assert.match(
      file.path,
      /^supabase\/functions\/(clerk-webhook|clerk-profile-sync|_clerk_sync)\//,
    );
  }
  const migrations = [...Deno.readDirSync(`${ROOT}/supabase/migrations`)].map((e) => e.name).sort();
  assert.deepEqual(source.migrations.map((m) => m.name), migrations);
});
