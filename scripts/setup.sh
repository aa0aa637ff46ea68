#!/usr/bin/env bash
# Installs what the tests need: PostgreSQL 15 with pgTAP, pg_prove, plpgsql_check (which
# `supabase db lint` runs) and pg_cron (the README's recipes run in a test), and Chromium for the
# browser test (from Debian's apt, when running as root and they are missing), the pinned
# Deno, Supabase CLI and playwright-core (npm), the Deno dependencies from deno.lock, and the
# esbuild that `deno bundle` uses (the browser test bundles the example page with it).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || apt_packages+=(postgresql-15)
[ -f /usr/share/postgresql/15/extension/pgtap.control ] || apt_packages+=(postgresql-15-pgtap)
command -v pg_prove >/dev/null 2>&1 || apt_packages+=(libtap-parser-sourcehandler-pgtap-perl)
command -v psql >/dev/null 2>&1 || apt_packages+=(postgresql-client-15)
[ -f /usr/share/postgresql/15/extension/plpgsql_check.control ] || apt_packages+=(postgresql-15-plpgsql-check)
[ -f /usr/share/postgresql/15/extension/pg_cron.control ] || apt_packages+=(postgresql-15-cron)
[ -x /usr/bin/chromium ] || apt_packages+=(chromium)
if [ ${#apt_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing ${apt_packages[*]}; install them (apt-get install ${apt_packages[*]}) or run as root" >&2
    exit 1
  fi
  echo "setup: installing ${apt_packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

npm ci --no-audit --no-fund --loglevel=error
# Fetch every npm: dependency into Deno's cache, checked against deno.lock.
node_modules/.bin/deno cache --frozen --quiet $(find supabase/functions scripts backfill tests bench examples -name "*.ts" -o -name "*.tsx" 2>/dev/null)
# `deno bundle` fetches esbuild from the npm registry on first use: do it now, not in a test.
bundle_dir=$(mktemp -d)
node_modules/.bin/deno bundle --frozen --quiet --platform browser -o "$bundle_dir/page.js" examples/profile-sync/page.ts
rm -rf "$bundle_dir"
echo "setup: done ($(node_modules/.bin/deno --version | head -1), supabase $(node_modules/.bin/supabase --version))"
