/**
 * A stand-in for the part of Supabase's Management API (https://api.supabase.com/v1) that
 * `supabase functions deploy --use-api` talks to, so a test can capture exactly what the pinned
 * CLI uploads. Built from the CLI's generated client (supabase/cli apps/cli-go/pkg/api:
 * `V1DeployAFunction`, `V1GetProject`; types.gen.go `DeployFunctionResponse`,
 * `V1ProjectWithDatabaseResponse`, `FunctionDeployMetadata` in pkg/function/api.go):
 *
 * - `POST /v1/projects/{ref}/functions/deploy?slug=<slug>[&bundleOnly=true]`, multipart/form-data
 *   with one `metadata` part (JSON: entrypoint_path, import_map_path, static_patterns, verify_jwt,
 *   name) and one `file` part per uploaded file, named by its path from the project root
 *   (pkg/function/deploy.go `writeForm`). Answers 201 with a DeployFunctionResponse.
 * - `GET /v1/projects/{ref}`: 200 with the project (V1ProjectWithDatabaseResponse).
 * - `PUT /v1/projects/{ref}/functions` (v1-bulk-update-functions): after a deploy of several
 *   functions, each uploaded with `bundleOnly=true`; 200 BulkUpdateFunctionResponse
 *   `{functions: [...]}`.
 * - Every call needs `Authorization: Bearer <the access token>`, else 401 `{"message":
 *   "Unauthorized"}`, as the API answers; another project ref is a 404.
 *
 * The CLI reaches it through a profile file (`--profile <file>`: `api_url` is this stand-in) and
 * SUPABASE_ACCESS_TOKEN (`sbp_` and 40 hex digits); see {@linkcode writeCliProfile}.
 */

/** What one deploy call uploaded. */
export interface CapturedDeploy {
  /** The `slug` query parameter. */
  slug: string;
  /** `bundleOnly` (the CLI sets it when it deploys several functions in one command). */
  bundleOnly: boolean;
  /** The parsed `metadata` part. */
  metadata: DeployMetadata;
  /** Every `file` part: its name (a path from the project root) and bytes, in upload order. */
  files: { name: string; bytes: Uint8Array }[];
}

/** The CLI's `FunctionDeployMetadata` (pkg/function/api.go). */
export interface DeployMetadata {
  entrypoint_path: string;
  import_map_path?: string;
  name?: string;
  static_patterns?: string[];
  verify_jwt?: boolean;
}

/** A running stand-in. */
export interface ManagementApiStandIn {
  /** `http://127.0.0.1:<port>`: the profile's `api_url`. */
  readonly url: string;
  /** The project ref it serves (20 lowercase letters, as the CLI requires). */
  readonly projectRef: string;
  /** The access token it accepts (`sbp_` and 40 hex digits). */
  readonly accessToken: string;
  /** Every deploy call, in order. */
  readonly deploys: CapturedDeploy[];
  /** Every request as `METHOD /path?query`, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

/** Starts the stand-in on a free port of 127.0.0.1. */
export function startManagementApiStandIn(): ManagementApiStandIn {
  const projectRef = Array.from(
    crypto.getRandomValues(new Uint8Array(20)),
    (b) => String.fromCharCode(97 + (b % 26)),
  ).join("");
  const accessToken = `sbp_${
    Array.from(crypto.getRandomValues(new Uint8Array(20)), (b) => b.toString(16).padStart(2, "0"))
      .join("")
  }`;
  const deploys: CapturedDeploy[] = [];
  const requests: string[] = [];
  let version = 0;

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (req.headers.get("authorization") !== `Bearer ${accessToken}`) {
      return Response.json({ message: "Unauthorized" }, { status: 401 });
    }
    const project = /^\/v1\/projects\/([^/]+)(\/.*)?$/.exec(url.pathname);
    if (!project) return notFound();
    if (project[1] !== projectRef) {
      return Response.json({ message: "Project not found" }, { status: 404 });
    }
    const rest = project[2] ?? "";
    if (req.method === "GET" && rest === "") return Response.json(projectBody(projectRef));
    if (req.method === "POST" && rest === "/functions/deploy") {
      const slug = url.searchParams.get("slug");
      if (!slug) return Response.json({ message: "slug is required" }, { status: 400 });
      const form = await req.formData();
      const metadataPart = form.get("metadata");
      if (typeof metadataPart !== "string") {
        return Response.json({ message: "metadata is required" }, { status: 400 });
      }
      const metadata = JSON.parse(metadataPart) as DeployMetadata;
      const files: CapturedDeploy["files"] = [];
      for (const part of form.getAll("file")) {
        if (typeof part === "string") continue;
        files.push({ name: part.name, bytes: new Uint8Array(await part.arrayBuffer()) });
      }
      deploys.push({
        slug,
        bundleOnly: url.searchParams.get("bundleOnly") === "true",
        metadata,
        files,
      });
      const now = Date.now();
      return Response.json({
        id: crypto.randomUUID(),
        slug,
        name: metadata.name ?? slug,
        status: "ACTIVE",
        version: ++version,
        created_at: now,
        updated_at: now,
        verify_jwt: metadata.verify_jwt,
        import_map: metadata.import_map_path !== undefined,
        import_map_path: metadata.import_map_path,
        entrypoint_path: metadata.entrypoint_path,
      }, { status: 201 });
    }
    if (req.method === "GET" && rest === "/functions") return Response.json([]);
    // Several functions in one deploy: each uploaded with bundleOnly=true, then made live at once.
    if (req.method === "PUT" && rest === "/functions") {
      return Response.json({ functions: await req.json() });
    }
    return notFound();
  }

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handle);
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    projectRef,
    accessToken,
    deploys,
    requests,
    async close() {
      await server.shutdown();
    },
  };
}

/** Writes the CLI profile (`supabase --profile <file>`) that points the CLI at `standIn`. */
export async function writeCliProfile(path: string, standIn: ManagementApiStandIn): Promise<void> {
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      name: "local-stand-in",
      api_url: standIn.url,
      dashboard_url: standIn.url,
      project_host: "supabase.test",
    }),
  );
}

function notFound(): Response {
  return Response.json({ message: "Not Found" }, { status: 404 });
}

function projectBody(ref: string): Record<string, unknown> {
  return {
    id: ref,
    ref,
    name: "clerk-supabase-sync",
    organization_id: "stand-in-org",
    organization_slug: "stand-in-org",
    region: "us-east-1",
    created_at: new Date(0).toISOString(),
    status: "ACTIVE_HEALTHY",
    database: {
      host: `db.${ref}.supabase.test`,
      version: "17.6.1.054",
      postgres_engine: "17",
      release_channel: "ga",
    },
  };
}
