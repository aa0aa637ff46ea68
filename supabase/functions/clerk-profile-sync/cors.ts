// CORS for browsers calling the function from the app's origin. The bearer token authenticates,
// never a cookie, so no credentials are allowed and `*` is a safe default.

/**
 * The request headers a browser may send: what supabase-js 2.119.1 `functions.invoke` sends
 * (`authorization`, `apikey`, `x-client-info`; `content-type` with a body; `x-region` when a
 * region is chosen), as Supabase's CORS guide lists them.
 */
export const ALLOWED_HEADERS = "authorization, apikey, x-client-info, content-type, x-region";
/** The methods the function answers. */
export const ALLOWED_METHODS = "POST, OPTIONS";
/** How long a browser may cache a preflight, in seconds (Chromium caps it at 7200). */
export const PREFLIGHT_MAX_AGE_S = 7200;

/** The CORS verdict for one request. */
export interface Cors {
  /** False when the request's `Origin` is not allowed (403). */
  allowed: boolean;
  /** Headers for every answer to this request. */
  headers: Record<string, string>;
}

/** The CORS headers for a request from `origin` (null: not a browser's cross-origin call). */
export function corsFor(origin: string | null, allowedOrigins: "*" | readonly string[]): Cors {
  const common = { "Access-Control-Expose-Headers": "Retry-After" };
  if (allowedOrigins === "*") {
    return { allowed: true, headers: { ...common, "Access-Control-Allow-Origin": "*" } };
  }
  // The answer depends on Origin: caches must not give one origin's answer to another.
  const headers = { ...common, Vary: "Origin" };
  if (origin === null) return { allowed: true, headers };
  if (!allowedOrigins.includes(origin)) return { allowed: false, headers };
  return { allowed: true, headers: { ...headers, "Access-Control-Allow-Origin": origin } };
}

/** The extra headers of an answer to a preflight (`OPTIONS`). */
export const PREFLIGHT_HEADERS: Readonly<Record<string, string>> = {
  "Access-Control-Allow-Methods": ALLOWED_METHODS,
  "Access-Control-Allow-Headers": ALLOWED_HEADERS,
  "Access-Control-Max-Age": String(PREFLIGHT_MAX_AGE_S),
};
