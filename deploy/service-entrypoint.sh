#!/bin/sh
# Entrypoint of the service images (deploy/service.Dockerfile), where PUR_SERVICE names the service.
#   pur-service [serve]            migrate, then serve HTTP, consume events and relay the outbox
#   pur-service migrate | ...      any other subcommand of the service's CLI (pur-requests --help)
#   pur-service healthcheck        exit 0 when /readyz answers 200 (the image's HEALTHCHECK)
set -eu

case "${PUR_SERVICE:-}" in
  requests) default_port=8000 ;;
  settings) default_port=8001 ;;
  digest) default_port=8002 ;;
  sis_sync) default_port=8003 ;;
  *) echo "pur-service: PUR_SERVICE must be requests, settings, digest or sis_sync (got '${PUR_SERVICE:-}')" >&2
     exit 64 ;;
esac
prefix=$(printf '%s' "$PUR_SERVICE" | tr '[:lower:]' '[:upper:]')
# The services listen on 127.0.0.1 unless told otherwise (right for `make run`, unreachable in a
# container): default <PREFIX>_HTTP_HOST to every interface; keep whatever the caller set.
host=$(printenv "${prefix}_HTTP_HOST" || true)
port=$(printenv "${prefix}_HTTP_PORT" || true)
: "${host:=0.0.0.0}" "${port:=$default_port}"
export "${prefix}_HTTP_HOST=$host" "${prefix}_HTTP_PORT=$port"

if [ "${1:-}" = healthcheck ]; then
  exec python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=4)' \
    "http://127.0.0.1:$port/readyz"
fi
[ $# -gt 0 ] || set -- serve
exec "pur-$(printf '%s' "$PUR_SERVICE" | tr _ -)" "$@"
