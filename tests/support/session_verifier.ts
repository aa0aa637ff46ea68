/**
 * clerk-profile-sync's session verifier as it runs with CLERK_SECRET_KEY only (no CLERK_JWT_KEY):
 * the keys come from `GET /v1/jwks` of the Clerk API stand-in, over loopback.
 */
import type { KeySet } from "../../supabase/functions/clerk-profile-sync/jwks.ts";
import {
  createSessionVerifier,
  type SessionVerifier,
} from "../../supabase/functions/clerk-profile-sync/session.ts";
import type { ClerkApiStandIn } from "./clerk_api_stand_in.ts";

/** A verifier with `clerk`'s secret key and URL, any `azp`; `keySet` replaces the default one. */
export function secretKeyVerifier(clerk: ClerkApiStandIn, keySet?: KeySet): SessionVerifier {
  return createSessionVerifier({
    jwtKeyPem: null,
    secretKey: clerk.secretKey,
    apiUrl: clerk.url,
    authorizedParties: [],
    keySet,
  });
}

/** How many `GET /v1/jwks` requests `clerk` has received. */
export function jwksRequests(clerk: ClerkApiStandIn): number {
  return clerk.requests.filter((r) => r.path === "/v1/jwks").length;
}
