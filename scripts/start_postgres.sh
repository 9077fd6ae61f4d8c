#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on 127.0.0.1 for the tests and print its SQLAlchemy URL.
# Installs Debian's postgresql package if needed (when running as root). Exits non-zero if it
# cannot. The server lives in /tmp/supportbot-pg and is reused while it runs.
set -euo pipefail
PORT=${SUPPORTBOT_TEST_PG_PORT:-55432}
DIR=/tmp/supportbot-pg
URL="postgresql+psycopg://postgres@127.0.0.1:${PORT}/supportbot_test"
log() { echo "$*" >&2; }

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ]; then
  [ "$(id -u)" = 0 ] || { log "postgresql not installed and not root"; exit 1; }
  log "installing postgresql (Debian package)…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2 || exit 1
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if ! "$bindir/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  rm -rf "$DIR" && mkdir -p "$DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$DIR"
  run "$bindir/initdb" -D "$DIR/data" -U postgres --auth=trust >/dev/null
  run "$bindir/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w \
    -o "-h 127.0.0.1 -p $PORT -k $DIR" start >&2
fi
run "$bindir/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -tc \
  "SELECT 1 FROM pg_database WHERE datname='supportbot_test'" | grep -q 1 \
  || run "$bindir/createdb" -h 127.0.0.1 -p "$PORT" -U postgres supportbot_test >&2
echo "$URL"
