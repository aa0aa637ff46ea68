/**
 * A stand-in for the part of Supabase's Management API that `supabase functions deploy --use-api`
 * talks to, so a test can see what the real CLI would upload for a project, without network.
 * Built from the API's OpenAPI document as the CLI ships it (supabase/cli
 * packages/api/src/generated/openapi.json) and the CLI's client (apps/cli-go/pkg/function/deploy.go):
 *
 * - `GET /v1/projects/{ref}` (v1-get-project): 200 V1ProjectWithDatabaseResponse. CLI 3.x reads it
 *   to name the target before it deploys.
 * - `POST /v1/projects/{ref}/functions/deploy?slug=...[&bundleOnly=true]` (v1-deploy-a-function):
 *   multipart/form-data, one `metadata` part (`entrypoint_path`, `import_map_path`,
 *   `static_patterns`, `verify_jwt`, `name`) and one `file` part per module, named by its path from
 *   the project's root; 201 DeployFunctionResponse (`id`, `slug`, `name`, `status`, `version`).
 * - `PUT /v1/projects/{ref}/functions` (v1-bulk-update-functions), after several bundleOnly
 *   uploads: 200 BulkUpdateFunctionResponse `{functions: [...]}`.
 *
 * Every call needs `Authorization: Bearer sbp_...` (401 otherwise, as the API answers a missing
 * token); any other path is 404.
 */

/** One function as the CLI uploaded it. */
export interface Deployment {
  readonly slug: string;
  /** The `metadata` part, parsed. */
  readonly metadata: {
    entrypoint_path: string;
    import_map_path?: string;
    static_patterns?: string[];
    verify_jwt?: boolean;
    name?: string;
  };
  /** Each `file` part's text, by its name (the path from the project's root). */
  readonly files: ReadonlyMap<string, string>;
}

/** A running stand-in. */
export interface ManagementApiStandIn {
  /** Its base URL, for the CLI profile's `api_url`. */
  readonly url: string;
  /** The project ref it serves. */
  readonly ref: string;
  /** What was deployed, latest upload per slug. */
  readonly deployments: ReadonlyMap<string, Deployment>;
  close(): Promise<void>;
}

/** Starts the stand-in on a free port for project `ref` (20 lowercase letters). */
export function startManagementApiStandIn(ref: string): ManagementApiStandIn {
  const deployments = new Map<string, Deployment>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    if (!/^Bearer sbp_[0-9a-f]{40}$/.test(req.headers.get("authorization") ?? "")) {
      return Response.json({ message: "Unauthorized" }, { status: 401 });
    }
    const base = `/v1/projects/${ref}`;
    if (req.method === "GET" && url.pathname === base) {
      return Response.json({
        id: ref,
        ref,
        organization_id: "org-stand-in",
        organization_slug: "stand-in",
        name: "stand-in",
        region: "us-east-1",
        created_at: "2026-01-01T00:00:00Z",
        status: "ACTIVE_HEALTHY",
        database: { host: `db.${ref}.supabase.co`, version: "17.4.1", postgres_engine: "17" },
      });
    }
    if (req.method === "POST" && url.pathname === `${base}/functions/deploy`) {
      const slug = url.searchParams.get("slug") ?? "";
      const form = await req.formData();
      const files = new Map<string, string>();
      for (const part of form.getAll("file")) {
        if (part instanceof File) files.set(part.name, await part.text());
      }
      const metadata = JSON.parse(String(form.get("metadata") ?? "{}"));
      deployments.set(slug, { slug, metadata, files });
      return Response.json({
        id: crypto.randomUUID(),
        slug,
        name: metadata.name ?? slug,
        status: "ACTIVE",
        version: 1,
        entrypoint_path: metadata.entrypoint_path,
        import_map_path: metadata.import_map_path,
        verify_jwt: metadata.verify_jwt,
        created_at: Date.now(),
      }, { status: 201 });
    }
    if (req.method === "PUT" && url.pathname === `${base}/functions`) {
      return Response.json({ functions: await req.json() });
    }
    return Response.json({ message: "Not Found" }, { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    ref,
    deployments,
    async close() {
      await server.shutdown();
    },
  };
}
