#!/usr/bin/env bash
# A second local PostgreSQL 15 cluster, "pspas_spare" on 127.0.0.1:5434 (trust auth, role root,
# database test): a server of its own that failover.spec.cjs demotes to read-only and back (a
# read-only first host of a multi-host URL, a pooled connection to a demoted server), which
# the shared server on 5432 cannot be while other suites run on it. Made with Debian's
# pg_createcluster when missing, started when down, left writable. Idempotent; needs root.
# Env: SPARE_PORT (5434).
set -euo pipefail
PORT=${SPARE_PORT:-5434}
NAME=pspas_spare
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "15 $NAME"; then
  if pg_isready -q -h 127.0.0.1 -p "$PORT"; then
    echo "something else answers on 127.0.0.1:$PORT; set SPARE_PORT to a free port" >&2; exit 1
  fi
  pg_createcluster 15 "$NAME" -p "$PORT" -o shared_buffers=32MB \
    -- --auth=trust >/dev/null
fi
pg_lsclusters -h | awk -v n="$NAME" '$2 == n {print $4}' | grep -q online \
  || pg_ctlcluster --skip-systemctl-redirect 15 "$NAME" start
for _ in $(seq 60); do pg_isready -q -h 127.0.0.1 -p "$PORT" && break; sleep 0.5; done
q() { psql -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -Atqc "$1"; }
q "SELECT 1 FROM pg_roles WHERE rolname = 'root'" | grep -q 1 || q 'CREATE ROLE root SUPERUSER LOGIN'
q "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 || q 'CREATE DATABASE test OWNER root'
# A run stopped half-way may have left it demoted.
q 'ALTER SYSTEM RESET default_transaction_read_only' && q 'SELECT pg_reload_conf()' >/dev/null
echo "spare PostgreSQL cluster up on 127.0.0.1:$PORT"
