/**
 * The whole sync on one machine without Docker, for `npm run dev`, the end-to-end tests and the
 * benchmarks: a throwaway PostgreSQL (Supabase mirror + migrations), the PostgREST stand-in
 * served at `http://127.0.0.1:<port>/rest/v1/`, and the real functions
 * `supabase/functions/clerk-webhook/index.ts` and `supabase/functions/clerk-profile-sync/index.ts`,
 * each run by Deno (FUNCTION_DENO: tests/support/function_deno.ts) as its own process on its own
 * port, with the environment the edge runtime
 * gives a function (SUPABASE_URL, SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY, SUPABASE_DB_URL)
 * plus PORT, CLERK_WEBHOOK_SECRET (clerk-webhook) and CLERK_SECRET_KEY, CLERK_JWT_KEY and
 * CLERK_API_URL (clerk-profile-sync).
 *
 * Unless Clerk settings are passed in (`clerk`), clerk-profile-sync talks to the Clerk API
 * stand-in (tests/support/clerk_api_stand_in.ts), which the stack starts with a few users and a
 * signing key generated for this stack: CLERK_JWT_KEY is that key's PEM, and
 * {@linkcode LocalStack.clerkSigningKey} mints session tokens the function accepts. The PostgREST
 * stand-in trusts that key too, as a project with Supabase's Clerk third-party auth trusts the
 * instance's JWKS: its session tokens read the tables as their `role` claim, under RLS.
 */
import { freePort, type PgCluster, startCluster } from "./pg_cluster.ts";
import { type FunctionDeno, functionDeno, functionRunArgs } from "./function_deno.ts";
import { roleJwt } from "./jwt.ts";
import { createPostgrestStandIn, type PostgrestStandIn } from "./postgrest_stand_in.ts";
import {
  type ClerkApiStandIn,
  type ClerkMembershipObject,
  type ClerkOrganizationObject,
  type ClerkUserObject,
  fakeClerkMembership,
  fakeClerkOrganization,
  startClerkApiStandIn,
  toBackendApiUser,
} from "./clerk_api_stand_in.ts";
import { clerkUserPayload } from "./clerk_payloads.ts";
import { type ClerkSigningKey, generateSigningKey } from "./clerk_session.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** The functions the stack runs. */
export type FunctionName = "clerk-webhook" | "clerk-profile-sync";
/** The path the function is reached at, as `supabase functions serve` and the platform expose it. */
export const FUNCTION_PATH = "/functions/v1/clerk-webhook";
/** The path clerk-profile-sync is reached at (on its own port). */
export const PROFILE_SYNC_PATH = "/functions/v1/clerk-profile-sync";
const PATHS: Record<FunctionName, string> = {
  "clerk-webhook": FUNCTION_PATH,
  "clerk-profile-sync": PROFILE_SYNC_PATH,
};
/** The user of Clerk's documentation examples (and of the README), one of the stand-in's users. */
export const EXAMPLE_USER_ID = "user_29w83sxmDNGwOuEthce5gg56FcC";
// What the function process inherits from ours: what Deno needs to find its cache, nothing else.
const INHERITED_ENV = ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "NO_COLOR"];
// Supabase's local keys are valid for years; a dev session must not outlive its tokens.
const KEY_TTL_SECONDS = 10 * 365 * 24 * 3600;

/** Clerk settings for clerk-profile-sync (what a deployed function gets as secrets). */
export interface ClerkSettings {
  /** CLERK_SECRET_KEY. */
  secretKey?: string;
  /** CLERK_JWT_KEY (the instance's PEM public key). */
  jwtKey?: string;
  /** CLERK_API_URL. */
  apiUrl?: string;
}

/** Options of {@linkcode startLocalStack}. */
export interface LocalStackOptions {
  /** Port of the function; a free one when omitted. */
  functionPort?: number;
  /** The Clerk signing secret (`whsec_...`); generated when omitted. */
  webhookSecret?: string;
  /** Extra environment of the function process; `undefined` removes a variable. */
  functionEnv?: Record<string, string | undefined>;
  /** Port of clerk-profile-sync; a free one when omitted. */
  profileSyncPort?: number;
  /** Extra environment of clerk-profile-sync; `undefined` removes a variable. */
  profileSyncEnv?: Record<string, string | undefined>;
  /**
   * Clerk settings given to clerk-profile-sync as they are (only those set); no stand-in is
   * started then. Omitted: the Clerk API stand-in with {@linkcode clerkUsers} and a new key.
   */
  clerk?: ClerkSettings;
  /** The stand-in's users (default {@linkcode exampleClerkUsers}). */
  clerkUsers?: ClerkUserObject[];
  /**
   * Whether the stand-in instance has the Organizations feature on (default true, with
   * {@linkcode exampleClerkOrganizations}); off, it holds none and answers its listings 403.
   */
  clerkOrganizations?: boolean;
  /**
   * How each function process is run (default: its index.ts in this clone, with deno.json and
   * the lock FUNCTION_DENO reads: {@linkcode functionRunArgs}). The deploy-set and add-to tests
   * run the files the Supabase CLI uploaded instead.
   */
  functionRun?: (name: FunctionName, deno: FunctionDeno) => { cwd: string; args: string[] };
  /** Called with each line a function writes (`npm run dev` passes them through). */
  onLog?: (line: string, stream: "stdout" | "stderr", fn: FunctionName) => void;
  /** Called when a function process ends without being stopped through the stack. */
  onFunctionExit?: (status: Deno.CommandStatus, fn: FunctionName) => void;
  /**
   * A migrated cluster to use instead of starting one; the stack leaves it running on close.
   * Its `postgres` role must own the migrated schema, as {@linkcode startCluster} leaves it.
   */
  cluster?: PgCluster;
}

/** One function process of the stack. */
export interface LocalFunction {
  readonly name: FunctionName;
  /** `http://127.0.0.1:<port>/functions/v1/<name>`. */
  readonly url: string;
  /** Every line it wrote to stdout or stderr, in order, across restarts. */
  readonly logs: string[];
  /** The environment it was last started with (its own variables only). */
  readonly env: Readonly<Record<string, string>>;
  /** Stops it (SIGTERM) and waits for it to end. */
  stop(): Promise<void>;
  /** Starts it again on the same port, with `env` over the stack's defaults. */
  start(env?: Record<string, string | undefined>): Promise<void>;
  /** Waits until a log line matches `pattern`; throws after `timeoutMs` (default 5000). */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/** A running local stack. */
export interface LocalStack {
  /** Where to POST deliveries: `http://127.0.0.1:<port>/functions/v1/clerk-webhook`. */
  readonly functionUrl: string;
  /** URL of the database as `postgres`, its owner (what SUPABASE_DB_URL is on a project). */
  readonly databaseUrl: string;
  /** The stand-in's base URL (`/rest/v1/` below it), as SUPABASE_URL. */
  readonly supabaseUrl: string;
  /** A service_role JWT signed with {@linkcode jwtSecret}. */
  readonly serviceRoleKey: string;
  /** An anon JWT signed with {@linkcode jwtSecret}. */
  readonly anonKey: string;
  /** A `sb_secret_...` key the stand-in accepts as service_role (for SUPABASE_SECRET_KEYS). */
  readonly secretKey: string;
  /** The project's JWT secret (random per stack). */
  readonly jwtSecret: string;
  /** The Clerk signing secret the function verifies with. */
  readonly webhookSecret: string;
  readonly cluster: PgCluster;
  /** Every line the function wrote to stdout or stderr, in order, across restarts. */
  readonly logs: string[];
  /** The environment the function process was last started with (its own variables only). */
  readonly functionEnv: Readonly<Record<string, string>>;
  /** Stops the function process (SIGTERM) and waits for it to end. */
  stopFunction(): Promise<void>;
  /** Starts the function again on the same port, with `env` over the defaults. */
  startFunction(env?: Record<string, string | undefined>): Promise<void>;
  /** Waits until a log line matches `pattern`; throws after `timeoutMs` (default 5000). */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** clerk-profile-sync: `http://127.0.0.1:<port>/functions/v1/clerk-profile-sync`. */
  readonly profileSyncUrl: string;
  /** The clerk-profile-sync process. */
  readonly profileSync: LocalFunction;
  /** The Clerk API stand-in clerk-profile-sync talks to; null when `clerk` settings were given. */
  readonly clerk: ClerkApiStandIn | null;
  /** The stand-in instance's signing key (CLERK_JWT_KEY is its PEM); null without stand-in. */
  readonly clerkSigningKey: ClerkSigningKey | null;
  /** Stops the functions and the stand-ins and removes the database. Safe to call twice. */
  close(): Promise<void>;
}

/** Starts PostgreSQL, the stand-ins and both functions; resolves once both listen. */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const cleanups: (() => Promise<void>)[] = [];
  async function cleanUp(): Promise<void> {
    const errors: unknown[] = [];
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((error) => errors.push(error));
    }
    if (errors.length > 0) throw errors[0];
  }

  try {
    const cluster = options.cluster ?? await startCluster();
    if (!options.cluster) cleanups.push(() => cluster.destroy());

    const jwtSecret = randomToken(32);
    const secretKey = `sb_secret_${randomToken(24)}`;
    const clerkSigningKey = options.clerk ? null : await generateSigningKey();
    const standIn = createPostgrestStandIn({
      databaseUrl: cluster.urlFor("authenticator"),
      jwtSecret,
      secretKeys: [secretKey],
      thirdPartyKeys: clerkSigningKey ? [clerkSigningKey.jwk] : [],
    });
    cleanups.push(() => standIn.close());
    const api = serveStandIn(standIn);
    cleanups.push(() => api.shutdown());

    const claims = { iss: "supabase", ref: "local" };
    const serviceRoleKey = await roleJwt("service_role", jwtSecret, claims, KEY_TTL_SECONDS);
    const anonKey = await roleJwt("anon", jwtSecret, claims, KEY_TTL_SECONDS);
    const webhookSecret = options.webhookSecret ?? generateWebhookSecret();
    const port = options.functionPort ?? freePort();
    let profileSyncPort = options.profileSyncPort ?? freePort();
    // freePort() hands out a port that was free a moment ago: two calls may return the same one.
    while (profileSyncPort === port) profileSyncPort = freePort();
    const supabaseUrl = `http://127.0.0.1:${api.port}`;
    const platform: Record<string, string> = {
      SUPABASE_URL: supabaseUrl,
      SUPABASE_ANON_KEY: anonKey,
      SUPABASE_SERVICE_ROLE_KEY: serviceRoleKey,
      SUPABASE_DB_URL: cluster.url,
    };
    const defaults: Record<string, string> = {
      ...platform,
      CLERK_WEBHOOK_SECRET: webhookSecret,
      PORT: String(port),
    };

    let clerk: ClerkApiStandIn | null = null;
    let clerkEnv: Record<string, string>;
    if (!clerkSigningKey) {
      const { secretKey, jwtKey, apiUrl } = options.clerk ?? {};
      clerkEnv = Object.fromEntries(
        [["CLERK_SECRET_KEY", secretKey], ["CLERK_JWT_KEY", jwtKey], ["CLERK_API_URL", apiUrl]]
          .filter((entry): entry is [string, string] => entry[1] !== undefined),
      );
    } else {
      const users = options.clerkUsers ?? exampleClerkUsers();
      const organizations = options.clerkOrganizations ?? true;
      const standIn = startClerkApiStandIn({
        // Clerk's secret keys are sk_test_ (or sk_live_) and base62 characters.
        secretKey: `sk_test_${randomToken(30).replace(/[-_]/g, "0")}`,
        users,
        ...(organizations ? exampleClerkOrganizations(users) : {}),
        organizationsEnabled: organizations,
        signingKeys: [clerkSigningKey],
      });
      clerk = standIn;
      cleanups.push(() => standIn.close());
      clerkEnv = {
        CLERK_SECRET_KEY: standIn.secretKey,
        CLERK_JWT_KEY: clerkSigningKey.pem,
        CLERK_API_URL: standIn.url,
      };
    }
    const profileSyncDefaults: Record<string, string> = {
      ...platform,
      ...clerkEnv,
      PORT: String(profileSyncPort),
    };

    const fn = createFunctionProcess("clerk-webhook", port, options);
    cleanups.push(() => fn.stop());
    const profileSync = createFunctionProcess("clerk-profile-sync", profileSyncPort, options);
    cleanups.push(() => profileSync.stop());
    // Side by side: the two processes start in about the time of one.
    const started = await Promise.allSettled([
      fn.start(merge(defaults, options.functionEnv)),
      profileSync.start(merge(profileSyncDefaults, options.profileSyncEnv)),
    ]);
    for (const result of started) if (result.status === "rejected") throw result.reason;

    let closed: Promise<void> | undefined;
    return {
      functionUrl: fn.url,
      databaseUrl: cluster.url,
      supabaseUrl,
      serviceRoleKey,
      anonKey,
      secretKey,
      jwtSecret,
      webhookSecret,
      cluster,
      logs: fn.logs,
      get functionEnv() {
        return fn.env;
      },
      stopFunction: () => fn.stop(),
      startFunction: (env) => fn.start(merge(merge(defaults, options.functionEnv), env)),
      waitForLog: (pattern, timeoutMs) => fn.waitForLog(pattern, timeoutMs),
      profileSyncUrl: profileSync.url,
      profileSync: {
        name: "clerk-profile-sync",
        url: profileSync.url,
        logs: profileSync.logs,
        get env() {
          return profileSync.env;
        },
        stop: () => profileSync.stop(),
        start: (env) =>
          profileSync.start(merge(merge(profileSyncDefaults, options.profileSyncEnv), env)),
        waitForLog: (pattern, timeoutMs) => profileSync.waitForLog(pattern, timeoutMs),
      },
      clerk,
      clerkSigningKey,
      close() {
        closed ??= cleanUp();
        return closed;
      },
    };
  } catch (error) {
    await cleanUp().catch(() => {});
    throw error;
  }
}

/**
 * The stand-in's users unless told otherwise: Clerk's documentation example user
 * ({@linkcode EXAMPLE_USER_ID}, "Example Example", as `npm run send` sends it) and two more.
 */
export function exampleClerkUsers(now = Date.now()): ClerkUserObject[] {
  return [
    clerkUserPayload({
      id: EXAMPLE_USER_ID,
      createdAt: 1654012591514,
      updatedAt: now,
      firstName: "Example",
      lastName: "Example",
      username: null,
      email: "example@example.org",
    }),
    clerkUserPayload({
      id: "user_2adaLovelaceAnalyticalEngin",
      createdAt: now - 86_400_000,
      updatedAt: now,
      firstName: "Ada",
      lastName: "Lovelace",
      username: "ada",
      email: "ada@example.org",
      publicMetadata: { plan: "pro" },
    }),
    clerkUserPayload({
      id: "user_2graceHopperCobolCompiler19",
      createdAt: now - 3_600_000,
      updatedAt: now,
      firstName: "Grace",
      lastName: "Hopper",
      username: "grace",
      email: "grace@example.org",
    }),
  ].map(toBackendApiUser);
}

/**
 * The stand-in's organizations unless Organizations is off: "Acme Inc" (the first user its admin,
 * the second a member) and "Analytical Engines" (the second user its admin, the third a member),
 * with their memberships.
 */
export function exampleClerkOrganizations(
  users: ClerkUserObject[],
  now = Date.now(),
): { organizations: ClerkOrganizationObject[]; memberships: ClerkMembershipObject[] } {
  const organization = (seq: number, id: string, name: string, slug: string) =>
    fakeClerkOrganization(seq, {
      createdAt: now - (3 - seq) * 3_600_000,
      updatedAt: now,
      fields: { id, name, slug, created_by: users[seq - 1]?.id ?? null },
    });
  const acme = organization(1, "org_2acmeIncExampleOrganizatio", "Acme Inc", "acme-inc");
  const engines = organization(
    2,
    "org_2analyticalEnginesExample0",
    "Analytical Engines",
    "analytical-engines",
  );
  const member = (seq: number, org: ClerkOrganizationObject, user: number, role: string) =>
    users[user] === undefined ? [] : [
      fakeClerkMembership(seq, org, users[user].id, {
        role,
        createdAt: org.created_at + seq * 1000,
        fields: { id: `orgmem_2example${String(seq).padStart(14, "0")}` },
      }),
    ];
  return {
    organizations: [acme, engines],
    memberships: [
      ...member(1, acme, 0, "org:admin"),
      ...member(2, acme, 1, "org:member"),
      ...member(3, engines, 1, "org:admin"),
      ...member(4, engines, 2, "org:member"),
    ],
  };
}

/** A new Clerk-style signing secret: `whsec_` and the base64 of 24 random bytes. */
export function generateWebhookSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return `whsec_${btoa(String.fromCharCode(...bytes))}`;
}

interface StandInServer {
  port: number;
  shutdown(): Promise<void>;
}

function serveStandIn(standIn: PostgrestStandIn): StandInServer {
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    // A client that went away (the function's timeout) needs no answer and no stack trace.
    onError: () => new Response(null, { status: 500 }),
  }, async (req) => {
    // A copy without the server's abort signal: like PostgREST, the stand-in finishes a call
    // whose client went away (and Deno.serve's legacy signal would abort finished requests).
    const body = req.body ? await req.arrayBuffer() : undefined;
    return standIn.handler(
      new Request(req.url, { method: req.method, headers: req.headers, body }),
    );
  });
  return {
    port: server.addr.port,
    async shutdown() {
      await server.shutdown();
      await server.finished;
    },
  };
}

/** A function as its own Deno process, restartable on the same port. */
interface FunctionProcess {
  readonly url: string;
  readonly logs: string[];
  readonly env: Record<string, string>;
  start(env: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

function createFunctionProcess(
  name: FunctionName,
  port: number,
  options: LocalStackOptions,
): FunctionProcess {
  const url = `http://127.0.0.1:${port}${PATHS[name]}`;
  const entrypoint = `supabase/functions/${name}/index.ts`;
  const logs: string[] = [];
  let env: Record<string, string> = {};
  let child: Deno.ChildProcess | undefined;
  let pumps: Promise<void>[] = [];
  let stopping = false;

  function log(line: string, stream: "stdout" | "stderr"): void {
    logs.push(line);
    options.onLog?.(line, stream, name);
  }

  async function stop(): Promise<void> {
    const running = child;
    if (!running) return;
    stopping = true;
    try {
      running.kill("SIGTERM");
    } catch {
      // Already ended (for example by the Ctrl-C the terminal sent to the whole group).
    }
    await running.status;
    await Promise.all(pumps);
    child = undefined;
  }

  async function start(nextEnv: Record<string, string>): Promise<void> {
    if (child) throw new Error(`${name} is already running`);
    assertPortFree(name, port);
    env = nextEnv;
    stopping = false;
    const inherited = Object.fromEntries(
      INHERITED_ENV.flatMap((name) => {
        const value = Deno.env.get(name);
        return value === undefined ? [] : [[name, value]];
      }),
    );
    // On FUNCTION_DENO when set (the platform's Deno 2.1 in scripts/test.ts), else this Deno.
    const deno = functionDeno();
    const run = options.functionRun?.(name, deno) ??
      { cwd: ROOT, args: functionRunArgs(entrypoint, deno) };
    const spawned = new Deno.Command(deno.path, {
      args: run.args,
      cwd: run.cwd,
      clearEnv: true,
      env: { ...inherited, DENO_NO_UPDATE_CHECK: "1", ...deno.env, ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    child = spawned;
    pumps = [
      pumpLines(spawned.stdout, (line) => log(line, "stdout")),
      pumpLines(spawned.stderr, (line) => log(line, "stderr")),
    ];
    const exited = spawned.status.then((status) => {
      if (!stopping) options.onFunctionExit?.(status, name);
      return status;
    });
    try {
      await waitUntilListening(name, port, exited);
    } catch (error) {
      await stop();
      const tail = logs.slice(-20).join("\n");
      throw new Error(`${error instanceof Error ? error.message : error}\n${tail}`);
    }
  }

  async function waitForLog(pattern: RegExp, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = logs.find((l) => pattern.test(l));
      if (line !== undefined) return line;
      if (Date.now() > deadline) {
        throw new Error(`no ${name} log line matched ${pattern} within ${timeoutMs} ms`);
      }
      await delay(20);
    }
  }

  return {
    url,
    logs,
    get env() {
      return env;
    },
    start,
    stop,
    waitForLog,
  };
}

// Ready once the port accepts a TCP connection: no request, so no log line in the function and
// no answer from the handler (which may be the misconfigured one, listening all the same).
async function waitUntilListening(
  name: FunctionName,
  port: number,
  exited: Promise<Deno.CommandStatus>,
) {
  let ended: Deno.CommandStatus | undefined;
  exited.then((status) => ended = status);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (ended) throw new Error(`${name} exited during start-up (code ${ended.code})`);
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await delay(50);
    }
  }
  throw new Error(`${name} did not listen on port ${port} within 30 s`);
}

// Another server on the port would pass the readiness check while the function fails to bind.
function assertPortFree(name: FunctionName, port: number): void {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Error(`port ${port} is in use: ${name} cannot listen on it`);
    }
    throw error;
  }
}

async function pumpLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) onLine(line.replace(/\r$/, ""));
  }
  if (rest !== "") onLine(rest);
}

function merge(
  base: Record<string, string>,
  overrides: Record<string, string | undefined> = {},
): Record<string, string> {
  const env = { ...base };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

function randomToken(bytes: number): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...raw)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
