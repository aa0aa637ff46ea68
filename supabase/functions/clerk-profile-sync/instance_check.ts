import { ConfigError } from "../_shared/errors.ts";
import type { ClerkApi } from "./clerk_api.ts";
import { jwkModulus, type JwtPublicKey, sameBytes } from "./jwt_key.ts";

/** Whether CLERK_JWT_KEY and CLERK_SECRET_KEY belong to one Clerk instance. */
export interface InstanceCheck {
  /**
   * Resolves once the keys are known to match; throws {@linkcode ConfigError} when they do not
   * (remembered: every later call throws it too) or a Clerk error when Clerk could not tell
   * (not remembered: the next call asks again).
   */
  ensure(): Promise<void>;
}

/** The variables a mismatch is about. */
export const KEY_PAIR_VARIABLES = "CLERK_JWT_KEY and CLERK_SECRET_KEY";

/**
 * With CLERK_JWT_KEY set, tokens are verified without Clerk, so a secret key of another instance
 * (development beside production) would go unnoticed: every token verifies and every
 * `getUser` answers 404, which reads as deleted users. Clerk's `GET /v1/jwks` with the secret
 * key lists its instance's keys; CLERK_JWT_KEY must be one of them (same RSA modulus). Checked
 * once per isolate, by one call however many requests wait for it.
 */
export function createInstanceCheck(jwtKey: JwtPublicKey | null, clerk: ClerkApi): InstanceCheck {
  let verdict: Promise<void> | null = jwtKey ? null : Promise.resolve();
  return {
    ensure() {
      verdict ??= check(jwtKey!, clerk).catch((error) => {
        // A configuration error stays; anything else (Clerk unreachable, 5xx, 429) is asked again.
        if (!(error instanceof ConfigError)) verdict = null;
        throw error;
      });
      return verdict;
    },
  };
}

async function check(jwtKey: JwtPublicKey, clerk: ClerkApi): Promise<void> {
  const keys = await clerk.getJwks();
  if (keys.some((key) => sameModulus(jwtKey.modulus, jwkModulus(key)))) return;
  throw new ConfigError(
    KEY_PAIR_VARIABLES,
    `${KEY_PAIR_VARIABLES} belong to different Clerk instances: the JWKS of CLERK_SECRET_KEY's ` +
      `instance (GET /v1/jwks) does not hold CLERK_JWT_KEY, so tokens would verify while Clerk ` +
      `knows none of their users; set both from one instance (Clerk dashboard → API keys)`,
  );
}

function sameModulus(a: Uint8Array, b: Uint8Array | null): boolean {
  return b !== null && sameBytes(a, b);
}
