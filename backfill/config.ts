/** Command line and environment of backfill/main.ts. */
import { type Env, readServiceKey } from "../supabase/functions/_shared/env.ts";
import { ConfigError } from "../supabase/functions/_shared/errors.ts";
import { DEFAULT_MAX_ORPHAN_PERCENT, DEFAULT_MAX_ORPHANS } from "./reconcile.ts";

/** What the run does. */
export type Mode = "backfill" | "dry-run" | "apply";

/** Parsed command line. */
export interface Args {
  mode: Mode;
  resume: boolean;
  statePath: string;
  maxOrphans: number;
  maxOrphanPercent: number;
  help: boolean;
}

/** Connection settings from the environment. */
export interface BackfillEnv {
  clerkSecretKey: string;
  /** Clerk's Backend API URL; undefined means Clerk's default (https://api.clerk.com). */
  clerkApiUrl: string | undefined;
  supabaseUrl: string;
  serviceKey: string;
}

/** A bad flag or variable: the run stops with exit code 2 and this message. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The help text. */
export const USAGE = `Usage:
  npm run backfill [-- --resume]        copy every Clerk user, organization and membership
                                        into profiles, organizations, organization_memberships
  npm run reconcile [-- --apply]        report drift between Clerk and those tables (--apply
                                        repairs)

Options:
  --dry-run            compare only and print the drift (what npm run reconcile runs)
  --apply              compare everything, then repair: write missing/outdated objects, restore
                       those with an inferred tombstone, tombstone orphans (as inferred)
  --resume             continue an interrupted backfill from its state file (in its phase)
  --state <file>       state file of the backfill (default .backfill-state.json)
  --max-orphans <n>    with --apply, write nothing when more than n rows of a kind (profiles,
                       organizations, memberships) have no Clerk object (default ${DEFAULT_MAX_ORPHANS})
  --max-orphan-percent <p>
                       ... or when they are more than p% of that kind's rows (default ${DEFAULT_MAX_ORPHAN_PERCENT}).
                       A listing of none while the table holds rows is always refused.
  -h, --help           show this help

Environment:
  CLERK_SECRET_KEY     Clerk secret key (sk_live_... / sk_test_...)
  CLERK_API_URL        Backend API URL (default https://api.clerk.com)
  SUPABASE_URL         project URL (or the one npm run dev prints)
  SUPABASE_SECRET_KEYS {"default":"sb_secret_..."}, or SUPABASE_SERVICE_ROLE_KEY (legacy JWT)

Exit codes: 0 done / in sync / all drift repaired, 1 drift found (reconcile; with --apply: drift
left), 2 error or repair refused, 130 interrupted.`;

/** Parses the flags; --apply wins over --dry-run, so that `npm run reconcile -- --apply` works. */
export function parseArgs(argv: string[]): Args {
  const args: Args = {
    mode: "backfill",
    resume: false,
    statePath: ".backfill-state.json",
    maxOrphans: DEFAULT_MAX_ORPHANS,
    maxOrphanPercent: DEFAULT_MAX_ORPHAN_PERCENT,
    help: false,
  };
  let dryRun = false;
  let apply = false;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].startsWith("--") && argv[i].includes("=")
      ? [argv[i].slice(0, argv[i].indexOf("=")), argv[i].slice(argv[i].indexOf("=") + 1)]
      : [argv[i], undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === "") throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--dry-run":
        dryRun = true;
        break;
      case "--apply":
        apply = true;
        break;
      case "--resume":
        args.resume = true;
        break;
      case "--state":
        args.statePath = value();
        break;
      case "--max-orphans": {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 0) throw new UsageError("--max-orphans must be >= 0");
        args.maxOrphans = n;
        break;
      }
      case "--max-orphan-percent": {
        const raw = value();
        const p = Number(raw);
        if (!/^\d+(\.\d+)?$/.test(raw) || !(p >= 0 && p <= 100)) {
          throw new UsageError("--max-orphan-percent must be a number from 0 to 100");
        }
        args.maxOrphanPercent = p;
        break;
      }
      case "-h":
      case "--help":
        args.help = true;
        break;
      default:
        throw new UsageError(`unknown option ${argv[i]}`);
    }
  }
  args.mode = apply ? "apply" : dryRun ? "dry-run" : "backfill";
  if (args.resume && args.mode !== "backfill") {
    throw new UsageError(
      "--resume applies to the backfill; a reconcile always compares everything",
    );
  }
  return args;
}

/** Reads the environment; throws {@linkcode UsageError} naming the missing or bad variable. */
export function readEnv(env: Env): BackfillEnv {
  const clerkSecretKey = env.get("CLERK_SECRET_KEY")?.trim();
  if (!clerkSecretKey) throw new UsageError("CLERK_SECRET_KEY is not set");
  const clerkApiUrl = env.get("CLERK_API_URL")?.trim() || undefined;
  if (clerkApiUrl !== undefined) httpUrl("CLERK_API_URL", clerkApiUrl);
  const supabaseUrl = env.get("SUPABASE_URL")?.trim();
  if (!supabaseUrl) throw new UsageError("SUPABASE_URL is not set");
  httpUrl("SUPABASE_URL", supabaseUrl);
  return { clerkSecretKey, clerkApiUrl, supabaseUrl, serviceKey: serviceKey(env) };
}

// The function's own reading (SUPABASE_SECRET_KEYS first, then the legacy JWT), as usage errors.
function serviceKey(env: Env): string {
  try {
    return readServiceKey(env).serviceKey;
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}

function httpUrl(name: string, value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${name} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`${name} is not an http(s) URL`);
  }
}
