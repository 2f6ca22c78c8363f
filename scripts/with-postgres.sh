#!/usr/bin/env bash
# Run a command with a private, throw-away PostgreSQL server for the tests that need one.
# Installs Debian's postgresql when missing; the server lives in a temporary folder, listens
# only on a Unix socket there, and is stopped when the command ends.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ]; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
dir=$(mktemp -d /tmp/docket-pg.XXXXXX)
run_as() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$dir"
stop() { run_as "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap stop EXIT
run_as "$bin/initdb" -D "$dir/data" -A trust -U docket >/dev/null
run_as "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-k $dir -c listen_addresses='' -c fsync=on -c max_connections=200" start >/dev/null
export DOCKET_TEST_POSTGRES_URL="postgresql+psycopg://docket@/postgres?host=$dir"
"$@"
