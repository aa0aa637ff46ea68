/**
 * The objects migrations leave behind, read from their SQL text well enough to find a clash with
 * this project's migrations before `supabase db push` does: schemas, relations (tables, views,
 * sequences, indexes, types and domains share one namespace per schema in PostgreSQL's
 * catalogs) and functions (by name, whatever the arguments). `create`, `drop` and
 * `alter ... rename to` are followed in order, so a table created and later renamed away (the
 * adoption recipe) no longer counts. Unqualified names are in `public`, where the migrations'
 * role (`postgres`, search_path `"$user", public, extensions`) creates them.
 */

/** One object a migration creates. */
export interface SqlObject {
  readonly kind: "schema" | "relation" | "function";
  readonly schema: string;
  readonly name: string;
  /** How a message names it: `table public.profiles`, `function public.sync_clerk_user`. */
  readonly label: string;
}

/** An object that exists after a series of migrations, with the one that gave it its name. */
export interface SurvivingObject {
  readonly object: SqlObject;
  readonly createdBy: string;
}

type Effect =
  | { op: "create"; object: SqlObject }
  | { op: "drop"; object: SqlObject }
  | { op: "rename"; object: SqlObject; to: string };

const IDENT = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)`;
const QNAME = String.raw`${IDENT}(?:\s*\.\s*${IDENT})?`;
const IF_NOT_EXISTS = String.raw`(?:if\s+not\s+exists\s+)?`;
const IF_EXISTS = String.raw`(?:if\s+exists\s+)?`;
const RELATION = String.raw`table|view|materialized\s+view|sequence|type|domain|index`;
const ROUTINE = String.raw`function|procedure|aggregate`;

type Reader = (m: RegExpMatchArray) => Effect[];
const STATEMENTS: [RegExp, Reader][] = [
  [
    re(String.raw`\bcreate\s+schema\s+${IF_NOT_EXISTS}(${IDENT})`),
    (m) => [{ op: "create", object: schemaObject(m[1]) }],
  ],
  [
    re(
      String.raw`\bcreate\s+(?:or\s+replace\s+)?(?:(?:global|local)\s+)?` +
        String
          .raw`(?:(?:temp|temporary|unlogged)\s+)?(table|view|materialized\s+view|sequence|type|domain)` +
        String.raw`\s+${IF_NOT_EXISTS}(${QNAME})`,
    ),
    (m) => [{ op: "create", object: qualified("relation", m[1], m[2]) }],
  ],
  [
    re(String.raw`\bcreate\s+(?:or\s+replace\s+)?(${ROUTINE})\s+(${QNAME})\s*\(`),
    (m) => [{ op: "create", object: qualified("function", m[1], m[2]) }],
  ],
  [
    // An index lives in its table's schema.
    re(
      String.raw`\bcreate\s+(?:unique\s+)?index\s+(?:concurrently\s+)?${IF_NOT_EXISTS}(${IDENT})` +
        String.raw`\s+on\s+(?:only\s+)?(${QNAME})`,
    ),
    (m) => {
      const table = qualified("relation", "table", m[2]);
      return [{ op: "create", object: object("relation", "index", table.schema, unquote(m[1])) }];
    },
  ],
  [
    re(String.raw`\bdrop\s+schema\s+${IF_EXISTS}(${IDENT}(?:\s*,\s*${IDENT})*)`),
    (m) => list(m[1]).map((name) => ({ op: "drop", object: schemaObject(name) })),
  ],
  [
    re(
      String.raw`\bdrop\s+(${RELATION})\s+(?:concurrently\s+)?${IF_EXISTS}` +
        String.raw`(${QNAME}(?:\s*,\s*${QNAME})*)`,
    ),
    (m) => list(m[2]).map((name) => ({ op: "drop", object: qualified("relation", m[1], name) })),
  ],
  [
    re(String.raw`\bdrop\s+(${ROUTINE})\s+${IF_EXISTS}(${QNAME})`),
    (m) => [{ op: "drop", object: qualified("function", m[1], m[2]) }],
  ],
  [
    re(String.raw`\balter\s+schema\s+(${IDENT})\s+rename\s+to\s+(${IDENT})`),
    (m) => [{ op: "rename", object: schemaObject(m[1]), to: unquote(m[2]) }],
  ],
  [
    re(
      String
        .raw`\balter\s+(${RELATION})\s+${IF_EXISTS}(?:only\s+)?(${QNAME})\s+rename\s+to\s+(${IDENT})`,
    ),
    (m) => [{ op: "rename", object: qualified("relation", m[1], m[2]), to: unquote(m[3]) }],
  ],
  [
    re(
      String.raw`\balter\s+(${ROUTINE})\s+(${QNAME})\s*(?:\([^)]*\))?\s*rename\s+to\s+(${IDENT})`,
    ),
    (m) => [{ op: "rename", object: qualified("function", m[1], m[2]), to: unquote(m[3]) }],
  ],
];

/** The objects `sql` creates, in the order it creates them (comments ignored). */
export function createdObjects(sql: string): SqlObject[] {
  return effects(sql).flatMap((e) => e.op === "create" ? [e.object] : []);
}

/** What exists after `migrations` ran in order, each object with the file that created it. */
export function survivingObjects(
  migrations: readonly { name: string; content: string }[],
): SurvivingObject[] {
  let alive: SurvivingObject[] = [];
  for (const { name, content } of migrations) {
    for (const effect of effects(content)) {
      const rest = alive.filter((s) => !sameObject(s.object, effect.object));
      if (effect.op === "create") {
        const existing = alive.find((s) => sameObject(s.object, effect.object));
        alive = [...rest, existing ?? { object: effect.object, createdBy: name }];
      } else if (effect.op === "drop") {
        alive = rest;
      } else {
        const moved = alive.find((s) => sameObject(s.object, effect.object));
        if (!moved) continue;
        const o = moved.object;
        const renamed = o.kind === "schema"
          ? schemaObject(`"${effect.to}"`)
          : object(o.kind, o.label.split(" ")[0], o.schema, effect.to);
        alive = [...rest, { object: renamed, createdBy: name }];
      }
    }
  }
  return alive;
}

/** Whether `a` and `b` take the same name in the same namespace. */
export function sameObject(a: SqlObject, b: SqlObject): boolean {
  return a.kind === b.kind && a.schema === b.schema && a.name === b.name;
}

function effects(sql: string): Effect[] {
  const text = stripComments(sql);
  const found: { at: number; effects: Effect[] }[] = [];
  for (const [pattern, read] of STATEMENTS) {
    for (const m of text.matchAll(pattern)) found.push({ at: m.index!, effects: read(m) });
  }
  return found.sort((a, b) => a.at - b.at).flatMap((f) => f.effects);
}

function re(source: string): RegExp {
  return new RegExp(source, "gi");
}

function schemaObject(ident: string): SqlObject {
  const name = unquote(ident);
  return { kind: "schema", schema: name, name, label: `schema ${name}` };
}

function qualified(kind: SqlObject["kind"], word: string, qname: string): SqlObject {
  const parts = qname.match(new RegExp(IDENT, "g"))!;
  const [schema, name] = parts.length === 2 ? [unquote(parts[0]), unquote(parts[1])] : [
    "public",
    unquote(parts[0]),
  ];
  return object(kind, word, schema, name);
}

function object(kind: SqlObject["kind"], word: string, schema: string, name: string): SqlObject {
  return {
    kind,
    schema,
    name,
    label: `${word.toLowerCase().replace(/\s+/g, " ")} ${schema}.${name}`,
  };
}

function list(names: string): string[] {
  return names.match(new RegExp(QNAME, "g")) ?? [];
}

function unquote(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1).replaceAll('""', '"') : ident.toLowerCase();
}

// Line and block comments replaced by spaces; string literals and dollar-quoted bodies are kept
// (a function body that creates a table creates it all the same).
function stripComments(sql: string): string {
  return sql.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, (c) => " ".repeat(c.length));
}
