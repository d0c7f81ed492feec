#!/bin/bash
# The official postgres image's entrypoint contract, for an image built from Debian packages.
#
# First start on an empty PGDATA: initdb as POSTGRES_USER (default postgres) with
# POSTGRES_PASSWORD, create POSTGRES_DB (default: the user's name), run
# /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz in name order against a temporary server, then
# start the real one. Remote connections authenticate with POSTGRES_HOST_AUTH_METHOD (default
# scram-sha-256, and a password is then required); local ones are trusted, as in the official image.
#
# Readiness: the temporary server listens on no TCP address and on a private socket directory,
# and its log goes to a file, so "database system is ready to accept connections" is printed
# once, by the real server, after the initialisation; pg_isready and a psql over 127.0.0.1 (how
# testcontainers waits) succeed only then.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
  # Volumes arrive owned by root: hand PGDATA to postgres, then drop root for good.
  install -d -o postgres -g postgres -m 700 "$PGDATA"
  chown -R postgres:postgres "$PGDATA"
  install -d -o postgres -g postgres -m 3777 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "$1" != postgres ]; then exec "$@"; fi

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_PASSWORD:=}"
: "${POSTGRES_HOST_AUTH_METHOD:=}"
export POSTGRES_USER POSTGRES_DB POSTGRES_PASSWORD

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    cat >&2 <<'MSG'
Error: the database is uninitialized and no superuser password is set.
Set POSTGRES_PASSWORD to a non-empty value, or POSTGRES_HOST_AUTH_METHOD=trust to allow every
connection without a password (development only).
MSG
    exit 1
  fi
  echo "initdb: creating the cluster in $PGDATA (superuser $POSTGRES_USER)"
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of options, split on purpose
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" ${POSTGRES_INITDB_ARGS:-} >/dev/null
  rm -f "$pwfile"
  method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ "$method" = trust ]; then
    echo "warning: POSTGRES_HOST_AUTH_METHOD=trust: every connection is accepted without a password" >&2
  fi
  printf '\nhost all all all %s\n' "$method" >>"$PGDATA/pg_hba.conf"
  printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

  sockdir=$(mktemp -d)
  log=$(mktemp)
  if ! pg_ctl -D "$PGDATA" -w -t 60 -l "$log" \
      -o "-c listen_addresses='' -c unix_socket_directories=$sockdir" start >/dev/null; then
    cat "$log" >&2; exit 1
  fi
  psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --host "$sockdir" --username "$POSTGRES_USER" --no-password)
  if [ "$POSTGRES_DB" != postgres ]; then
    if [ -z "$("${psql[@]}" --dbname postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '${POSTGRES_DB//\'/\'\'}'")" ]; then
      "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
  fi
  export PGHOST=$sockdir PGUSER=$POSTGRES_USER PGDATABASE=$POSTGRES_DB
  if [ ! -r /docker-entrypoint-initdb.d ] || [ ! -x /docker-entrypoint-initdb.d ]; then
    # an unreadable directory would look empty: say so instead of starting without the scripts
    echo "Error: /docker-entrypoint-initdb.d is not readable by the postgres user (uid $(id -u))" >&2
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null || true
    exit 1
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    # shellcheck disable=SC1090  # a non-executable *.sh is sourced, as the official image does
    case $f in
      *.sh) echo "init: running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql) echo "init: running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) echo "init: running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
      *) echo "init: ignoring $f" ;;
    esac
  done
  unset PGHOST PGUSER PGDATABASE
  pg_ctl -D "$PGDATA" -m fast -w -t 60 stop >/dev/null || { cat "$log" >&2; exit 1; }
  rm -rf "$sockdir" "$log"
  echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
