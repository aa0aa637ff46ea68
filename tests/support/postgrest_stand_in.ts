/**
 * A stand-in for what answers `<SUPABASE_URL>/rest/v1/` on a Supabase project: the API gateway
 * (which turns a `sb_secret_...` key into a service_role JWT) in front of PostgREST. It serves
 * the two routes supabase-js sends here: `POST /rest/v1/rpc/<function>` ("Functions as RPC",
 * `supabase.rpc()`), and `POST` and `DELETE /rest/v1/<table>` (`.insert()`, `.upsert()`,
 * `.delete()` with filters; statements and their errors planned in `postgrest_tables.ts`).
 * PostgREST cannot run here; this does the same work against the real database, so RLS,
 * grants, SECURITY DEFINER and SQLSTATEs are the real ones.
 *
 * Follows PostgREST's documented contract (docs.postgrest.org: references/auth, transactions,
 * api/functions, api/tables_views, api/preferences, errors; status mapping as in
 * src/PostgREST/Error.hs and Response.hs):
 * - Auth: `Authorization: Bearer <jwt>` verified as HS256 with the JWT secret; a bad token is
 *   401 PGRST301, a failed `exp`/`nbf`/`iat` check (30 s skew) 401 PGRST303 ("JWT expired").
 *   The `role` claim is the database role; no token (or no role claim) means `anon`.
 * - One transaction per request, connected as `authenticator`: READ WRITE for table writes and
 *   VOLATILE functions, READ ONLY otherwise; `set_config` of `search_path`, `role` (user
 *   impersonation), `request.jwt.claims`, `request.headers`, `request.cookies`,
 *   `request.method`, `request.path`, then the impersonated role's settings (and for a call the
 *   function's `statement_timeout`).
 * - RPC: the JSON body's keys are the function's named arguments; the overload whose
 *   parameters cover the keys (and whose parameters without default are all given) is called.
 *   None: 404 PGRST202 with PostgREST's message and details; several: 300 PGRST203. Result: a
 *   scalar or composite as JSON, SETOF as a JSON array, void as 204.
 * - Tables: `POST` inserts the body's rows (an object or an array), as an upsert with
 *   `Prefer: resolution=merge-duplicates` (`on_conflict`, else the primary key); 201, or 200
 *   when an upsert only updated. `DELETE` deletes the rows its filters (`?user_id=eq.<id>`)
 *   match; 204. With `Prefer: return=representation` the rows come back as a JSON array (201 or
 *   200). An unknown table is 404 PGRST205, an unknown column 400 PGRST204, a DELETE without a
 *   filter 400 21000 (Supabase loads pg-safeupdate for the Data API).
 * - Errors: `{ code, message, details, hint }`, SQLSTATE mapped to HTTP as PostgREST does
 *   (42501: 401 for anon, else 403; 42883/42P01: 404; 23503/23505: 409; P0001 and other: 400;
 *   08*, 53*, 57P01: 503; 57014 and the rest of 5x/XX: 500); connection failures 503 PGRST000
 *   (connect) / PGRST001 (lost mid-call). 57P02/57P03 (crash shutdown, not accepting
 *   connections) are answered 503 too: they reach PostgREST as the connection failures they are.
 * - Schema cache: a function's overloads, a table's columns and a role's settings are read from
 *   the catalog once and kept, and statements are prepared (PostgREST's
 *   `db-prepared-statements`), so a request costs what it costs behind PostgREST: BEGIN, one
 *   `set_config` statement, the call or write, COMMIT. Unlike PostgREST, a function or table
 *   that is not found is looked up again on its next request (there is no
 *   `NOTIFY pgrst, 'reload schema'` here), so objects created later are found.
 * Not modelled: GET/HEAD calls (405 here) and GET, PATCH and PUT on tables (404 PGRST125 here),
 * single unnamed-parameter functions, variadic calls, embedding, `Prefer` other than `return`
 * and `resolution` (accepted and ignored, as PostgREST's default `handling=lenient` does; so
 * `tx=rollback` commits, as under PostgREST's default `db-tx-end = commit`), the table
 * features listed in `postgrest_tables.ts`, the gateway's `apikey` requirement for legacy keys.
 */
import postgres from "postgres";
import { type JwtClaims, verifyJwt } from "./jwt.ts";
import {
  parsePreferences,
  planDelete,
  planInsert,
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
  /** `sb_secret_...` keys the gateway accepts as service_role. */
  secretKeys?: string[];
  /** `sb_publishable_...` keys the gateway accepts as anon. */
  publishableKeys?: string[];
  /** The exposed schema (PostgREST's `db-schemas`); default `public`. */
  schema?: string;
}

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
const TABLE_METHODS = ["POST", "DELETE"];

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
};

/** Starts a stand-in for `POST /rest/v1/rpc/<fn>` on the database at `databaseUrl`. */
export function createPostgrestStandIn(options: PostgrestStandInOptions): PostgrestStandIn {
  const schema = options.schema ?? "public";
  const connect = () =>
    postgres(options.databaseUrl, {
      max: 10,
      prepare: false,
      onnotice: () => {},
      connection: { application_name: "postgrest-stand-in" },
    });
  let pool = connect();
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
        details: "The stand-in serves only POST /rest/v1/rpc/<function>, and POST and DELETE " +
          "/rest/v1/<table>",
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
    const identity = await authenticate(req.headers, options);
    if (identity instanceof Response) return identity;

    const profile = req.headers.get("content-profile");
    if (profile !== null && profile !== schema) {
      return errorResponse(406, {
        code: "PGRST106",
        message: `Invalid schema: ${profile}`,
        details: null,
        hint: `Only the following schemas are exposed: ${schema}`,
      });
    }
    const mediaType = req.headers.get("content-type")?.split(";")[0].trim().toLowerCase();
    if (mediaType && mediaType !== "application/json") {
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
    const used = pool;
    try {
      if (tableMatch) {
        const name = decodeURIComponent(tableMatch[1]);
        return await writeTable(used, cache, { ...request, name, query: url.searchParams, body });
      }
      const name = decodeURIComponent((rpcMatch as RegExpExecArray)[1]);
      return await call(used, cache, { ...request, name, args });
    } catch (error) {
      if (isConnectionError(error)) retire(used);
      return databaseErrorResponse(error, identity.role !== ANON_ROLE);
    }
  }

  return {
    handler(req, info) {
      const work = track(
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

// The gateway, then PostgREST's JWT authentication.
async function authenticate(
  headers: Headers,
  options: PostgrestStandInOptions,
): Promise<Identity | Response> {
  const authorization = headers.get("authorization");
  const bearer = authorization?.match(/^bearer\s*(.*)$/i)?.[1].trim() ?? null;
  const apikey = headers.get("apikey");
  const key = bearer ?? apikey;
  if (key !== null && options.secretKeys?.includes(key)) {
    return { role: "service_role", claims: { role: "service_role" } };
  }
  if (key !== null && options.publishableKeys?.includes(key)) {
    return { role: ANON_ROLE, claims: { role: ANON_ROLE } };
  }
  for (const candidate of [bearer, apikey]) {
    if (candidate?.startsWith("sb_")) {
      return errorResponse(401, {
        code: null,
        message: "Invalid API key",
        details: null,
        hint: "Double check your Supabase `anon` or `service_role` API key.",
      });
    }
  }
  if (bearer === null) return { role: ANON_ROLE, claims: { role: ANON_ROLE } };

  const result = await verifyJwt(bearer, options.jwtSecret);
  if (!result.ok) {
    return errorResponse(401, {
      code: result.code,
      message: result.message,
      details: null,
      hint: null,
    }, {
      "WWW-Authenticate": `Bearer error="invalid_token", error_description="${result.message}"`,
    });
  }
  const role = typeof result.claims.role === "string" && result.claims.role !== ""
    ? result.claims.role
    : ANON_ROLE;
  return { role, claims: { ...result.claims, role } };
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

/** A write to a table. */
interface TableWrite extends ApiRequest {
  name: string;
  query: URLSearchParams;
  /** The request body (empty for DELETE). */
  body: string;
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

async function call(db: postgres.Sql, cache: SchemaCache, c: Call): Promise<Response> {
  const routines = await cached(
    cache.routines,
    `${c.schema}.${c.name}`,
    () => findRoutines(db, c.schema, c.name),
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
  const query = routine.returnsSet
    ? `select coalesce(jsonb_agg(to_jsonb(pgrst_row)), '[]')::text as body from ${
      from ? `${from}, lateral ` : ""
    }${callExpr} as pgrst_row`
    : `select coalesce(to_jsonb(${callExpr})::text, 'null') as body${from ? ` from ${from}` : ""}`;
  const params = given.length === 0 ? [] : [JSON.stringify(c.args)];

  const roleSettings = await cached(
    cache.roleSettings,
    c.identity.role,
    () => findRoleSettings(db, c.identity.role),
  );
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

async function writeTable(db: postgres.Sql, cache: SchemaCache, w: TableWrite): Promise<Response> {
  const table = await cached(
    cache.tables,
    `${w.schema}.${w.name}`,
    () => findTable(db, w.schema, w.name),
    (found) => found !== null,
  );
  if (!table) return tableErrorResponse(tableNotFound(w.schema, w.name));
  const prefer = parsePreferences(w.req.headers.get("prefer"));
  const plan = w.req.method === "POST"
    ? planInsert(table, w.query, w.body, prefer)
    : planDelete(table, w.query, prefer);
  if ("status" in plan) return tableErrorResponse(plan);

  const roleSettings = await cached(
    cache.roleSettings,
    w.identity.role,
    () => findRoleSettings(db, w.identity.role),
  );
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

// BEGIN/COMMIT on a reserved connection rather than sql.begin(): after a lost connection,
// sql.begin() writes ROLLBACK to the dead socket, which crashes postgres.js 3.4.9 from a
// setImmediate (porsager/postgres#1154). Here nothing is written once the connection is gone.
async function transaction<T>(
  db: postgres.Sql,
  readWrite: boolean,
  fn: (tx: postgres.ReservedSql) => Promise<T>,
): Promise<T> {
  const tx = await db.reserve();
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
}

// The role's `alter role ... set` settings that a session may set (PostgREST's role settings).
async function findRoleSettings(db: postgres.Sql, role: string): Promise<[string, string][]> {
  const rows = await db.unsafe(
    `select split_part(c, '=', 1) as name, substr(c, strpos(c, '=') + 1) as value
       from pg_db_role_setting s
       join pg_roles r on r.oid = s.setrole
       cross join unnest(s.setconfig) as c
       join pg_settings ps on ps.name = split_part(c, '=', 1) and ps.context = 'user'
      where r.rolname = $1
        and s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
      order by s.setdatabase`,
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
  const headers: Record<string, string> = {};
  r.req.headers.forEach((value, key) => headers[key] = value);
  const settings: [string, string][] = [
    ["search_path", `${ident(r.schema)}, "extensions"`],
    ["role", r.identity.role],
    ["request.jwt.claims", JSON.stringify(r.identity.claims)],
    ["request.headers", JSON.stringify(headers)],
    ["request.cookies", JSON.stringify(parseCookies(r.req.headers.get("cookie")))],
    ["request.method", r.req.method],
    ["request.path", r.path.replace(/^\/rest\/v1/, "")],
    ...roleSettings,
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

function databaseErrorResponse(error: unknown, authed: boolean): Response {
  if (error instanceof postgres.PostgresError) {
    return errorResponse(statusForSqlState(error.code, error.message, authed), {
      code: error.code,
      message: error.message,
      details: error.detail ?? null,
      hint: error.hint ?? null,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  if (LOST.includes(errorCode(error))) {
    return errorResponse(503, {
      code: "PGRST001",
      message: "Database client error. Retrying the connection.",
      details: message,
      hint: null,
    });
  }
  if (isConnectionError(error)) {
    return errorResponse(503, {
      code: "PGRST000",
      message: "Database connection error. Retrying the connection.",
      details: message,
      hint: null,
    });
  }
  return errorResponse(500, { code: "PGRSTX00", message, details: null, hint: null });
}

/** The HTTP status PostgREST answers for a SQLSTATE (docs: references/errors). */
export function statusForSqlState(code: string, message: string, authed: boolean): number {
  const exact: Record<string, number> = {
    "23503": 409,
    "23505": 409,
    "25006": 405,
    "53400": 500,
    "57P01": 503,
    "57P02": 503,
    "57P03": 503,
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
  const custom = /^PT(\d{3})$/.exec(code);
  if (custom) return Number(custom[1]);
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
