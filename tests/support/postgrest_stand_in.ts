/**
 * A stand-in for what answers `<SUPABASE_URL>/rest/v1/` on a Supabase project: the API gateway
 * (which turns a `sb_secret_...` key into a service_role JWT) in front of PostgREST. It serves
 * the routes supabase-js sends here: `POST /rest/v1/rpc/<function>` ("Functions as RPC",
 * `supabase.rpc()`), and `GET`, `POST` and `DELETE /rest/v1/<table>` (`.select()` with filters,
 * `.order()`, `.limit()`, `.single()`; `.insert()`, `.upsert()`, `.delete()` with filters;
 * statements and their errors planned in `postgrest_tables.ts`).
 * PostgREST cannot run here; this does the same work against the real database, so RLS,
 * grants, SECURITY DEFINER and SQLSTATEs are the real ones.
 *
 * Follows PostgREST's documented contract (docs.postgrest.org: references/auth, transactions,
 * api/functions, api/tables_views, api/preferences, errors; status mapping as in
 * src/PostgREST/Error.hs and Response.hs):
 * - Auth: `Authorization: Bearer <jwt>` verified against the key set Supabase gives PostgREST
 *   (`jwt.ts`): the project's JWT secret (HS256) and, with third-party auth (Supabase's "Clerk"
 *   integration, docs auth/third-party/clerk), the public keys the issuer's JWKS lists
 *   (`thirdPartyKeys`; Clerk signs RS256 session tokens with `kid` its instance key's id). A
 *   token that does not decode or verify is 401 PGRST301, a failed `exp`/`nbf`/`iat`/`aud` check
 *   (30 s skew) 401 PGRST303 ("JWT expired"), both with `WWW-Authenticate: Bearer
 *   error="invalid_token"`. The `role` claim (PostgREST's `jwt-role-claim-key` `.role`) is the
 *   database role, a non-string one JSON-encoded; no token, or a token without `role`, runs as
 *   `anon` (Auth/Jwt.hs parseClaims, `db-anon-role`): a Clerk session token without the `role:
 *   "authenticated"` claim the Supabase integration adds reads as anon. The claims, with `role`
 *   set to that role, are `request.jwt.claims` (PreQuery.hs).
 * - One transaction per request, connected as `authenticator`: READ WRITE for table writes and
 *   VOLATILE functions, READ ONLY for reads and other functions; `set_config` in PostgREST's
 *   order (PreQuery.hs txVarQuery) of `search_path`, the impersonated role's settings (those
 *   authenticator may set: `user` ones and those granted to it with GRANT SET ON PARAMETER),
 *   `role` (user impersonation), `request.jwt.claims`, `request.method`, `request.path`,
 *   `request.headers` (without Cookie, ApiRequest.hs), `request.cookies`, and for a call the
 *   function's `statement_timeout`. authenticator's own settings (on the platform
 *   `statement_timeout` and `lock_timeout` of 8 s) apply from login, so a call is cancelled by
 *   the server at 8 s whether or not its client is still waiting.
 * - A pool of `poolSize` connections (`db-pool`, 10): a transaction holds one; a request that
 *   waits `poolAcquisitionTimeoutMs` (`db-pool-acquisition-timeout`, 10 s) for one is 504
 *   PGRST003.
 * - RPC: the JSON body's keys are the function's named arguments; the overload whose
 *   parameters cover the keys (and whose parameters without default are all given) is called.
 *   None: 404 PGRST202 with PostgREST's message and details; several: 300 PGRST203. Result: a
 *   scalar or composite as JSON, SETOF as a JSON array of at most `maxRows` (`db-max-rows`;
 *   the platform's is `[api] max_rows` of supabase/config.toml), void as 204.
 * - Schemas: the exposed one only; `Accept-Profile` (GET) or `Content-Profile` naming another is
 *   406 PGRST106.
 * - Tables: `GET` reads rows as the request's role, so grants and RLS decide what it sees: 200
 *   with a JSON array (`Content-Range: <first>-<last>/*`), or one object with `Accept:
 *   application/vnd.pgrst.object+json` (supabase-js `.single()`; 406 PGRST116 unless exactly one
 *   row), at most `maxRows` rows; a column the table lacks is PostgreSQL's 400 42703. `POST`
 *   inserts the body's rows (an object or an array), as an upsert with
 *   `Prefer: resolution=merge-duplicates` (`on_conflict`, else the primary key); 201, or 200
 *   when an upsert only updated. `DELETE` deletes the rows its filters (`?user_id=eq.<id>`)
 *   match; 204. With `Prefer: return=representation` the rows come back as a JSON array (201 or
 *   200). An unknown table is 404 PGRST205, an unknown column 400 PGRST204, a DELETE without a
 *   filter 400 21000 (Supabase loads pg-safeupdate for the Data API).
 * - Errors: `{ code, message, details, hint }`, a SQLSTATE mapped to HTTP as PostgREST does
 *   (Error.hs mapSQLtoHTTP: 42501: 401 for anon, else 403; 42883/42P01: 404; 23503/23505: 409;
 *   P0001 and other: 400; 08*, 53* but 53400, 57P01: 503; 55P03, 57014, 57P02, 57P03 and the
 *   rest of 5x/XX: 500; PT<digits>: that status, other PT*: 500). Failing to connect is 503
 *   PGRST000 whatever the server said; a connection lost mid-call without a server error 503
 *   PGRST001; no pool slot in time 504 PGRST003; a catalog read that cannot connect (PostgREST
 *   without its schema cache) 503 PGRST002.
 * - The gateway in front (`gatewayFault`): Cloudflare's HTML error pages, 520 and 502.
 * - Schema cache: a function's overloads, a table's columns and a role's settings are read from
 *   the catalog once and kept, and statements are prepared (PostgREST's
 *   `db-prepared-statements`), so a request costs what it costs behind PostgREST: BEGIN, one
 *   `set_config` statement, the call or write, COMMIT. Unlike PostgREST, a function or table
 *   that is not found is looked up again on its next request (there is no
 *   `NOTIFY pgrst, 'reload schema'` here), so objects created later are found.
 * Not modelled: GET/HEAD calls (405 here) and HEAD, PATCH and PUT on tables (404 PGRST125 here),
 * single unnamed-parameter functions, variadic calls, embedding, `Prefer` other than `return`
 * and `resolution` (accepted and ignored, as PostgREST's default `handling=lenient` does; so
 * `tx=rollback` commits, as under PostgREST's default `db-tx-end = commit`), the table
 * features listed in `postgrest_tables.ts`, the gateway's `apikey` requirement for legacy keys,
 * `default_transaction_isolation` as a role's or function's isolation level, the Content-Range
 * of RPC answers, `RAISE SQLSTATE 'PGRST'` bodies, the gateway's other errors (521-524).
 */
import postgres from "postgres";
import { type JwtClaims, secretJwk, verifyJwt } from "./jwt.ts";
import {
  parsePreferences,
  planDelete,
  planInsert,
  planRead,
  type ReadResult,
  TABLE_COLUMNS_SQL,
  type TableError,
  type TableInfo,
  tableNotFound,
  type WriteResult,
  writeStatus,
} from "./postgrest_tables.ts";

/** Options of {@linkcode createPostgrestStandIn}. */
export interface PostgrestStandInOptions {
  /** Connection URL of the `authenticator` role (PostgREST's `db-uri`). */
  databaseUrl: string;
  /** HS256 secret the project's JWTs are signed with (PostgREST's `jwt-secret`). */
  jwtSecret: string;
  /**
   * Third-party auth: the public keys of the trusted issuer's JWKS (for Clerk, the `keys` its
   * instance serves at `https://<clerk domain>/.well-known/jwks.json`), trusted beside the JWT
   * secret. RSA keys only (Clerk's); other key types are not modelled and refused here.
   */
  thirdPartyKeys?: JsonWebKey[];
  /** `sb_secret_...` keys the gateway accepts as service_role. */
  secretKeys?: string[];
  /** `sb_publishable_...` keys the gateway accepts as anon. */
  publishableKeys?: string[];
  /** The exposed schema (PostgREST's `db-schemas`); default `public`. */
  schema?: string;
  /** Connections in the pool (PostgREST's `db-pool`); default 10. */
  poolSize?: number;
  /**
   * How long a request waits for a free connection before 504 PGRST003 (PostgREST's
   * `db-pool-acquisition-timeout`, in ms); default 10 s.
   */
  poolAcquisitionTimeoutMs?: number;
  /**
   * Rows a set-returning function may return (PostgREST's `db-max-rows`); null for no limit.
   * Default: `[api] max_rows` of supabase/config.toml, what the platform applies.
   */
  maxRows?: number | null;
  /**
   * The gateway in front (Cloudflare, then Kong) failing: called for each request, a status
   * makes it answer with its HTML error page instead of passing the request on.
   */
  gatewayFault?: (req: Request) => GatewayFault | null;
}

/** The gateway's own failures: 520 (the origin's answer was unusable) and 502 (bad gateway). */
export type GatewayFault = 502 | 520;

/** A running stand-in. */
export interface PostgrestStandIn {
  /**
   * Answers one HTTP request. As supabase-js's `global.fetch` (called with the request only) it
   * rejects like fetch when `req.signal` aborts; passed straight to Deno.serve (which adds
   * `info`) it leaves `req.signal` alone, as reading it there only draws Deno's legacy-abort
   * warning.
   */
  handler(req: Request, info?: Deno.ServeHandlerInfo): Promise<Response>;
  /** Waits for calls in flight and closes the connection pool. */
  close(): Promise<void>;
}

/** A PostgREST error body. */
interface ErrorBody {
  code: string | null;
  message: string;
  details: string | null;
  hint: string | null;
}

/** Who the request runs as. */
interface Identity {
  role: string;
  claims: JwtClaims;
}

/** One overload of the called function, from pg_proc. */
interface Routine {
  params: { name: string; type: string }[];
  required: number;
  volatile: boolean;
  returnsSet: boolean;
  returnsVoid: boolean;
  statementTimeout: string | null;
}

const ANON_ROLE = "anon";
const RPC_PATH = /^\/rest\/v1\/rpc\/([^/]+)\/?$/;
const TABLE_PATH = /^\/rest\/v1\/([^/]+)\/?$/;
const TABLE_METHODS = ["GET", "POST", "DELETE"];

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  201: "Created",
  204: "No Content",
  300: "Multiple Choices",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  409: "Conflict",
  500: "Internal Server Error",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** Starts a stand-in for `POST /rest/v1/rpc/<fn>` on the database at `databaseUrl`. */
export function createPostgrestStandIn(options: PostgrestStandInOptions): PostgrestStandIn {
  const schema = options.schema ?? "public";
  const poolSize = options.poolSize ?? 10;
  const maxRows = options.maxRows === undefined ? configMaxRows() : options.maxRows;
  if (maxRows !== null && !(Number.isInteger(maxRows) && maxRows >= 0)) {
    throw new RangeError(`maxRows must be a whole number or null, got ${maxRows}`);
  }
  // The JWKS Supabase hands PostgREST: the issuer's keys, then the secret (supabase/cli
  // ResolveJWKS). Built once, so each key is imported once.
  const keys = [
    ...(options.thirdPartyKeys ?? []).map(checkedThirdPartyKey),
    secretJwk(options.jwtSecret),
  ];
  // One connection beyond the pool's for the catalog reads: PostgREST reads its schema cache
  // when it starts, not inside a request's pool slot.
  const connect = () =>
    postgres(options.databaseUrl, {
      max: poolSize + 1,
      prepare: false,
      // No delay before a reconnect: the stand-in retires a pool after a connection error (as
      // PostgREST does), and postgres.js 3.4.9's end() does not cancel a reconnect timer, which
      // would then outlive close() (seen on Deno 2.1, whose sockets close in another order).
      backoff: () => 0,
      onnotice: () => {},
      connection: { application_name: "postgrest-stand-in" },
    });
  let pool = connect();
  const slots = createSlots(poolSize, options.poolAcquisitionTimeoutMs ?? 10_000);
  const pending = new Set<Promise<unknown>>();
  const cache: SchemaCache = { routines: new Map(), tables: new Map(), roleSettings: new Map() };

  function track<T>(work: Promise<T>): Promise<T> {
    pending.add(work);
    work.finally(() => pending.delete(work)).catch(() => {});
    return work;
  }

  // Like PostgREST after a connection error, drop the pool and connect afresh. Ending it at
  // once also sidesteps postgres.js 3.4.9, whose end() waits forever on a connection that
  // died mid-query (porsager/postgres#1097).
  function retire(old: postgres.Sql): void {
    if (pool !== old) return;
    pool = connect();
    track(old.end({ timeout: 0 }).catch(() => {}));
  }

  async function respond(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const rpcMatch = RPC_PATH.exec(url.pathname);
    const tableMatch = rpcMatch ? null : TABLE_PATH.exec(url.pathname);
    if (!rpcMatch && !(tableMatch && TABLE_METHODS.includes(req.method))) {
      return errorResponse(404, {
        code: "PGRST125",
        message: "Invalid path specified in request URL",
        details: "The stand-in serves only POST /rest/v1/rpc/<function>, and GET, POST and " +
          "DELETE /rest/v1/<table>",
        hint: null,
      });
    }
    if (rpcMatch && req.method !== "POST") {
      return errorResponse(405, {
        code: "PGRST101",
        message: `Cannot use the ${req.method} method on RPC`,
        details: "The stand-in serves only POST",
        hint: null,
      }, { Allow: "POST" });
    }
    const identity = await authenticate(req.headers, options, keys);
    if (identity instanceof Response) return identity;

    // A read names its schema in Accept-Profile, a write or call in Content-Profile.
    const reading = req.method === "GET";
    const profile = req.headers.get(reading ? "accept-profile" : "content-profile");
    if (profile !== null && profile !== schema) {
      return errorResponse(406, {
        code: "PGRST106",
        message: `Invalid schema: ${profile}`,
        details: null,
        hint: `Only the following schemas are exposed: ${schema}`,
      });
    }
    const mediaType = req.headers.get("content-type")?.split(";")[0].trim().toLowerCase();
    if (!reading && mediaType && mediaType !== "application/json") {
      return errorResponse(406, {
        code: "PGRST107",
        message: `None of these media types are available: ${mediaType}`,
        details: "The stand-in accepts only application/json bodies",
        hint: null,
      });
    }
    const body = req.method === "POST" ? await req.text() : "";
    const request = { schema, identity, req, path: url.pathname };
    const args = rpcMatch ? parseArgs(body) : {};
    if (args instanceof Response) return args;
    const db: Backend = { sql: pool, slots, maxRows };
    try {
      if (tableMatch) {
        const name = decodeURIComponent(tableMatch[1]);
        const access = { ...request, name, query: url.searchParams, body };
        return reading ? await readTable(db, cache, access) : await writeTable(db, cache, access);
      }
      const name = decodeURIComponent((rpcMatch as RegExpExecArray)[1]);
      return await call(db, cache, { ...request, name, args });
    } catch (error) {
      if (error instanceof Unreachable || isConnectionError(error)) retire(db.sql);
      return databaseErrorResponse(error, identity.role !== ANON_ROLE);
    }
  }

  return {
    handler(req, info) {
      const fault = options.gatewayFault?.(req) ?? null;
      const work = fault !== null
        ? Promise.resolve(gatewayErrorPage(fault, new URL(req.url).host))
        : track(
          respond(req).catch((error) =>
            errorResponse(500, {
              code: null,
              message: error instanceof Error ? error.message : String(error),
              details: null,
              hint: null,
            })
          ),
        );
      return info ? work : abortable(work, req.signal);
    },
    async close() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
      await pool.end({ timeout: 5 });
    },
  };
}

// Like fetch, reject with the signal's reason once it aborts; the call itself runs on (it is
// awaited by close()), as PostgREST finishes a transaction whose client went away.
function abortable(work: Promise<Response>, signal: AbortSignal): Promise<Response> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

// The gateway, then PostgREST's JWT authentication against `keys`.
async function authenticate(
  headers: Headers,
  options: PostgrestStandInOptions,
  keys: readonly JsonWebKey[],
): Promise<Identity | Response> {
  const authorization = headers.get("authorization");
  const bearer = authorization?.match(/^bearer\s*(.*)$/i)?.[1].trim() ?? null;
  const apikey = headers.get("apikey");
  // The gateway checks every `sb_` key it is given, in `apikey` or as the bearer; a user's token
  // in Authorization next to a publishable key passes through to PostgREST (supabase-js sends
  // exactly that with `accessToken`: Supabase docs, guides/api/api-keys, "How API keys work").
  const roleOfKey = (key: string): Identity | null =>
    options.secretKeys?.includes(key)
      ? { role: "service_role", claims: { role: "service_role" } }
      : options.publishableKeys?.includes(key)
      ? { role: ANON_ROLE, claims: { role: ANON_ROLE } }
      : null;
  for (const candidate of [bearer, apikey]) {
    if (candidate?.startsWith("sb_") && roleOfKey(candidate) === null) {
      return errorResponse(401, {
        code: null,
        message: "Invalid API key",
        details: null,
        hint: "Double check your Supabase `anon` or `service_role` API key.",
      });
    }
  }
  if (bearer?.startsWith("sb_")) return roleOfKey(bearer) as Identity;
  if (bearer === null) {
    return (apikey?.startsWith("sb_") ? roleOfKey(apikey) : null) ??
      { role: ANON_ROLE, claims: { role: ANON_ROLE } };
  }

  const result = await verifyJwt(bearer, keys);
  if (!result.ok) {
    return errorResponse(401, {
      code: result.code,
      message: result.message,
      details: result.details,
      hint: null,
    }, {
      "WWW-Authenticate": `Bearer error="invalid_token", error_description="${result.message}"`,
    });
  }
  // Auth/Jwt.hs parseClaims: the `role` claim as it is (a string) or JSON-encoded, anon without.
  const claim = result.claims.role;
  const role = claim === undefined
    ? ANON_ROLE
    : typeof claim === "string"
    ? claim
    : JSON.stringify(claim);
  return { role, claims: { ...result.claims, role } };
}

// A third-party key the stand-in can verify with: a public RSA JWK (Clerk's kind).
function checkedThirdPartyKey(key: JsonWebKey): JsonWebKey {
  if (key.kty !== "RSA" || typeof key.n !== "string" || typeof key.e !== "string") {
    throw new TypeError(
      `thirdPartyKeys: only RSA public keys are modelled, got kty ${JSON.stringify(key.kty)}`,
    );
  }
  return key;
}

function parseArgs(text: string): Record<string, unknown> | Response {
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return errorResponse(400, {
      code: "PGRST102",
      message: "Empty or invalid json",
      details: error instanceof Error ? error.message : null,
      hint: null,
    });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return errorResponse(400, {
      code: "PGRST102",
      message: "The request body must be a JSON object of the function's named arguments",
      details: `got ${Array.isArray(value) ? "an array" : typeof value}`,
      hint: null,
    });
  }
  return Object.fromEntries(Object.entries(value));
}

/** What every request runs with. */
interface ApiRequest {
  schema: string;
  identity: Identity;
  req: Request;
  path: string;
}

/** A function call. */
interface Call extends ApiRequest {
  name: string;
  args: Record<string, unknown>;
}

/** A read of or a write to a table. */
interface TableAccess extends ApiRequest {
  name: string;
  query: URLSearchParams;
  /** The request body (empty for GET and DELETE). */
  body: string;
}

/** The database side of a request: the connection pool, its slots, and db-max-rows. */
interface Backend {
  sql: postgres.Sql;
  slots: Slots;
  maxRows: number | null;
}

/** The database could not be reached: `cause` is the connection error. */
class Unreachable extends Error {
  constructor(override readonly cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/** Connecting for a request's transaction failed (PostgREST: ConnectionUsageError). */
class ConnectFailure extends Unreachable {}

/** Reading the catalog failed for want of a connection: there is no schema cache to use. */
class NoSchemaCache extends Unreachable {}

/** No pool slot came free within db-pool-acquisition-timeout. */
class AcquisitionTimeout extends Error {}

// A catalog read that cannot connect (whatever the server said) or loses its connection leaves
// the stand-in as PostgREST is before its schema cache loads: it answers 503 PGRST002
// (Error.hs NoSchemaCacheError).
async function fromCatalog<T>(
  db: postgres.Sql,
  read: (sql: postgres.Sql) => Promise<T>,
): Promise<T> {
  let sql: postgres.ReservedSql;
  try {
    sql = await db.reserve();
  } catch (error) {
    throw new NoSchemaCache(error);
  }
  try {
    return await read(sql);
  } catch (error) {
    throw isConnectionError(error) ? new NoSchemaCache(error) : error;
  } finally {
    sql.release();
  }
}

/** What the stand-in keeps from the catalog, as PostgREST's schema cache does. */
interface SchemaCache {
  routines: Map<string, Promise<Routine[]>>;
  tables: Map<string, Promise<TableInfo | null>>;
  roleSettings: Map<string, Promise<[string, string][]>>;
}

// Concurrent first calls share one lookup; a failed lookup, or one that `keep` refuses, is
// not kept.
function cached<T>(
  map: Map<string, Promise<T>>,
  key: string,
  load: () => Promise<T>,
  keep: (value: T) => boolean = () => true,
): Promise<T> {
  let entry = map.get(key);
  if (!entry) {
    entry = load();
    map.set(key, entry);
    entry.then((value) => keep(value) || map.delete(key), () => map.delete(key));
  }
  return entry;
}

async function call(db: Backend, cache: SchemaCache, c: Call): Promise<Response> {
  const routines = await cached(
    cache.routines,
    `${c.schema}.${c.name}`,
    () => fromCatalog(db.sql, (sql) => findRoutines(sql, c.schema, c.name)),
    (found) => found.length > 0,
  );
  const keys = Object.keys(c.args).sort();
  const candidates = routines.filter((r) => matches(r, keys));
  if (candidates.length === 0) return noRpcResponse(c.schema, c.name, keys, routines);
  if (candidates.length > 1) {
    return errorResponse(300, {
      code: "PGRST203",
      message: `Could not choose the best candidate function between: ${
        candidates.map((r) => signature(c.schema, c.name, r)).join(", ")
      }`,
      details: null,
      hint: "Try renaming the parameters or the function itself in the database so function " +
        "overloading can be resolved",
    });
  }
  const routine = candidates[0];
  const given = routine.params.filter((p) => keys.includes(p.name));
  const callExpr = `${ident(c.schema)}.${ident(c.name)}(${
    given.map((p) => `${ident(p.name)} := pgrst_args.${ident(p.name)}`).join(", ")
  })`;
  const from = given.length === 0
    ? ""
    : `jsonb_to_record($1::text::jsonb) as pgrst_args(${
      given.map((p) => `${ident(p.name)} ${p.type}`).join(", ")
    })`;
  // db-max-rows limits what a set-returning call returns: PostgREST reads the call's rows with
  // `LIMIT <max-rows>` (Plan.hs treeRestrictRange, QueryBuilder.hs readPlanToQuery).
  const limit = db.maxRows === null ? "" : ` limit ${db.maxRows}`;
  const query = routine.returnsSet
    ? `select coalesce(jsonb_agg(to_jsonb(pgrst_rows.pgrst_row)), '[]')::text as body from (select pgrst_row from ${
      from ? `${from}, lateral ` : ""
    }${callExpr} as pgrst_row${limit}) pgrst_rows`
    : `select coalesce(to_jsonb(${callExpr})::text, 'null') as body${from ? ` from ${from}` : ""}`;
  const params = given.length === 0 ? [] : [JSON.stringify(c.args)];

  const roleSettings = await cachedRoleSettings(db, cache, c.identity.role);
  const body = await transaction(db, routine.volatile, async (tx) => {
    await applySettings(tx, c, roleSettings, routine.statementTimeout);
    const rows = await tx.unsafe(query, params, { prepare: true });
    return String(rows[0]?.body ?? "null");
  });
  if (routine.returnsVoid) return new Response(null, { status: 204, statusText: "No Content" });
  return new Response(body, {
    status: 200,
    statusText: "OK",
    headers: { "Content-Type": "application/json; charset=utf-8" },
  });
}

function cachedRoleSettings(
  db: Backend,
  cache: SchemaCache,
  role: string,
): Promise<[string, string][]> {
  return cached(
    cache.roleSettings,
    role,
    () => fromCatalog(db.sql, (sql) => findRoleSettings(sql, role)),
  );
}

// A table of the exposed schema from the schema cache (looked up again while it is missing).
function cachedTable(db: Backend, cache: SchemaCache, t: TableAccess): Promise<TableInfo | null> {
  return cached(
    cache.tables,
    `${t.schema}.${t.name}`,
    () => fromCatalog(db.sql, (sql) => findTable(sql, t.schema, t.name)),
    (found) => found !== null,
  );
}

async function readTable(db: Backend, cache: SchemaCache, r: TableAccess): Promise<Response> {
  const table = await cachedTable(db, cache, r);
  if (!table) return tableErrorResponse(tableNotFound(r.schema, r.name));
  const plan = planRead(table, r.query, r.req.headers.get("accept"), db.maxRows);
  if ("status" in plan) return tableErrorResponse(plan);

  const roleSettings = await cachedRoleSettings(db, cache, r.identity.role);
  const result = await transaction(db, false, async (tx) => {
    await applySettings(tx, r, roleSettings, null);
    const [row] = await tx.unsafe(plan.sql, plan.params, { prepare: true });
    return { count: Number(row.count), body: String(row.body) } satisfies ReadResult;
  });
  // MainTx.hs failNotSingular (after a read-only transaction, so nothing to roll back).
  if (plan.singular && result.count !== 1) {
    return errorResponse(406, {
      code: "PGRST116",
      message: "Cannot coerce the result to a single JSON object",
      details: `The result contains ${result.count} rows`,
      hint: null,
    });
  }
  // RangeQuery.hs contentRangeH without a count: `<first>-<last>/*`, or `*/*` for no rows.
  const range = result.count === 0 ? "*/*" : `${plan.offset}-${plan.offset + result.count - 1}/*`;
  return new Response(result.body, {
    status: 200,
    statusText: "OK",
    headers: {
      "Content-Range": range,
      "Content-Type": `${plan.mediaType}; charset=utf-8`,
    },
  });
}

async function writeTable(db: Backend, cache: SchemaCache, w: TableAccess): Promise<Response> {
  const table = await cachedTable(db, cache, w);
  if (!table) return tableErrorResponse(tableNotFound(w.schema, w.name));
  const prefer = parsePreferences(w.req.headers.get("prefer"));
  const plan = w.req.method === "POST"
    ? planInsert(table, w.query, w.body, prefer)
    : planDelete(table, w.query, prefer);
  if ("status" in plan) return tableErrorResponse(plan);

  const roleSettings = await cachedRoleSettings(db, cache, w.identity.role);
  const result = await transaction(db, true, async (tx) => {
    await applySettings(tx, w, roleSettings, null);
    const [row] = await tx.unsafe(plan.sql, plan.params, { prepare: true });
    return {
      affected: Number(row.affected),
      inserted: row.inserted === null ? null : Number(row.inserted),
      body: row.body === null ? null : String(row.body),
    } satisfies WriteResult;
  });
  const headers: Record<string, string> = { "Content-Range": "*/*" };
  if (prefer.applied.length > 0) headers["Preference-Applied"] = prefer.applied.join(", ");
  const status = writeStatus(plan, result);
  if (!plan.representation) {
    return new Response(null, { status, statusText: STATUS_TEXT[status], headers });
  }
  return new Response(result.body, {
    status,
    statusText: STATUS_TEXT[status],
    headers: { ...headers, "Content-Type": "application/json; charset=utf-8" },
  });
}

// A table or view of the exposed schema: its columns and primary key, or null.
async function findTable(db: postgres.Sql, schema: string, name: string) {
  const rows = await db.unsafe(TABLE_COLUMNS_SQL, [schema, name]);
  if (rows.length === 0) return null;
  return {
    schema,
    name,
    columns: rows.map((row) => ({ name: String(row.name), type: String(row.type) })),
    primaryKey: rows.filter((row) => row.primary_key).map((row) => String(row.name)),
  } satisfies TableInfo;
}

function tableErrorResponse(error: TableError): Response {
  const { status, ...body } = error;
  return errorResponse(status, body);
}

// A request's transaction holds one of the pool's slots from BEGIN to COMMIT, as PostgREST
// holds a hasql-pool connection; waiting longer than db-pool-acquisition-timeout for one is
// AcquisitionTimeoutUsageError (504 PGRST003), and failing to connect is ConnectionUsageError
// (503 PGRST000) whatever the server said (57P03 "the database system is starting up" too).
// BEGIN/COMMIT on a reserved connection rather than sql.begin(): after a lost connection,
// sql.begin() writes ROLLBACK to the dead socket, which crashes postgres.js 3.4.9 from a
// setImmediate (porsager/postgres#1154). Here nothing is written once the connection is gone.
async function transaction<T>(
  db: Backend,
  readWrite: boolean,
  fn: (tx: postgres.ReservedSql) => Promise<T>,
): Promise<T> {
  if (!(await db.slots.acquire())) throw new AcquisitionTimeout();
  try {
    let tx: postgres.ReservedSql;
    try {
      tx = await db.sql.reserve();
    } catch (error) {
      throw new ConnectFailure(error);
    }
    try {
      await tx.unsafe(readWrite ? "begin read write" : "begin read only");
      const result = await fn(tx);
      await tx.unsafe("commit");
      return result;
    } catch (error) {
      if (!isConnectionError(error)) await tx.unsafe("rollback").catch(() => {});
      throw error;
    } finally {
      tx.release();
    }
  } finally {
    db.slots.release();
  }
}

/** The pool's slots, taken in arrival order; `acquire` resolves false after `timeoutMs`. */
interface Slots {
  acquire(): Promise<boolean>;
  release(): void;
}

function createSlots(size: number, timeoutMs: number): Slots {
  let free = size;
  const waiting: ((granted: boolean) => void)[] = [];
  return {
    acquire() {
      if (free > 0) {
        free--;
        return Promise.resolve(true);
      }
      return new Promise((resolve) => {
        const grant = (granted: boolean) => {
          clearTimeout(timer);
          resolve(granted);
        };
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(grant), 1);
          resolve(false);
        }, timeoutMs);
        waiting.push(grant);
      });
    },
    release() {
      const next = waiting.shift();
      if (next) next(true);
      else free++;
    },
  };
}

// The `alter role ... set` settings of a role the login role (authenticator) is a member of,
// that the login role may set: a `user` setting, or one it was granted SET on (PostgreSQL 15's
// GRANT SET ON PARAMETER). PostgREST's queryRoleSettings (Config/Database.hs), whose
// default_transaction_isolation (the transaction's isolation level) is not modelled here.
async function findRoleSettings(db: postgres.Sql, role: string): Promise<[string, string][]> {
  const rows = await db.unsafe(
    `with role_setting as (
       select unnest(r.rolconfig) as setting
         from pg_auth_members m
         join pg_roles r on r.oid = m.roleid
        where m.member = quote_ident(current_user)::regrole::oid and r.rolname = $1
     ), kv_settings as (
       select substr(setting, 1, strpos(setting, '=') - 1) as name,
              substr(setting, strpos(setting, '=') + 1) as value
         from role_setting
     )
     select kv.name, kv.value
       from kv_settings kv
       join pg_settings ps on ps.name = kv.name
        and (ps.context = 'user'
             or has_parameter_privilege(quote_ident(current_user)::regrole::oid, ps.name, 'set'))
      where kv.name <> 'default_transaction_isolation'`,
    [role],
  );
  return rows.map((row): [string, string] => [String(row.name), String(row.value)]);
}

async function applySettings(
  tx: postgres.ReservedSql,
  r: ApiRequest,
  roleSettings: [string, string][],
  statementTimeout: string | null,
) {
  // Cookies reach the function as request.cookies only (ApiRequest.hs: `k /= hCookie`).
  const headers: Record<string, string> = {};
  r.req.headers.forEach((value, key) => {
    if (key !== "cookie") headers[key] = value;
  });
  // PostgREST's order (Query/PreQuery.hs txVarQuery): the role's settings come before `role`,
  // so they are set as authenticator, to whom `GRANT SET ON PARAMETER` is given
  // (PostgREST#3045).
  const settings: [string, string][] = [
    ["search_path", `${ident(r.schema)}, "extensions"`],
    ...roleSettings,
    ["role", r.identity.role],
    ["request.jwt.claims", JSON.stringify(r.identity.claims)],
    ["request.method", r.req.method],
    ["request.path", r.path.replace(/^\/rest\/v1/, "")],
    ["request.headers", JSON.stringify(headers)],
    ["request.cookies", JSON.stringify(parseCookies(r.req.headers.get("cookie")))],
  ];
  if (statementTimeout !== null) settings.push(["statement_timeout", statementTimeout]);
  const calls = settings.map((_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`);
  await tx.unsafe(`select ${calls.join(", ")}`, settings.flat(), { prepare: true });
}

async function findRoutines(db: postgres.Sql, schema: string, name: string): Promise<Routine[]> {
  const rows = await db.unsafe(
    `select coalesce(p.proargnames, '{}') as arg_names,
            coalesce(p.proargmodes::text[], '{}') as arg_modes,
            array(select format_type(t, null) from unnest(p.proargtypes) as t) as in_types,
            p.pronargs - p.pronargdefaults as required,
            p.provolatile = 'v' as volatile,
            p.proretset as returns_set,
            p.prorettype = 'void'::regtype as returns_void,
            (select substr(c, 19) from unnest(p.proconfig) as c
              where c like 'statement_timeout=%') as statement_timeout
       from pg_proc p
       join pg_namespace n on n.oid = p.pronamespace
      where n.nspname = $1 and p.proname = $2 and p.prokind = 'f'`,
    [schema, name],
  );
  return rows.map((row) => {
    const names: string[] = row.arg_names;
    const modes: string[] = row.arg_modes;
    const types: string[] = row.in_types;
    const inNames = modes.length === 0
      ? names
      : names.filter((_, i) => modes[i] === "i" || modes[i] === "b" || modes[i] === "v");
    return {
      params: types.map((type, i) => ({ name: inNames[i] ?? "", type })),
      required: Number(row.required),
      volatile: Boolean(row.volatile),
      returnsSet: Boolean(row.returns_set),
      returnsVoid: Boolean(row.returns_void),
      statementTimeout: row.statement_timeout ?? null,
    };
  });
}

// PostgREST calls an overload whose parameters include every key and whose parameters without
// default are all among the keys. Unnamed parameters cannot be given by name.
function matches(routine: Routine, keys: string[]): boolean {
  const names = routine.params.map((p) => p.name);
  if (names.some((n) => n === "")) return false;
  return keys.every((k) => names.includes(k)) &&
    names.slice(0, routine.required).every((n) => keys.includes(n));
}

function noRpcResponse(schema: string, name: string, keys: string[], overloads: Routine[]) {
  const func = `${schema}.${name}`;
  const params = keys.length === 0
    ? " without parameters"
    : ` with parameter${keys.length > 1 ? "s" : ""} ${keys.join(", ")}`;
  const closest = overloads[0];
  return errorResponse(404, {
    code: "PGRST202",
    message: `Could not find the function ${func}${
      keys.length === 0 ? " without parameters" : `(${keys.join(", ")})`
    } in the schema cache`,
    details: `Searched for the function ${func}${params} or with a single unnamed json/jsonb ` +
      "parameter, but no matches were found in the schema cache.",
    hint: closest
      ? `Perhaps you meant to call the function ${func}(${
        closest.params.map((p) => p.name).sort().join(", ")
      })`
      : null,
  });
}

function signature(schema: string, name: string, routine: Routine): string {
  return `${schema}.${name}(${routine.params.map((p) => `${p.name} => ${p.type}`).join(", ")})`;
}

const LOST = ["CONNECTION_CLOSED", "CONNECTION_DESTROYED", "ECONNRESET", "EPIPE"];

function errorCode(error: unknown): string {
  return typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
}

// The connection is unusable: it was never made, or it went away (the server shut down).
function isConnectionError(error: unknown): boolean {
  const code = errorCode(error);
  if (error instanceof postgres.PostgresError) {
    return code.startsWith("08") || ["57P01", "57P02", "57P03"].includes(code);
  }
  return LOST.includes(code) || code.startsWith("E") || code.startsWith("CONNECT");
}

// Error.hs: pgErrorStatus and the ErrorBody instances of UsageError, CommandError and Error.
function databaseErrorResponse(error: unknown, authed: boolean): Response {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof AcquisitionTimeout) {
    return errorResponse(504, {
      code: "PGRST003",
      message: "Timed out acquiring connection from connection pool.",
      details: null,
      hint: null,
    });
  }
  if (error instanceof NoSchemaCache) {
    return errorResponse(503, {
      code: "PGRST002",
      message: "Could not query the database for the schema cache. Retrying.",
      details: null,
      hint: null,
    });
  }
  if (error instanceof ConnectFailure) {
    // "Database connection error." since PostgREST 14.13 (#4980); before, with " Retrying the
    // connection." appended.
    return errorResponse(503, {
      code: "PGRST000",
      message: "Database connection error.",
      details: message,
      hint: null,
    });
  }
  if (error instanceof postgres.PostgresError) {
    return errorResponse(statusForSqlState(error.code, error.message, authed), {
      code: error.code,
      message: error.message,
      details: error.detail ?? null,
      hint: error.hint ?? null,
    });
  }
  // The connection went away mid-call without a server error (hasql's ClientError).
  if (isConnectionError(error)) {
    return errorResponse(503, {
      code: "PGRST001",
      message: "Database client error. Retrying the connection.",
      details: message,
      hint: null,
    });
  }
  return errorResponse(500, { code: "PGRSTX00", message, details: null, hint: null });
}

/**
 * The HTTP status PostgREST answers for a SQLSTATE the database returned (Error.hs
 * mapSQLtoHTTP): 57P01 is 503 but 57P02 and 57P03 are 500 like the rest of 57 (a server that
 * refuses a new connection with 57P03 is a connection failure, PGRST000, not this); `PT<digits>`
 * is that status, any other `PT...` 500.
 */
export function statusForSqlState(code: string, message: string, authed: boolean): number {
  const exact: Record<string, number> = {
    "23503": 409,
    "23505": 409,
    "25006": 405,
    "53400": 500,
    "57P01": 503,
    "P0001": 400,
    "42883": 404,
    "42P01": 404,
    "42P17": 500,
  };
  if (code === "42501") return authed ? 403 : 401;
  if (code === "22023" && /^role .* does not exist$/.test(message)) return 401;
  if (code === "21000") return message.endsWith("requires a WHERE clause") ? 400 : 500;
  if (code in exact) return exact[code];
  const prefixes: [string, number][] = [
    ["08", 503],
    ["09", 500],
    ["0L", 403],
    ["0P", 403],
    ["25", 500],
    ["28", 403],
    ["2D", 500],
    ["38", 500],
    ["39", 500],
    ["3B", 500],
    ["40", 500],
    ["53", 503],
    ["54", 500],
    ["55", 500],
    ["57", 500],
    ["58", 500],
    ["F0", 500],
    ["HV", 500],
    ["P0", 500],
    ["XX", 500],
  ];
  const prefixed = prefixes.find(([prefix]) => code.startsWith(prefix));
  if (prefixed) return prefixed[1];
  if (code.startsWith("PT")) return /^\d+$/.test(code.slice(2)) ? Number(code.slice(2)) : 500;
  return 400;
}

function errorResponse(
  status: number,
  body: ErrorBody,
  headers: Record<string, string> = {},
): Response {
  const extra: Record<string, string> = status === 401 && !("WWW-Authenticate" in headers)
    ? { "WWW-Authenticate": "Bearer" }
    : {};
  return new Response(JSON.stringify(body), {
    status,
    statusText: STATUS_TEXT[status] ?? "",
    headers: {
      "Content-Type": "application/json; charset=utf-8",
      ...(body.code ? { "Proxy-Status": `PostgREST; error=${body.code}` } : {}),
      ...extra,
      ...headers,
    },
  });
}

/**
 * The gateway's error page: Cloudflare, in front of every Supabase project, answers 520 when
 * the origin's answer is unusable (empty, reset, malformed) and 502 for a bad gateway, with an
 * HTML page titled `<host> | 520: Web server is returning an unknown error` (as quoted in
 * supabase/edge-runtime#263, and Supabase's troubleshooting guide "Fixing 520 Errors in the
 * Database REST API"). supabase-js, unable to parse it, reports `{ message: <the page> }`.
 */
export function gatewayErrorPage(status: GatewayFault, host: string): Response {
  const reason = status === 520 ? "Web server is returning an unknown error" : "Bad gateway";
  const ray = Array.from(
    crypto.getRandomValues(new Uint8Array(8)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const html = `<!DOCTYPE html>
<html lang="en-US">
<head>
<title>${host} | ${status}: ${reason}</title>
<meta charset="UTF-8" />
</head>
<body>
<div id="cf-wrapper"><div id="cf-error-details">
<h1><span class="inline-block">${reason}</span> <span class="code-label">Error code ${status}</span></h1>
<p>Cloudflare Ray ID: <strong>${ray}</strong></p>
</div></div>
</body>
</html>
`;
  return new Response(html, {
    status,
    headers: { "Content-Type": "text/html; charset=UTF-8", Server: "cloudflare", "CF-RAY": ray },
  });
}

/**
 * `[api] max_rows` of supabase/config.toml: the `db-max-rows` the platform gives PostgREST
 * (1000, the Supabase CLI's default, when the file does not set it).
 */
export function configMaxRows(): number {
  const toml = Deno.readTextFileSync(new URL("../../supabase/config.toml", import.meta.url));
  const api = /^\[api\]\s*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(toml)?.[1] ?? "";
  const value = /^max_rows\s*=\s*(\d+)\s*(?:#.*)?$/m.exec(api)?.[1];
  return value === undefined ? 1000 : Number(value);
}

function parseCookies(header: string | null): Record<string, string> {
  const cookies: Record<string, string> = {};
  for (const part of header?.split(";") ?? []) {
    const at = part.indexOf("=");
    if (at > 0) cookies[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return cookies;
}

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
