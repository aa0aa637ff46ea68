// Supabase Edge Function entrypoint: reads the configuration once, builds the dependencies and
// serves the handler. Everything else lives in the modules beside this file.
import { createClient } from "@supabase/supabase-js";
import { loadConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";
import { createHandler, createMisconfiguredHandler } from "./handler.ts";
import { consoleLogger as log } from "./log.ts";
import { createSupabaseStore } from "./store.ts";

function buildServer(): { port?: number; handler: (req: Request) => Promise<Response> } {
  try {
    const config = loadConfig(Deno.env);
    const client = createClient(config.supabaseUrl, config.serviceKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    });
    const store = createSupabaseStore(client, { timeoutMs: config.dbTimeoutMs });
    log.info(`clerk-webhook ready (service key from ${config.serviceKeySource})`);
    return {
      port: config.port,
      handler: createHandler({ secrets: config.webhookSecrets, store, log }),
    };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    log.error(`Configuration error: ${error.message}`);
    return { handler: createMisconfiguredHandler(error, log) };
  }
}

const { port, handler } = buildServer();
Deno.serve({ port }, handler);
