import type { Env } from "./env.ts";
import { printable } from "./log.ts";

/** Where a local run listens when PORT is unset or unusable (Deno.serve's own default). */
export const DEFAULT_PORT = 8000;

/**
 * The address a local run listens on: loopback only, like the rest of `npm run dev`'s stack
 * (Deno.serve's own default is 0.0.0.0, every interface). The hosted Edge Runtime ignores
 * Deno.serve's hostname and port (supabase/edge-runtime, ext/runtime/js/http.js).
 */
export const LOCAL_HOSTNAME = "127.0.0.1";

/** The port to listen on, and why PORT was not used when it names no port. */
export interface ListenPort {
  port: number;
  /** Set when PORT is not a port number: a log line naming the value and the fallback. */
  problem?: string;
}

/**
 * Reads PORT for a local run (the edge runtime ignores it). Read apart from the rest of the
 * configuration: a function that refuses its configuration still listens where it was told to,
 * so whoever started it reaches it and reads the reason.
 */
export function readListenPort(env: Env): ListenPort {
  const value = env.get("PORT")?.trim();
  if (!value) return { port: DEFAULT_PORT };
  const port = Number(value);
  if (/^\d+$/.test(value) && port >= 1 && port <= 65535) return { port };
  return {
    port: DEFAULT_PORT,
    problem: `PORT "${printable(value)}" is not a port number (1-65535); listening on ` +
      `${DEFAULT_PORT}`,
  };
}
