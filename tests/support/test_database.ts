/** The migrated cluster that scripts/test.ts starts for the Deno suites. */

/**
 * Its `postgres` URL, from DATABASE_URL (the migrations' owner, not a superuser, as on the platform;
 * `roleUrl("supabase_admin")` is the superuser); throws when the tests run without scripts/test.ts.
 */
export function databaseUrl(): string {
  const url = Deno.env.get("DATABASE_URL");
  if (!url) throw new Error("DATABASE_URL is not set: run the tests with scripts/test.ts");
  return url;
}

/**
 * `url` (by default {@linkcode databaseUrl}) as another login role, for example `authenticator`.
 * It keeps the password: every login role of a throwaway cluster has the cluster's one.
 */
export function roleUrl(role: string, url: string = databaseUrl()): string {
  const parsed = new URL(url);
  parsed.username = role;
  return parsed.toString();
}
