# A private PostgreSQL cluster for the test suite: initdb in a temp folder, started on a free 127.0.0.1
# port (not 5432: another cluster may hold it), trust auth for this user only on loopback, removed at exit.
# Sourced by scripts/run-tests.sh: pg_private_start exports SOHOA_TEST_PG; pg_private_stop removes it all.

pg_private_start() {
  local bin me port runas=()
  bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "run-tests: PostgreSQL server binaries missing (apt-get install postgresql)" >&2
    return 1
  fi
  me=$(id -un)
  SOHOA_PG_DIR=$(mktemp -d /tmp/sohoa-pg.XXXXXX)
  chmod 755 "$SOHOA_PG_DIR"
  if [ "$(id -u)" = 0 ]; then  # initdb refuses root: the cluster runs as postgres, the role is ours
    chown postgres: "$SOHOA_PG_DIR"
    runas=(runuser -u postgres --)
  fi
  port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${runas[@]}" "$bin/initdb" -D "$SOHOA_PG_DIR/data" --username="$me" --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$SOHOA_PG_DIR/initdb.log" 2>&1 || { cat "$SOHOA_PG_DIR/initdb.log" >&2; return 1; }
  "${runas[@]}" "$bin/pg_ctl" -D "$SOHOA_PG_DIR/data" -l "$SOHOA_PG_DIR/server.log" -w -t 60 \
    -o "-p $port -k $SOHOA_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start \
    >/dev/null || { cat "$SOHOA_PG_DIR/server.log" >&2; return 1; }
  SOHOA_PG_BIN=$bin
  SOHOA_PG_RUNAS=("${runas[@]}")
  export SOHOA_TEST_PG="postgresql://$me@127.0.0.1:$port/postgres"
  echo "run-tests: private PostgreSQL on 127.0.0.1:$port ($SOHOA_PG_DIR)" >&2
}

pg_private_stop() {
  [ -n "${SOHOA_PG_DIR:-}" ] || return 0
  "${SOHOA_PG_RUNAS[@]}" "$SOHOA_PG_BIN/pg_ctl" -D "$SOHOA_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$SOHOA_PG_DIR"
}
