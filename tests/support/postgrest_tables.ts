/**
 * The table routes of the PostgREST stand-in (`postgrest_stand_in.ts`): the statement PostgREST
 * builds for `GET /rest/v1/<table>?<select, filters, order, limit, offset>` (read),
 * `POST /rest/v1/<table>` (insert, upsert) and `DELETE /rest/v1/<table>?<filters>`, and the errors
 * it answers before running one. Pure: the stand-in runs the statement, as the request's role, in
 * the request's transaction.
 *
 * Follows PostgREST's documented contract (docs.postgrest.org, references/api/tables_views: Read,
 * Horizontal Filtering, Operators, Vertical Filtering, Renaming Columns, Ordering, Limits and
 * Pagination, Insert, Specifying Columns, Upsert, On Conflict, Delete; references/api/
 * resource_representation: Singular or Plural, Stripped Nulls; references/api/preferences: Return
 * Representation; references/errors: PGRST100, PGRST102, PGRST103, PGRST107, PGRST116, PGRST204,
 * PGRST205) and the statement shapes of its source (src/library/PostgREST/Query/QueryBuilder.hs
 * `readPlanToQuery`, `mutatePlanToQuery`, Statements.hs `mainRead`, `mainWrite`, SqlFragment.hs
 * `asJsonF`, `asJsonSingleF`; Plan/Negotiate.hs, MediaType.hs; RangeQuery.hs; MainTx.hs
 * `failNotSingular`; Response.hs `actionResponse`):
 * - A read selects `*` or the named columns (`alias:column` renames one) of the table, with the
 *   filters, `order=<col>[.asc|.desc][.nullsfirst|.nullslast],...`, `limit` and `offset`, and
 *   aggregates the rows with `json_agg`. A column the table lacks is left for PostgreSQL to
 *   refuse (42703 "column profiles.x does not exist", 400), as PostgREST does for reads.
 *   `limit` is capped by `db-max-rows`; a negative one is 416 PGRST103; one that is not a
 *   number is ignored (`readMaybe`). The answer is a JSON array (`Content-Range:
 *   <first>-<last>/*`), or with `Accept: application/vnd.pgrst.object+json` the one row as an
 *   object, 406 PGRST116 unless exactly one row matched; `;nulls=stripped` drops null members.
 *   An `Accept` naming nothing producible is 406 PGRST107.
 * - The body of a write is a JSON object or an array of objects with the same keys; its keys, or
 *   the `columns` parameter, name the columns written, and each must be a column of the table
 *   (else 400 PGRST204). Rows come from `json_to_record(set)` typed with the columns' types, so
 *   PostgreSQL coerces.
 * - `Prefer: resolution=merge-duplicates` is `ON CONFLICT (<on_conflict, else the primary key>)
 *   DO UPDATE SET` every written column; `ignore-duplicates` is `DO NOTHING`. Inserted rows are
 *   counted in the `pgrst.inserted` setting, as PostgREST counts them, for the status.
 * - Filters are `<column>=[not.]<op>.<value>` with op one of eq, neq, gt, gte, lt, lte, in, is;
 *   values are sent untyped, so PostgreSQL reads them as the column's type.
 * Not modelled (answered 400 PGRST100 naming it): `and`, `or`, embedding and spreads, JSON paths,
 * casts and aggregates in `select`, other operators in filters, `order`/`limit`/`offset` on
 * writes, `select` other than `*` on writes. Nor: `Accept: text/csv` and other media types (406
 * PGRST107 here), the `Range` header, `Prefer: count` (no total in `Content-Range`), HEAD,
 * `Content-Location`. `Prefer: missing=default` and `return=headers-only` are ignored
 * (headers-only answers as minimal).
 */

/** A column of an exposed table, as the schema cache holds it. */
export interface TableColumn {
  name: string;
  /** `format_type()` of the column: what `json_to_record` reads the value as. */
  type: string;
}

/** An exposed table or view, as the schema cache holds it. */
export interface TableInfo {
  schema: string;
  name: string;
  columns: TableColumn[];
  primaryKey: string[];
}

/** An error PostgREST answers before running anything. */
export interface TableError {
  status: number;
  code: string;
  message: string;
  details: string | null;
  hint: string | null;
}

/** The `Prefer` header's preferences that the table routes act on. */
export interface TablePreferences {
  representation: boolean;
  resolution: "merge-duplicates" | "ignore-duplicates" | null;
  /** The recognised preferences, for `Preference-Applied`. */
  applied: string[];
}

/** A statement to run, and how its result becomes the answer. */
export interface WritePlan {
  kind: "insert" | "delete";
  sql: string;
  params: string[];
  representation: boolean;
  mergeDuplicates: boolean;
}

/** The columns of the statements' one result row. */
export interface WriteResult {
  affected: number;
  /** Rows inserted (not merged into an existing row) by a merge-duplicates upsert. */
  inserted: number | null;
  /** The returned rows as a JSON array, with return=representation. */
  body: string | null;
}

/** A read to run, and how its one result row becomes the answer. */
export interface ReadPlan {
  sql: string;
  params: string[];
  /** The media type answered (without charset): application/json or a vnd.pgrst one. */
  mediaType: string;
  /** `application/vnd.pgrst.object+json`: the one row as an object; any other count is 406. */
  singular: boolean;
  /** Where the rows start (`offset`), for `Content-Range`. */
  offset: number;
}

/** The columns of a read's one result row. */
export interface ReadResult {
  /** Rows read. */
  count: number;
  /** The rows as a JSON array, or the one row as an object. */
  body: string;
}

const FILTER_OPERATORS: Record<string, string> = {
  eq: "=",
  neq: "<>",
  gt: ">",
  gte: ">=",
  lt: "<",
  lte: "<=",
};
const IS_VALUES: Record<string, string> = {
  null: "null",
  true: "true",
  false: "false",
  unknown: "unknown",
};
const RESERVED = ["select", "columns", "on_conflict"];
const NOT_MODELLED = ["order", "limit", "offset", "and", "or"];
const READ_RESERVED = [...RESERVED, "order", "limit", "offset"];
// A column name as PostgREST's pFieldName reads it: quoted, or letters, digits, `_` and `$`.
const FIELD = String.raw`"[^"]*"|[\p{L}\p{N}_$]+`;
const SELECT_ITEM = new RegExp(`^(?:(${FIELD}):)?(${FIELD})$`, "u");
const ORDER_TERM = new RegExp(`^(${FIELD})(?:\\.(asc|desc))?(?:\\.(nullsfirst|nullslast))?$`, "u");
const INSERTED = "nullif(current_setting('pgrst.inserted', true), '')::int";

/** The catalog query that fills a {@linkcode TableInfo}: one row per column, in order. */
export const TABLE_COLUMNS_SQL = `
  select a.attname as name,
         format_type(a.atttypid, a.atttypmod) as type,
         coalesce(a.attnum = any(i.indkey), false) as primary_key
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    left join pg_index i on i.indrelid = c.oid and i.indisprimary
   where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p', 'v', 'm', 'f')
   order by a.attnum`;

/** The preferences of a `Prefer` header (several headers arrive joined by commas). */
export function parsePreferences(header: string | null): TablePreferences {
  const given = (header ?? "").split(",").map((p) => p.trim()).filter((p) => p !== "");
  let representation = false;
  let resolution: TablePreferences["resolution"] = null;
  const applied: string[] = [];
  for (const preference of given) {
    if (preference === "return=representation" || preference === "return=minimal") {
      representation = preference === "return=representation";
      applied.push(preference);
    } else if (
      preference === "resolution=merge-duplicates" || preference === "resolution=ignore-duplicates"
    ) {
      resolution = preference === "resolution=merge-duplicates"
        ? "merge-duplicates"
        : "ignore-duplicates";
      applied.push(preference);
    }
  }
  return { representation, resolution, applied };
}

/** The 404 PGRST205 for a table the schema cache does not hold. */
export function tableNotFound(schema: string, name: string): TableError {
  return {
    status: 404,
    code: "PGRST205",
    message: `Could not find the table '${schema}.${name}' in the schema cache`,
    details: null,
    hint: null,
  };
}

/** Plans `POST /rest/v1/<table>`: an insert, or an upsert with a `resolution` preference. */
export function planInsert(
  table: TableInfo,
  query: URLSearchParams,
  bodyText: string,
  prefer: TablePreferences,
): WritePlan | TableError {
  const unsupported = notModelled(query);
  if (unsupported) return unsupported;
  const body = parseBody(bodyText);
  if ("status" in body) return body;
  let names = body.keys;
  const columnsParam = query.get("columns");
  if (columnsParam !== null) names = splitColumns(columnsParam);
  if (names.length === 0) {
    return invalidBody("The stand-in needs at least one column to insert");
  }
  const columns: TableColumn[] = [];
  for (const name of names) {
    const column = table.columns.find((c) => c.name === name);
    if (!column) return columnNotFound(table, name);
    columns.push(column);
  }
  const select = selectionOf(query, prefer);
  if (typeof select !== "string") return select;

  const onConflictParam = query.get("on_conflict");
  const conflict = onConflictParam === null ? table.primaryKey : splitColumns(onConflictParam);
  const merge = prefer.resolution === "merge-duplicates" && conflict.length > 0;
  const rel = qualified(table);
  const list = columns.map((c) => ident(c.name)).join(", ");
  const typed = columns.map((c) => `${ident(c.name)} ${c.type}`).join(", ");
  const toRecord = body.array ? "json_to_recordset" : "json_to_record";
  // `$1::text::json`: postgres.js would JSON.stringify a parameter it was told is json.
  let statement = `insert into ${rel}(${list}) select ${
    columns.map((c) => `pgrst_body.${ident(c.name)}`).join(", ")
  } from (select $1::text::json as json_data) pgrst_payload, lateral (select ${list} from ${toRecord}(pgrst_payload.json_data) as _(${typed})) pgrst_body`;
  if (merge) statement += ` where ${countInserted("+", "0")}`;
  if (prefer.resolution !== null && conflict.length > 0) {
    statement += ` on conflict(${conflict.map(ident).join(", ")}) ${
      merge
        ? `do update set ${
          columns.map((c) => `${ident(c.name)} = excluded.${ident(c.name)}`).join(", ")
        } where ${countInserted("-", "-1")}`
        : "do nothing"
    }`;
  }
  return {
    kind: "insert",
    sql: wrap(statement, rel, select, merge),
    params: [bodyText],
    representation: prefer.representation,
    mergeDuplicates: merge,
  };
}

/**
 * Plans `DELETE /rest/v1/<table>?<filters>`. Without a filter it answers as Supabase's database
 * does: pg-safeupdate is loaded for the Data API's connections (supabase/postgres
 * migrations/db/migrations/20260413000000_fix-authenticator-session-preload-libraries.sql) and
 * refuses a DELETE without a WHERE clause (SQLSTATE 21000, which PostgREST answers 400).
 */
export function planDelete(
  table: TableInfo,
  query: URLSearchParams,
  prefer: TablePreferences,
): WritePlan | TableError {
  const unsupported = notModelled(query);
  if (unsupported) return unsupported;
  const select = selectionOf(query, prefer);
  if (typeof select !== "string") return select;
  const rel = qualified(table);
  const params: string[] = [];
  const conditions: string[] = [];
  for (const [key, value] of query) {
    if (RESERVED.includes(key)) continue;
    const condition = filterCondition(rel, key, value, params);
    if (typeof condition !== "string") return condition;
    conditions.push(condition);
  }
  if (conditions.length === 0) {
    return {
      status: 400,
      code: "21000",
      message: "DELETE requires a WHERE clause",
      details: null,
      hint: null,
    };
  }
  const statement = `delete from ${rel} where ${conditions.join(" and ")}`;
  return {
    kind: "delete",
    sql: wrap(statement, rel, select, false),
    params,
    representation: prefer.representation,
    mergeDuplicates: false,
  };
}

/**
 * Plans `GET /rest/v1/<table>?<select, filters, order, limit, offset>` answered as `accept`
 * asks, at most `maxRows` rows (`db-max-rows`; null for no limit).
 */
export function planRead(
  table: TableInfo,
  query: URLSearchParams,
  accept: string | null,
  maxRows: number | null,
): ReadPlan | TableError {
  const media = negotiate(accept);
  if ("status" in media) return media;
  for (const key of query.keys()) {
    if (key === "and" || key === "or") return notModelledError(key, "and, or");
  }
  const rel = qualified(table);
  const select = selectList(rel, query.get("select"));
  if (typeof select !== "string") return select;
  const params: string[] = [];
  const conditions: string[] = [];
  for (const [key, value] of query) {
    if (READ_RESERVED.includes(key)) continue;
    const condition = filterCondition(rel, key, value, params);
    if (typeof condition !== "string") return condition;
    conditions.push(condition);
  }
  const order = orderBy(rel, query.get("order"));
  if (typeof order !== "string") return order;
  const range = rangeOf(query, maxRows);
  if ("status" in range) return range;
  const where = conditions.length === 0 ? "" : ` where ${conditions.join(" and ")}`;
  const rows = media.singular ? "json_agg(_postgrest_t)->0" : "json_agg(_postgrest_t)";
  const body = `coalesce(${media.strip ? `json_strip_nulls(${rows})` : rows}, '${
    media.singular ? "null" : "[]"
  }')::text`;
  return {
    sql: `with pgrst_source as (select ${select} from ${rel}${where}${order}${range.clause}) ` +
      `select pg_catalog.count(_postgrest_t)::int as count, ${body} as body ` +
      "from (select * from pgrst_source) _postgrest_t",
    params,
    mediaType: media.mediaType,
    singular: media.singular,
    offset: range.offset,
  };
}

/**
 * The HTTP status of a write that succeeded: an insert is 201, an upsert that only merged into
 * existing rows 200; a delete is 204, or 200 with the deleted rows (Response.hs).
 */
export function writeStatus(plan: WritePlan, result: WriteResult): number {
  if (plan.kind === "delete") return plan.representation ? 200 : 204;
  return plan.mergeDuplicates && (result.inserted ?? 0) <= 0 ? 200 : 201;
}

/** What a read answers with, as Plan/Negotiate.hs picks it from `Accept`. */
interface Negotiated {
  mediaType: string;
  singular: boolean;
  strip: boolean;
}

// The first producible media type of `Accept`, highest q first (wai's parseHttpAccept); no
// header is `*/*`. MediaType.hs decodeMediaType: `vnd.pgrst.array` without `nulls=stripped` is
// plain JSON.
function negotiate(accept: string | null): Negotiated | TableError {
  const ranges = (accept ?? "*/*").split(",").map((range, index) => {
    const [type, ...rest] = range.split(";").map((part) => part.trim());
    const params = new Map(rest.map((p) => {
      const at = p.indexOf("=");
      return [p.slice(0, at).trim().toLowerCase(), p.slice(at + 1).trim()] as const;
    }));
    const q = Number(params.get("q") ?? "1");
    return { type: type.toLowerCase(), params, q: Number.isNaN(q) ? 0 : q, index };
  }).filter((r) => r.type !== "").sort((a, b) => b.q - a.q || a.index - b.index);
  for (const { type, params } of ranges) {
    const strip = params.get("nulls") === "stripped";
    if (type === "*/*" || type === "application/json") {
      return { mediaType: "application/json", singular: false, strip: false };
    }
    if (type === "application/vnd.pgrst.array+json" || type === "application/vnd.pgrst.array") {
      return strip
        ? { mediaType: "application/vnd.pgrst.array+json;nulls=stripped", singular: false, strip }
        : { mediaType: "application/json", singular: false, strip };
    }
    if (type === "application/vnd.pgrst.object+json" || type === "application/vnd.pgrst.object") {
      const mediaType = `application/vnd.pgrst.object+json${strip ? ";nulls=stripped" : ""}`;
      return { mediaType, singular: true, strip };
    }
  }
  return {
    status: 406,
    code: "PGRST107",
    message: `None of these media types are available: ${ranges.map((r) => r.type).join(", ")}`,
    details: null,
    hint: null,
  };
}

// `*`, or `[alias:]column` items; anything else (embedding, JSON paths, casts, aggregates,
// spreads) is not modelled.
function selectList(rel: string, value: string | null): string | TableError {
  if (value === null || value === "") return `${rel}.*`;
  const items: string[] = [];
  for (const item of splitTopLevel(value)) {
    if (item === "*") {
      items.push(`${rel}.*`);
      continue;
    }
    const match = SELECT_ITEM.exec(item);
    if (!match) {
      return notModelledError(
        `select parameter (${value})`,
        "embedding, spreads, JSON paths, casts and aggregates in select",
      );
    }
    const column = `${rel}.${ident(unquote(match[2]))}`;
    items.push(match[1] === undefined ? column : `${column} as ${ident(unquote(match[1]))}`);
  }
  return items.join(", ");
}

// `order=<column>[.asc|.desc][.nullsfirst|.nullslast],...` (QueryBuilder.hs orderF).
function orderBy(rel: string, value: string | null): string | TableError {
  if (value === null || value === "") return "";
  const terms: string[] = [];
  for (const term of value.split(",")) {
    const match = ORDER_TERM.exec(term);
    if (!match) {
      return {
        status: 400,
        code: "PGRST100",
        message: `failed to parse order (${value})`,
        details: "The stand-in models order=<column>[.asc|.desc][.nullsfirst|.nullslast],...",
        hint: null,
      };
    }
    const [, column, direction, nulls] = match;
    terms.push(
      [
        `${rel}.${ident(unquote(column))}`,
        direction?.toUpperCase(),
        nulls && (nulls === "nullsfirst" ? "NULLS FIRST" : "NULLS LAST"),
      ].filter(Boolean).join(" "),
    );
  }
  return ` order by ${terms.join(", ")}`;
}

// `limit` and `offset` as RangeQuery.hs and Plan.hs treeRestrictRange apply them: a limit that
// is not a number is ignored, a negative one is an unsatisfiable range, db-max-rows caps it, and
// `limit=0` stays 0.
function rangeOf(
  query: URLSearchParams,
  maxRows: number | null,
): { clause: string; offset: number } | TableError {
  const limit = readInteger(query.get("limit"));
  const offset = readInteger(query.get("offset")) ?? 0;
  if (limit !== null && limit < 0) {
    return {
      status: 416,
      code: "PGRST103",
      message: "Requested range not satisfiable",
      details: "Limit should be greater than or equal to zero.",
      hint: null,
    };
  }
  const capped = limit === 0
    ? 0
    : [limit, maxRows].filter((n): n is number => n !== null).reduce<number | null>(
      (least, n) => least === null ? n : Math.min(least, n),
      null,
    );
  if (capped === null && offset === 0) return { clause: "", offset };
  return { clause: ` limit ${capped ?? "all"} offset ${offset}`, offset };
}

// Haskell's `readMaybe` of an Integer: digits with an optional minus, spaces around.
function readInteger(value: string | null): number | null {
  return value !== null && /^\s*-?\d+\s*$/.test(value) ? Number(value) : null;
}

// Comma-separated items; commas inside double quotes do not separate.
function splitTopLevel(value: string): string[] {
  const items: string[] = [];
  let current = "";
  let quoted = false;
  for (const char of value) {
    if (char === '"') quoted = !quoted;
    if (char === "," && !quoted) {
      items.push(current);
      current = "";
    } else current += char;
  }
  items.push(current);
  return items;
}

function unquote(name: string): string {
  return name.startsWith('"') ? name.slice(1, -1) : name;
}

// The write as a CTE, and one result row: how many rows, how many inserted, the returned rows.
function wrap(statement: string, rel: string, select: string, merge: boolean): string {
  const returning = select === "" ? "1" : `${rel}.*`;
  const body = select === "" ? "null" : "coalesce(json_agg(_postgrest_t), '[]')::text";
  return `with pgrst_source as (${statement} returning ${returning}) select count(*)::int as affected, ${
    merge ? INSERTED : "null::int"
  } as inserted, ${body} as body from (select * from pgrst_source) _postgrest_t`;
}

// PostgREST counts the rows an upsert inserted in a transaction-local setting: +1 for every row
// offered, -1 for every row merged into an existing one (QueryBuilder.hs, SqlFragment.hs).
function countInserted(sign: "+" | "-", never: string): string {
  return `set_config('pgrst.inserted', (coalesce(${INSERTED}, 0) ${sign} 1)::text, true) <> '${never}'`;
}

function filterCondition(
  rel: string,
  column: string,
  value: string,
  params: string[],
): string | TableError {
  if (column.includes("->") || column.includes(".")) {
    return notModelledError(`the filter ${column}`, "JSON paths and embedded filters");
  }
  const negated = value.startsWith("not.");
  const rest = negated ? value.slice(4) : value;
  const dot = rest.indexOf(".");
  const op = dot === -1 ? rest : rest.slice(0, dot);
  const operand = dot === -1 ? null : rest.slice(dot + 1);
  const target = `${rel}.${ident(column)}`;
  let condition: string;
  if (operand !== null && op in FILTER_OPERATORS) {
    params.push(operand);
    condition = `${target} ${FILTER_OPERATORS[op]} $${params.length}`;
  } else if (op === "in" && operand !== null && /^\(.*\)$/s.test(operand)) {
    params.push(arrayLiteral(splitList(operand.slice(1, -1))));
    condition = `${target} = any($${params.length})`;
  } else if (op === "is" && operand !== null && operand in IS_VALUES) {
    condition = `${target} is ${IS_VALUES[operand]}`;
  } else {
    return {
      status: 400,
      code: "PGRST100",
      message: `failed to parse filter (${value})`,
      details: "The stand-in models the operators eq, neq, gt, gte, lt, lte, in and is",
      hint: null,
    };
  }
  return negated ? `not (${condition})` : condition;
}

function notModelled(query: URLSearchParams): TableError | null {
  for (const key of query.keys()) {
    const last = key.split(".").at(-1) ?? key;
    if (NOT_MODELLED.includes(last)) return notModelledError(key, "order, limit, offset, and, or");
  }
  return null;
}

// `select` shapes the returned rows; the stand-in returns whole rows only.
function selectionOf(query: URLSearchParams, prefer: TablePreferences): string | TableError {
  if (!prefer.representation) return "";
  const select = query.get("select") ?? "*";
  return select === "*" ? "*" : notModelledError(`select=${select}`, "select other than *");
}

function notModelledError(what: string, family: string): TableError {
  return {
    status: 400,
    code: "PGRST100",
    message: `failed to parse ${what}`,
    details: `Not modelled by the stand-in: ${family}`,
    hint: null,
  };
}

function parseBody(text: string): { keys: string[]; array: boolean } | TableError {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return invalidBody("Empty or invalid json");
  }
  const rows = Array.isArray(value) ? value : [value];
  if (!rows.every((row) => typeof row === "object" && row !== null && !Array.isArray(row))) {
    return invalidBody("Empty or invalid json");
  }
  const keys = rows.length === 0 ? [] : Object.keys(rows[0]);
  const sorted = [...keys].sort().join("\u0000");
  if (!rows.every((row) => Object.keys(row).sort().join("\u0000") === sorted)) {
    return invalidBody("All object keys must match");
  }
  return { keys, array: Array.isArray(value) };
}

function invalidBody(message: string): TableError {
  return { status: 400, code: "PGRST102", message, details: null, hint: null };
}

function columnNotFound(table: TableInfo, column: string): TableError {
  return {
    status: 400,
    code: "PGRST204",
    message: `Could not find the '${column}' column of '${table.name}' in the schema cache`,
    details: null,
    hint: null,
  };
}

// `a,b` or `"a","b"` (supabase-js quotes them).
function splitColumns(value: string): string[] {
  return splitList(value).filter((c) => c !== "");
}

// A comma-separated list; double quotes keep commas and are removed.
function splitList(value: string): string[] {
  const items: string[] = [];
  let current = "";
  let quoted = false;
  for (const char of value) {
    if (char === '"') quoted = !quoted;
    else if (char === "," && !quoted) {
      items.push(current.trim());
      current = "";
    } else current += char;
  }
  items.push(current.trim());
  return items;
}

function arrayLiteral(items: string[]): string {
  return `{${
    items.map((i) => `"${i.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`).join(",")
  }}`;
}

function qualified(table: TableInfo): string {
  return `${ident(table.schema)}.${ident(table.name)}`;
}

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
