#!/usr/bin/env bash
# Makes a local PostgreSQL available for the test suite and prints its admin URL:
# starts the Debian cluster when it is installed but not running, and creates the
# `naano` test role (allowed to create the throwaway databases the tests use).
# Exits non-zero, loudly, when PostgreSQL cannot be made to answer: the suite must then
# fail, never skip.
set -euo pipefail
HOST=127.0.0.1
PORT="${NAANO_TEST_PG_PORT:-5432}"
if ! pg_isready -q -h "$HOST" -p "$PORT"; then
  if command -v pg_ctlcluster >/dev/null; then
    version="$(pg_lsclusters -h | awk 'NR==1 {print $1}')"
    cluster="$(pg_lsclusters -h | awk 'NR==1 {print $2}')"
    [ -n "$version" ] || { echo "start-postgres: no PostgreSQL cluster is installed" >&2; exit 1; }
    pg_ctlcluster "$version" "$cluster" start >&2
  else
    echo "start-postgres: PostgreSQL is not running on $HOST:$PORT and pg_ctlcluster is not available" >&2
    exit 1
  fi
  for _ in $(seq 1 50); do pg_isready -q -h "$HOST" -p "$PORT" && break; sleep 0.2; done
  pg_isready -q -h "$HOST" -p "$PORT" || { echo "start-postgres: PostgreSQL did not come up" >&2; exit 1; }
fi
as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; elif [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
# Over the local socket: peer authentication, no password.
as_postgres psql -q -p "$PORT" -d postgres -v ON_ERROR_STOP=1 >&2 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'naano') THEN
    CREATE ROLE naano LOGIN PASSWORD 'naano' CREATEDB;
  END IF;
END $$;
SQL
echo "postgres://naano:naano@$HOST:$PORT/postgres"
