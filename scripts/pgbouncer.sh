#!/usr/bin/env bash
# Start a local PgBouncer (transaction pooling) on 127.0.0.1:6544 -> 127.0.0.1:5432.
# Idempotent: does nothing if our instance (its pid file) already answers there. A port of its
# own, so that a distribution's default pgbouncer on 6432 is never mistaken for ours.
# For the pooler tests (`npm test` runs part of the suite through it) and the failover drill.
# Env overrides: PGB_DIR (default /tmp/pgbouncer), PGB_PORT (6544), PGB_TARGET_PORT (the
# server's port, 5432), PGB_POOL_SIZE (8), PGB_EXTRA (extra ini lines).
set -euo pipefail
PGB_DIR=${PGB_DIR:-/tmp/pgbouncer}
PORT=${PGB_PORT:-6544}
if [ -f "$PGB_DIR/pgbouncer.pid" ] && kill -0 "$(cat "$PGB_DIR/pgbouncer.pid")" 2>/dev/null \
  && pg_isready -q -h 127.0.0.1 -p "$PORT"; then
  echo "pgbouncer already listening on 127.0.0.1:$PORT"; exit 0
fi
if pg_isready -q -h 127.0.0.1 -p "$PORT"; then
  echo "something else answers on 127.0.0.1:$PORT; set PGB_PORT to a free port" >&2; exit 1
fi
command -v pgbouncer >/dev/null || { apt-get update -qq && apt-get install -y -qq pgbouncer; }
PGB=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
mkdir -p "$PGB_DIR"
cat > "$PGB_DIR/userlist.txt" <<'U'
"root" ""
"postgres" ""
U
cat > "$PGB_DIR/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=${PGB_TARGET_PORT:-5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = trust
auth_file = $PGB_DIR/userlist.txt
admin_users = root, postgres
pool_mode = transaction
default_pool_size = ${PGB_POOL_SIZE:-8}
max_client_conn = 200
ignore_startup_parameters = extra_float_digits,options
server_reset_query =
logfile = $PGB_DIR/pgbouncer.log
pidfile = $PGB_DIR/pgbouncer.pid
${PGB_EXTRA:-}
INI
chown -R postgres:postgres "$PGB_DIR"
rm -f "$PGB_DIR/pgbouncer.pid"   # stale pid file from a dead instance would block -d
su postgres -s /bin/sh -c "$PGB -d $PGB_DIR/pgbouncer.ini"
for _ in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 -p "$PORT" && { echo "pgbouncer up on 127.0.0.1:$PORT"; exit 0; }
  sleep 0.2
done
echo "pgbouncer did not come up; log:" >&2; tail -20 "$PGB_DIR/pgbouncer.log" >&2; exit 1
