#!/usr/bin/env bash
# The four service images run the way their Kubernetes pods would, without a cluster: the
# environment of overlays/example's ConfigMaps (rendered by $KUBECTL), the pods' security context
# (uid/gid 10001, read-only root filesystem, every capability dropped, no privilege escalation), their
# emptyDir volumes as tmpfs, the Service names as network aliases (the staff app reaches
# http://settings:8001...), the migration Job's `migrate` before each `serve`. Then the compose smoke
# check (deploy/compose/smoke.py) through published ports. Docker stands in for the kubelet here:
# what it does not prove is anything the API server or an operator would do.
#
#   KUBECTL=<kubectl> IMAGE_TAG=latest bash deploy/kubernetes/ci/pod-smoke.sh
#
# Needs the service images ($IMAGE_PREFIX/<service>:$IMAGE_TAG, deploy/compose/build-images.sh) and
# POSTGRES_IMAGE, RABBITMQ_IMAGE, MAIL_IMAGE (default: the local images of deploy/local-images).
# Overrides the configuration only where the cluster would differ: the database and broker URLs
# (the Secret), and plain SMTP to the mail catcher. Removes everything it started.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$repo"
kubectl=${KUBECTL:-kubectl}
prefix=${IMAGE_PREFIX:-pur}
tag=${IMAGE_TAG:-latest}
postgres_image=${POSTGRES_IMAGE:-pur-local/postgres:15}
rabbitmq_image=${RABBITMQ_IMAGE:-pur-local/rabbitmq:3.10-management}
mail_image=${MAIL_IMAGE:-pur-local/mailsink:latest}
run=purpod$$
base_port=${POD_SMOKE_BASE_PORT:-29000}
jwt=$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(32))')

work=$(mktemp -d)
containers=()
cleanup() {
  [ ${#containers[@]} -eq 0 ] || docker rm -f "${containers[@]}" >/dev/null 2>&1 || true
  docker network rm "$run" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "pod-smoke: $*" >&2
  for c in "${containers[@]}"; do echo "--- $c" >&2; docker logs --tail 30 "$c" >&2 2>&1 || true; done
  exit 1
}

# The rendered example, in a copy where secrets.env is its example (the URLs are replaced below).
cp -r deploy/kubernetes "$work/kubernetes"
cp "$work/kubernetes/overlays/example/environment/secrets.env.example" "$work/kubernetes/overlays/example/environment/secrets.env"
"$kubectl" kustomize "$work/kubernetes/overlays/example" >"$work/rendered.yaml"

# `docker run` flags for one Deployment's container: its ConfigMap as -e, its volumes as tmpfs, its
# securityContext as --user/--read-only/--cap-drop/--security-opt.
pod_flags() {
  .venv/bin/python - "$work/rendered.yaml" "$1" <<'PY'
import sys, yaml
objects = [o for o in yaml.safe_load_all(open(sys.argv[1])) if o]
deployment = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == sys.argv[2])
pod = deployment["spec"]["template"]["spec"]
(container,) = pod["containers"]
config_maps = {o["metadata"]["name"]: o["data"] for o in objects if o["kind"] == "ConfigMap"}
flags = [f"--user={pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}",
         f"--group-add={pod['securityContext']['fsGroup']}"]
security = container["securityContext"]
if security["readOnlyRootFilesystem"]:
    flags.append("--read-only")
flags += [f"--cap-drop={c}" for c in security["capabilities"]["drop"]]
if security["allowPrivilegeEscalation"] is False:
    flags.append("--security-opt=no-new-privileges")
volumes = {v["name"]: v for v in pod.get("volumes", [])}
for mount in container.get("volumeMounts", []):
    assert "emptyDir" in volumes[mount["name"]], mount
    flags.append(f"--tmpfs={mount['mountPath']}:rw,mode=1777,size={volumes[mount['name']]['emptyDir'].get('sizeLimit', '64Mi').replace('Mi', 'm').replace('Gi', 'g')}")
for source in container["envFrom"]:
    flags += [f"--env={k}={v}" for k, v in config_maps[source["configMapRef"]["name"]].items()]
flags.append(f"--port={container['ports'][0]['containerPort']}")
print("\n".join(flags))
PY
}

docker network create "$run" >/dev/null
start() { local name=$1; shift; containers+=("$run-$name"); docker run -d --name "$run-$name" --network "$run" "$@" >/dev/null; }
start postgres --network-alias postgres -e POSTGRES_HOST_AUTH_METHOD=trust \
  -v "$repo/deploy/postgres/init.sql:/docker-entrypoint-initdb.d/init.sql:ro" "$postgres_image"
start rabbitmq --network-alias rabbitmq "$rabbitmq_image"
start mail --network-alias mail -p "127.0.0.1:$((base_port + 25)):8025" "$mail_image"
ready=
for _ in $(seq 120); do
  if docker exec "$run-postgres" pg_isready -q -U postgres 2>/dev/null \
     && docker exec "$run-rabbitmq" rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1; then
    ready=1; break
  fi
  sleep 1
done
[ -n "$ready" ] || fail "PostgreSQL or RabbitMQ did not start"

declare -A image=([requests]=requests [settings]=settings [digest]=digest [sis-sync]=sis_sync)
declare -A env_prefix=([requests]=REQUESTS [settings]=SETTINGS [digest]=DIGEST [sis-sync]=SIS_SYNC)
offset=0
for service in requests settings digest sis-sync; do
  mapfile -t flags < <(pod_flags "$service")
  [[ ${#flags[@]} -gt 1 && ${flags[-1]} == --port=* ]] || fail "$service: no Deployment in the rendering"
  port=${flags[-1]#--port=}; unset 'flags[-1]'
  p=${env_prefix[$service]}
  flags+=(-e "JWT_SECRET=$jwt"
          -e "${p}_DATABASE_URL=postgresql+asyncpg://postgres@postgres:5432/pur_${image[$service]}"
          -e "${p}_RABBITMQ_URL=amqp://guest:guest@rabbitmq:5672/")
  [ "$service" != digest ] || flags+=(-e DIGEST_SMTP_HOST=mail -e DIGEST_SMTP_PORT=1025 -e DIGEST_SMTP_TLS=none)
  # The migration Job, then the Deployment's container.
  docker run --rm --network "$run" "${flags[@]}" "$prefix/${image[$service]}:$tag" migrate >"$work/migrate-$service.log" 2>&1 \
    || { cat "$work/migrate-$service.log" >&2; fail "$service: migrate failed"; }
  start "$service" --network-alias "$service" -p "127.0.0.1:$((base_port + offset)):$port" "${flags[@]}" \
    "$prefix/${image[$service]}:$tag" serve
  offset=$((offset + 1))
done

offset=0
for service in requests settings digest sis-sync; do
  url="http://127.0.0.1:$((base_port + offset))"
  for _ in $(seq 120); do curl -fsS -o /dev/null "$url/readyz" 2>/dev/null && break; sleep 0.5; done
  curl -fsS -o /dev/null "$url/readyz" || fail "$service: /readyz did not answer 200"
  offset=$((offset + 1))
done
echo "pod-smoke: the four services are ready as pods (read-only root, uid 10001, no capabilities)"

REQUESTS_PORT=$base_port SETTINGS_PORT=$((base_port + 1)) DIGEST_PORT=$((base_port + 2)) \
  SIS_SYNC_PORT=$((base_port + 3)) MAIL_WEB_PORT=$((base_port + 25)) JWT_SECRET=$jwt \
  .venv/bin/python deploy/compose/smoke.py || fail "the smoke check failed"

for service in requests settings digest sis-sync; do
  if docker logs "$run-$service" 2>&1 | grep -E '"level": "(error|critical)"|Traceback|Read-only file system|Permission denied'; then
    fail "$service logged an error"
  fi
  echo "pod-smoke: $service $(docker stats --no-stream --format '{{.MemUsage}}' "$run-$service" | cut -d/ -f1)RSS, no error logged"
done
# SIGTERM, as the kubelet sends it; each must stop within the pod's grace period, exit status 0.
for service in requests settings digest sis-sync; do
  docker stop -t 30 "$run-$service" >/dev/null
  status=$(docker inspect -f '{{.State.ExitCode}}' "$run-$service")
  [ "$status" = 0 ] || fail "$service exited $status on SIGTERM"
done
echo "pod-smoke: passed"
