#!/usr/bin/env bash
# Builds the four service images from deploy/service.Dockerfile with the names docker-compose.yml
# gives them, so `docker-compose up --no-build` runs them (docker-compose 1.29 cannot pass build
# secrets). With a registry and Compose v2, `docker compose up --build` does the same.
#
#   deploy/compose/build-images.sh [requests settings digest sis_sync]
#
# Environment:
#   IMAGE_PREFIX / IMAGE_TAG  image names: $IMAGE_PREFIX/<service>:$IMAGE_TAG (pur, latest)
#   PYTHON_IMAGE              base image (python:3.11-slim; e.g. pur-local/python:3.11-slim)
#   PIP_CERT_FILE             a CA bundle pip must trust (a TLS-intercepting proxy); lent to the
#                             build as the secret `pip_cert`, never stored in an image
#   BUILD_NETWORK             `docker build --network` (e.g. host, where the bridge has no route out)
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
prefix=${IMAGE_PREFIX:-pur}
tag=${IMAGE_TAG:-latest}
services=("$@")
[ ${#services[@]} -gt 0 ] || services=(requests settings digest sis_sync)

die() { echo "build-images.sh: $*" >&2; exit 1; }

for s in "${services[@]}"; do
  case $s in requests|settings|digest|sis_sync) ;; *) die "unknown service '$s' (requests settings digest sis_sync)" ;; esac
done

# shellcheck source=deploy/lib/docker.sh
. "$repo/deploy/lib/docker.sh"
DOCKER=$(pick_docker) || die "no docker client with BuildKit (install the buildx plugin)"
"$DOCKER" info >/dev/null 2>&1 || die "the Docker engine does not answer ($DOCKER info failed)"
export DOCKER_BUILDKIT=1

args=(--progress plain -f "$repo/deploy/service.Dockerfile")
if [ -n "${PYTHON_IMAGE:-}" ]; then
  "$DOCKER" image inspect "$PYTHON_IMAGE" >/dev/null 2>&1 \
    || echo "build-images.sh: $PYTHON_IMAGE is not here; the engine will try to pull it" >&2
  args+=(--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")
fi
if [ -n "${PIP_CERT_FILE:-}" ]; then
  [ -r "$PIP_CERT_FILE" ] || die "PIP_CERT_FILE=$PIP_CERT_FILE is not a readable file"
  args+=(--secret "id=pip_cert,src=$PIP_CERT_FILE")
fi
[ -z "${BUILD_NETWORK:-}" ] || args+=(--network "$BUILD_NETWORK")

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/pur-build-images.XXXXXX")
replaced=()
total=$SECONDS
for s in "${services[@]}"; do
  image=$prefix/$s:$tag start=$SECONDS log=$log_dir/$s.log
  echo "==> $image: building (SERVICE=$s${PYTHON_IMAGE:+, PYTHON_IMAGE=$PYTHON_IMAGE}${PIP_CERT_FILE:+, with the pip_cert secret})"
  previous=$("$DOCKER" image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  if ! "$DOCKER" build "${args[@]}" --build-arg "SERVICE=$s" -t "$image" "$repo" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "building $image failed (whole log: $log)"
  fi
  [ -z "$previous" ] || replaced+=("$previous")
  echo "==> $image: built in $((SECONDS - start)) s, $("$DOCKER" image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}')"
done
rm -rf "$log_dir"
# Images these tags named before and no tag names now: remove them (unless a container still
# uses one), so rebuilding on a long-lived CI machine does not pile up old images.
for id in "${replaced[@]}"; do
  if [ "$("$DOCKER" image inspect -f '{{len .RepoTags}}' "$id" 2>/dev/null)" = 0 ]; then
    "$DOCKER" image rm "$id" >/dev/null 2>&1 || echo "build-images.sh: kept the replaced image $id (in use?)" >&2
  fi
done
echo "==> ${#services[@]} image(s) in $((SECONDS - total)) s"
