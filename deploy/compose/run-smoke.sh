#!/usr/bin/env bash
# `docker compose up`, exercised (CI runs this): build the four service images, start the whole
# stack under a project name of its own on host ports of its own, wait until every container with
# a healthcheck is healthy, run the black-box smoke check (deploy/compose/smoke.py) through the
# published ports, check the logs (each service migrated once, no errors), and always tear the
# stack down with its volumes. On failure it prints `ps` and the logs.
#
#   deploy/compose/run-smoke.sh
#
# Environment: everything docker-compose.yml and build-images.sh read (RABBITMQ_IMAGE,
# POSTGRES_IMAGE, MAIL_IMAGE, PYTHON_IMAGE, PIP_CERT_FILE, IMAGE_PREFIX, IMAGE_TAG, the *_PORT
# variables), plus COMPOSE_PROJECT_NAME (pursmoke), SMOKE_SKIP_BUILD=1 (use the images as they
# are), HEALTH_TIMEOUT (seconds, 240), PYTHON (the host Python with the project installed, .venv's).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
started=$SECONDS

die() { echo "run-smoke.sh: $*" >&2; exit 1; }
say() { echo "==> [$((SECONDS - started)) s] $*"; }

# Never the host's own 5432/5672/8000-8003/1025/8025: ports of its own, below the ephemeral range
# (32768+), where Docker's random host ports and outgoing connections could take them.
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-pursmoke}
export REQUESTS_PORT=${REQUESTS_PORT:-28000} SETTINGS_PORT=${SETTINGS_PORT:-28001}
export DIGEST_PORT=${DIGEST_PORT:-28002} SIS_SYNC_PORT=${SIS_SYNC_PORT:-28003}
export RABBITMQ_PORT=${RABBITMQ_PORT:-28672} RABBITMQ_MANAGEMENT_PORT=${RABBITMQ_MANAGEMENT_PORT:-28673}
export POSTGRES_PORT=${POSTGRES_PORT:-28432} MAIL_SMTP_PORT=${MAIL_SMTP_PORT:-28125} MAIL_WEB_PORT=${MAIL_WEB_PORT:-28825}
# A secret of this run's own, shared by the services and the smoke check's tokens.
export JWT_SECRET=${JWT_SECRET:-smoke-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')}
PYTHON=${PYTHON:-$repo/.venv/bin/python}
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-240}

[ -x "$PYTHON" ] || die "no Python with the project installed at $PYTHON (make install, or set PYTHON)"
if [ -n "${COMPOSE:-}" ]; then read -r -a compose_cmd <<<"$COMPOSE"
elif command -v docker-compose >/dev/null; then compose_cmd=(docker-compose)
elif docker compose version >/dev/null 2>&1; then compose_cmd=(docker compose)
else die "neither docker-compose nor the docker compose plugin is installed"; fi
compose() { "${compose_cmd[@]}" -f "$repo/docker-compose.yml" "$@"; }
docker info >/dev/null 2>&1 || die "the Docker engine does not answer (docker info failed)"

taken=()
for port in "$REQUESTS_PORT" "$SETTINGS_PORT" "$DIGEST_PORT" "$SIS_SYNC_PORT" "$RABBITMQ_PORT" \
            "$RABBITMQ_MANAGEMENT_PORT" "$POSTGRES_PORT" "$MAIL_SMTP_PORT" "$MAIL_WEB_PORT"; do
  # SO_REUSEADDR: a connection of a previous run still in TIME_WAIT does not make the port taken
  # (Docker binds it the same way); a listening socket does.
  "$PYTHON" -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.close()' \
    "$port" 2>/dev/null || taken+=("$port")
done
[ ${#taken[@]} -eq 0 ] || die "host ports already in use: ${taken[*]} (a stack of project $COMPOSE_PROJECT_NAME still up? \`${compose_cmd[*]} -p $COMPOSE_PROJECT_NAME down -v\`; or set the *_PORT variables)"

# Images: the services' always (a no-change rebuild is a few seconds of cache hits, and a stale
# image from an older checkout would test old code); the infrastructure's must exist or be pullable.
if [ "${SMOKE_SKIP_BUILD:-0}" != 1 ]; then
  say "building the service images"
  "$repo/deploy/compose/build-images.sh"
fi
for image in "${RABBITMQ_IMAGE:-rabbitmq:3.13-management}" "${POSTGRES_IMAGE:-postgres:16}" "${MAIL_IMAGE:-axllent/mailpit:v1.21}"; do
  docker image inspect "$image" >/dev/null 2>&1 \
    || echo "run-smoke.sh: $image is not here: compose will pull it (no registry? build local stand-ins with deploy/local-images/build.sh and set RABBITMQ_IMAGE, POSTGRES_IMAGE, MAIL_IMAGE)" >&2
done

failed=1
finish() {
  local rc=$?
  if [ "$failed" = 1 ]; then
    echo "==> FAILED (exit $rc): containers and logs of project $COMPOSE_PROJECT_NAME" >&2
    compose ps >&2 || true
    compose logs --no-color --timestamps >&2 || true
  fi
  say "docker-compose down -v"
  compose down -v --remove-orphans >/dev/null 2>&1 || compose down -v --remove-orphans || true
  say "done (exit $rc)"
}
trap finish EXIT

say "docker-compose up -d --no-build (project $COMPOSE_PROJECT_NAME, requests on 127.0.0.1:$REQUESTS_PORT)"
up_start=$SECONDS
timeout "$HEALTH_TIMEOUT" "${compose_cmd[@]}" -f "$repo/docker-compose.yml" up -d --no-build \
  || die "docker-compose up failed or took longer than $HEALTH_TIMEOUT s"

# Every container with a healthcheck healthy; one that exits or turns unhealthy fails at once.
deadline=$((SECONDS + HEALTH_TIMEOUT))
while :; do
  mapfile -t ids < <(compose ps -q)
  [ ${#ids[@]} -gt 0 ] || die "no containers in project $COMPOSE_PROJECT_NAME"
  waiting=() broken=()
  while read -r name state health; do
    case "$state/$health" in
      running/healthy|running/none) ;;
      running/starting) waiting+=("$name") ;;
      *) broken+=("$name:$state/$health") ;;
    esac
  done < <(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "${ids[@]}")
  [ ${#broken[@]} -eq 0 ] || die "containers not running or unhealthy: ${broken[*]}"
  [ ${#waiting[@]} -gt 0 ] || break
  [ $SECONDS -lt $deadline ] || die "still not healthy after $HEALTH_TIMEOUT s: ${waiting[*]}"
  sleep 2
done
say "all ${#ids[@]} containers healthy, $((SECONDS - up_start)) s after up"

say "smoke check"
"$PYTHON" "$repo/deploy/compose/smoke.py"

# The services' logs of this start: each applied its migrations exactly once (the first revision
# once; a second run would be a replica racing it), and nothing at error level or as a traceback.
problems=()
for service in requests settings digest sis_sync; do
  log=$(compose logs --no-color "$service")
  first=$(grep -c '"Running upgrade  -> 0001' <<<"$log" || true)
  steps=$(grep -c '"Running upgrade ' <<<"$log" || true)
  errors=$(grep -E '"level": ?"(error|critical)"|Traceback' <<<"$log" || true)
  say "$service: $steps migration step(s), the first applied $first time(s), $(grep -c . <<<"$errors" || true) error line(s)"
  [ "$first" = 1 ] || problems+=("$service applied its first migration $first times (expected once)")
  [ -z "$errors" ] || problems+=("$service logged errors:"$'\n'"$errors")
done
if [ ${#problems[@]} -gt 0 ]; then
  printf '%s\n' "${problems[@]}" >&2
  die "the logs of the start are not clean"
fi
say "logs: each service migrated once, no errors"

failed=0
say "compose smoke passed in $((SECONDS - started)) s"
