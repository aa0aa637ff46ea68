// Deno 2.1 (the Edge Runtime's) cannot read deno.lock (version 5), so it reads deno.2.1.lock: the
// two must pin the same packages, or the platform pass would test other code than development.
import assert from "node:assert/strict";

interface Lock {
  version: string;
  specifiers: Record<string, string>;
  npm: Record<string, { integrity: string; dependencies?: string[] }>;
}

const ROOT = new URL("../", import.meta.url);

function readLock(name: string): Lock {
  return JSON.parse(Deno.readTextFileSync(new URL(name, ROOT)));
}

Deno.test("deno.2.1.lock pins every package of deno.lock at the same version and integrity", () => {
  const dev = readLock("deno.lock");
  const platform = readLock("deno.2.1.lock");
  assert.equal(platform.version, "4", "a lock Deno 2.1 reads");
  for (const [specifier, version] of Object.entries(dev.specifiers)) {
    assert.equal(platform.specifiers[specifier], version, specifier);
  }
  for (const [name, entry] of Object.entries(dev.npm)) {
    assert.equal(platform.npm[name]?.integrity, entry.integrity, name);
    assert.deepEqual(platform.npm[name]?.dependencies, entry.dependencies, name);
  }
});
