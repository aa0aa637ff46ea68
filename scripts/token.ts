/**
 * `npm run -s token -- <user_id> [--ttl SECONDS] [--azp ORIGIN]`: prints a Clerk session token
 * for `user_id`, signed with the signing key of the Clerk API stand-in that a running `npm run dev`
 * started (read from dev's state file), so clerk-profile-sync accepts it:
 *
 *   curl -X POST -H "Authorization: Bearer $(npm run -s token -- user_29w83sxmDNGwOuEthce5gg56FcC)" \
 *     "$PROFILE_SYNC_URL"
 *
 * The token has the claims of a Clerk v2 session token and lives 60 s unless --ttl says otherwise
 * (at most a day), as Clerk's do. Only the token goes to stdout. Exit code 0, or 2 on bad usage or
 * when no dev stand-in key is found (dev not running, or dev talking to your own Clerk instance,
 * whose tokens come from your app: `await clerk.session.getToken()`).
 */
import { parseArgs } from "node:util";
import { mintSessionToken } from "../tests/support/clerk_session.ts";
import { printable } from "../supabase/functions/_shared/log.ts";
import { defaultStatePath, importSessionKey, readDevState, SESSION_KEY } from "./dev_state.ts";

const USAGE = "usage: npm run -s token -- <user_id> [--ttl SECONDS] [--azp ORIGIN]";
const MAX_TTL_SECONDS = 24 * 3600;

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      allowPositionals: true,
      options: {
        ttl: { type: "string" },
        azp: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    console.error(`${printable(error instanceof Error ? error.message : error)}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const userId = positionals[0];
  if (values.help || positionals.length !== 1 || !userId) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  if (!/^user_[A-Za-z0-9]+$/.test(userId)) {
    console.error(`not a Clerk user id: "${printable(userId)}" (user_...)\n${USAGE}`);
    return 2;
  }
  const ttl = values.ttl === undefined ? 60 : Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
    console.error(`--ttl must be whole seconds from 1 to ${MAX_TTL_SECONDS}\n${USAGE}`);
    return 2;
  }

  const statePath = Deno.env.get("CLERK_SYNC_DEV_STATE")?.trim() || defaultStatePath();
  const dev = await readDevState(statePath);
  if (!dev) {
    console.error(`no running npm run dev found (${statePath} does not exist): start it first`);
    return 2;
  }
  const keyText = dev[SESSION_KEY];
  if (!keyText) {
    console.error(
      "npm run dev talks to your own Clerk instance (CLERK_SECRET_KEY, CLERK_JWT_KEY or " +
        "CLERK_API_URL was set), not to its stand-in: take a session token from your app " +
        "(await clerk.session.getToken()), or restart dev without those variables",
    );
    return 2;
  }
  let key;
  try {
    key = await importSessionKey(keyText);
  } catch {
    console.error(`${statePath} holds no usable signing key: restart npm run dev`);
    return 2;
  }
  const claims = values.azp === undefined ? {} : { azp: values.azp };
  console.log(await mintSessionToken(key, userId, { ttlSeconds: ttl, claims }));
  return 0;
}

if (import.meta.main) Deno.exit(await main());
