// Supabase Edge Function entrypoint: reads the configuration once, builds the dependencies and
// serves the handler. Everything else lives in the modules beside this file.
import { createClient } from "@supabase/supabase-js";
import { loadConfig } from "./config.ts";
import { ConfigError } from "../_shared/errors.ts";
import { createHandler, createMisconfiguredHandler } from "./handler.ts";
import { consoleLogger as log, logLine } from "../_shared/log.ts";
import { LOCAL_HOSTNAME, readListenPort } from "../_shared/port.ts";
import { createSupabaseStore } from "./store.ts";

function buildHandler(): (req: Request) => Promise<Response> {
  try {
    const config = loadConfig(Deno.env);
    const client = createClient(config.supabaseUrl, config.serviceKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    });
    const store = createSupabaseStore(client, { timeoutMs: config.dbTimeoutMs });
    log.info(logLine`clerk-webhook ready (service key from ${config.serviceKeySource})`);
    return createHandler({ secrets: config.webhookSecrets, store, log });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    log.error(logLine`Configuration error: ${error.message}`);
    return createMisconfiguredHandler(error, log);
  }
}

// PORT is read on its own: a misconfigured function listens there too, so it is found. A local
// run listens on loopback only; the edge runtime ignores both.
const listen = readListenPort(Deno.env);
if (listen.problem) log.warn(listen.problem);
Deno.serve({ hostname: LOCAL_HOSTNAME, port: listen.port }, buildHandler());
