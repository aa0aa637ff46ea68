// Supabase Edge Function entrypoint: reads the configuration once, builds the dependencies and
// serves the handler. Everything else lives in the modules beside this file.
import { createClient } from "@supabase/supabase-js";
import { ConfigError } from "../_shared/errors.ts";
import { consoleLogger as log, logLine } from "../_shared/log.ts";
import { LOCAL_HOSTNAME, readListenPort } from "../_shared/port.ts";
import { CLERK_TIMEOUT_MS, createClerkApi } from "./clerk_api.ts";
import { loadConfig, readOrigins } from "./config.ts";
import { createHandler, createMisconfiguredHandler } from "./handler.ts";
import { createInstanceCheck } from "./instance_check.ts";
import { createSessionVerifier } from "./session.ts";
import { createSupabaseStore } from "./store.ts";

function buildHandler(): (req: Request) => Promise<Response> {
  try {
    const config = loadConfig(Deno.env);
    const client = createClient(config.supabaseUrl, config.serviceKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    });
    const clerk = createClerkApi({
      secretKey: config.clerkSecretKey,
      apiUrl: config.clerkApiUrl,
      timeoutMs: CLERK_TIMEOUT_MS,
    });
    const keyMode = config.jwtKey ? "CLERK_JWT_KEY" : "CLERK_SECRET_KEY (JWKS)";
    const origins = config.allowedOrigins === "*" ? "*" : config.allowedOrigins.join(", ");
    log.info(
      logLine`clerk-profile-sync ready (tokens verified with ${keyMode}; Clerk API ${config.clerkApiUrl}; interval ${config.minIntervalS} s; origins ${origins}; service key from ${config.serviceKeySource})`,
    );
    return createHandler({
      sessions: createSessionVerifier({
        jwtKeyPem: config.jwtKey?.pem ?? null,
        secretKey: config.clerkSecretKey,
        apiUrl: config.clerkApiUrl,
        authorizedParties: config.authorizedParties,
      }),
      instance: createInstanceCheck(config.jwtKey, clerk),
      clerk,
      store: createSupabaseStore(client, { timeoutMs: config.dbTimeoutMs }),
      log,
      minIntervalS: config.minIntervalS,
      allowedOrigins: config.allowedOrigins,
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    log.error(logLine`Configuration error: ${error.message}`);
    return createMisconfiguredHandler(error, log, originsOrAny());
  }
}

// The CORS origins for a misconfigured function's answers: as configured when readable.
function originsOrAny(): "*" | string[] {
  try {
    return readOrigins(Deno.env);
  } catch {
    return "*";
  }
}

// PORT is read on its own: a misconfigured function listens there too, so it is found. A local
// run listens on loopback only; the edge runtime ignores both.
const listen = readListenPort(Deno.env);
if (listen.problem) log.warn(listen.problem);
Deno.serve({ hostname: LOCAL_HOSTNAME, port: listen.port }, buildHandler());
