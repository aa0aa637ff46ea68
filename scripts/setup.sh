#!/usr/bin/env bash
# Installs what the tests need: PostgreSQL 15 with pgTAP and pg_prove (from Debian's apt, when
# running as root and they are missing), the pinned Deno and Supabase CLI (npm), and the Deno
# dependencies from deno.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || apt_packages+=(postgresql-15)
[ -f /usr/share/postgresql/15/extension/pgtap.control ] || apt_packages+=(postgresql-15-pgtap)
command -v pg_prove >/dev/null 2>&1 || apt_packages+=(libtap-parser-sourcehandler-pgtap-perl)
command -v psql >/dev/null 2>&1 || apt_packages+=(postgresql-client-15)
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
node_modules/.bin/deno cache --frozen --quiet $(find supabase/functions scripts backfill tests bench examples -name "*.ts" 2>/dev/null)
echo "setup: done ($(node_modules/.bin/deno --version | head -1), supabase $(node_modules/.bin/supabase --version))"
