#!/usr/bin/env bash
# Throwaway PostgreSQL and MariaDB servers for ferrosip-db's server tests (run as root; Debian's
# postgresql and mariadb-server packages). They listen on 127.0.0.1 only and live under DIR.
#
#   eval "$(crates/db/scripts/test-servers.sh start [DIR])"   # starts both, prints the env exports
#   cargo test -p ferrosip-db -p ferrosip-ctl -- --include-ignored
#   crates/db/scripts/test-servers.sh stop [DIR]               # stops both (by their pid files)
#
# `restart-pg DIR` restarts PostgreSQL (what FERROSIP_TEST_PG_RESTART runs).
# Ports: PGPORT (default 55432), MYPORT (default 53306).
set -euo pipefail

cmd=${1:-}
dir=${2:-/tmp/ferrosip-db-servers}
pgport=${PGPORT:-55432}
myport=${MYPORT:-53306}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
self=$(readlink -f "$0")

as_postgres() { su postgres -s /bin/sh -c "$*"; }
pg_ctl_cmd() { echo "$pgbin/pg_ctl -D $dir/pg/data -l $dir/pg/log -o '-h 127.0.0.1 -p $pgport -k $dir/pg' -w $1"; }

case "$cmd" in
start)
    [ -n "$pgbin" ] || { echo "no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)" >&2; exit 1; }
    command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || { echo "no mariadbd (apt-get install mariadb-server)" >&2; exit 1; }
    mkdir -p "$dir/pg" "$dir/my"
    chown postgres "$dir/pg"
    chown mysql "$dir/my"
    if [ ! -d "$dir/pg/data" ]; then
        as_postgres "$pgbin/initdb -D $dir/pg/data -U postgres --auth=trust -E UTF8" >"$dir/pg/initdb.log" 2>&1
    fi
    as_postgres "$(pg_ctl_cmd start)" >/dev/null
    as_postgres "$pgbin/createdb -h 127.0.0.1 -p $pgport -U postgres ferrosip_test" 2>/dev/null || true
    if [ ! -d "$dir/my/data" ]; then
        mariadb-install-db --user=mysql --datadir="$dir/my/data" --auth-root-authentication-method=normal \
            --skip-test-db >"$dir/my/install.log" 2>&1
    fi
    /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$dir/my/data" --socket="$dir/my/sock" \
        --port="$myport" --bind-address=127.0.0.1 --pid-file="$dir/my/pid" --log-error="$dir/my/err.log" \
        </dev/null >/dev/null 2>&1 &
    for _ in $(seq 1 150); do
        mariadb-admin --socket="$dir/my/sock" -u root ping >/dev/null 2>&1 && break
        sleep 0.2
    done
    mariadb --socket="$dir/my/sock" -u root -e "CREATE DATABASE IF NOT EXISTS ferrosip_test;
        CREATE USER IF NOT EXISTS 'fs'@'127.0.0.1' IDENTIFIED BY 'fspw';
        GRANT ALL ON ferrosip_test.* TO 'fs'@'127.0.0.1';"
    echo "export FERROSIP_TEST_PG_URL=postgres://postgres@127.0.0.1:$pgport/ferrosip_test"
    echo "export FERROSIP_TEST_MYSQL_URL=mysql://fs:fspw@127.0.0.1:$myport/ferrosip_test"
    echo "export MYSQL_UNIX_PORT=$dir/my/sock"
    echo "export FERROSIP_TEST_PG_RESTART='PGPORT=$pgport $self restart-pg $dir'"
    ;;
restart-pg)
    as_postgres "$(pg_ctl_cmd restart)" >/dev/null
    ;;
stop)
    if [ -f "$dir/pg/data/postmaster.pid" ]; then
        as_postgres "$pgbin/pg_ctl -D $dir/pg/data -m fast -w stop" >/dev/null || true
    fi
    if [ -f "$dir/my/pid" ]; then
        pid=$(cat "$dir/my/pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    ;;
*)
    echo "usage: $0 start|stop|restart-pg [DIR]" >&2
    exit 2
    ;;
esac
