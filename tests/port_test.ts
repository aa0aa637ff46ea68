import assert from "node:assert/strict";
import { DEFAULT_PORT, readListenPort } from "../supabase/functions/_shared/port.ts";

function env(port?: string) {
  return new Map(port === undefined ? [] : [["PORT", port]]);
}

Deno.test("readListenPort() uses PORT when it is a port number", () => {
  assert.deepEqual(readListenPort(env("54321")), { port: 54321 });
  assert.deepEqual(readListenPort(env(" 1 ")), { port: 1 });
  assert.deepEqual(readListenPort(env("65535")), { port: 65535 });
});

Deno.test("readListenPort() listens on 8000 without PORT", () => {
  assert.deepEqual(readListenPort(env()), { port: DEFAULT_PORT });
  assert.deepEqual(readListenPort(env("  ")), { port: 8000 });
});

Deno.test("readListenPort() falls back to 8000 on a PORT that is no port, and says why", () => {
  for (const value of ["0", "65536", "-1", "1.5", "1e3", "0x1f90", "eighty"]) {
    const { port, problem } = readListenPort(env(value));
    assert.equal(port, 8000, value);
    assert.equal(problem, `PORT "${value}" is not a port number (1-65535); listening on 8000`);
  }
});

Deno.test("readListenPort() escapes control characters of PORT in its log line", () => {
  const { problem } = readListenPort(env("80\n\u001b[2J"));
  assert.equal(problem, 'PORT "80\\n\\u001b[2J" is not a port number (1-65535); listening on 8000');
});
