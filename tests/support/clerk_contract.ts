/**
 * Clerk's published contract for the Backend API operations the Clerk API stand-in serves: the
 * response schemas of `bapi/2026-05-12.yml` (github.com/clerk/openapi-specs, MIT), kept in
 * tests/fixtures/clerk_openapi/ by its extract.py, checked with Ajv. OpenAPI 3.0 schemas are JSON
 * Schema draft-04-like plus `nullable`, which Ajv understands; `format: int64` and the spec's other
 * annotations are not validated (Ajv's strict mode off).
 */
import { Ajv, type ValidateFunction } from "ajv";

const SPEC_URL = new URL("../fixtures/clerk_openapi/bapi_2026-05-12.json", import.meta.url);

/** The extracted spec (see tests/fixtures/clerk_openapi/extract.py). */
export interface ExtractedSpec {
  source: { repository: string; path: string; commit: string; version: string };
  /** The schema for an error status an operation does not list. */
  errors: string;
  operations: Record<string, { operationId: string; responses: Record<string, unknown> }>;
  components: { schemas: Record<string, unknown> };
}

/** The spec, read once. */
export const CLERK_SPEC: ExtractedSpec = JSON.parse(Deno.readTextFileSync(SPEC_URL));

// Routes of the stand-in, as the spec's path templates (without the server's /v1).
const ROUTES: [RegExp, string][] = [
  [/^\/v1\/users$/, "/users"],
  [/^\/v1\/users\/count$/, "/users/count"],
  [/^\/v1\/users\/[^/]+$/, "/users/{user_id}"],
  [/^\/v1\/organizations$/, "/organizations"],
  [/^\/v1\/organization_memberships$/, "/organization_memberships"],
  [/^\/v1\/jwks$/, "/jwks"],
  [/^\/v1\/instance$/, "/instance"],
  [/^\/v1\/instance\/organization_settings$/, "/instance/organization_settings"],
];

/** What the contract says about one answer. */
export interface Verdict {
  /** `GET /users`, ... or null when the spec has no such operation here. */
  operation: string | null;
  operationId: string | null;
  /** Whether the operation lists this status (else an error status is checked as ClerkErrors). */
  documented: boolean;
  /** Ajv's complaints, empty when the body matches. */
  errors: string[];
}

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema(toJsonSchema({ components: CLERK_SPEC.components }) as object, "bapi");
const compiled = new Map<string, ValidateFunction>();

// OpenAPI 3.0 to what Ajv reads: `#/components/...` references resolved in the document added as
// "bapi"; `nullable: true` without a `type` (e.g. `{nullable, allOf: [...]}`) as "that or null",
// and `nullable: false` (the default) dropped.
function toJsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toJsonSchema);
  if (typeof schema !== "object" || schema === null) return schema;
  const { nullable, ...rest } = schema as Record<string, unknown>;
  const converted = Object.fromEntries(
    Object.entries(rest).map(([key, value]) => [
      key,
      key === "$ref" && typeof value === "string" ? `bapi${value}` : toJsonSchema(value),
    ]),
  );
  if (nullable !== true) return converted;
  if ("type" in converted) return { ...converted, nullable: true };
  return { anyOf: [converted, { type: "null" }] };
}

/** Checks the body of a `GET <path>` answered `status` against the operation's schema. */
export function checkAgainstSpec(path: string, status: number, body: unknown): Verdict {
  const template = ROUTES.find(([pattern]) => pattern.test(path))?.[1];
  const operation = template ? `GET ${template}` : null;
  const spec = operation ? CLERK_SPEC.operations[operation] : undefined;
  const listed = spec?.responses[String(status)];
  const documented = listed !== undefined;
  if (!documented && status < 400) {
    return {
      operation,
      operationId: spec?.operationId ?? null,
      documented,
      errors: [`the spec lists no ${status} for ${operation ?? path}`],
    };
  }
  const schema = listed ?? { $ref: CLERK_SPEC.errors };
  const key = `${operation} ${documented ? status : "error"}`;
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv.compile(toJsonSchema(schema) as object);
    compiled.set(key, validate);
  }
  const ok = validate(body);
  return {
    operation,
    operationId: spec?.operationId ?? null,
    documented,
    errors: ok
      ? []
      : (validate.errors ?? []).map((e) =>
        `${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`
      ),
  };
}
