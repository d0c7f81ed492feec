#!/usr/bin/env bash
# The security scan of the Kubernetes manifests: render every deployable kustomization (the example
# overlays and the dependencies) and run checkov over the result with ci/checkov.yaml (the skipped
# checks and why). checkov lives in a virtualenv of its own, outside the project's .venv, pinned by
# ci/checkov-requirements.txt and ci/checkov-constraints.txt. Exits non-zero on any failed check.
#   KUBECTL=<kubectl> bash deploy/kubernetes/ci/checkov.sh     (.ci/run passes kubectl 1.20)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
k8s=$(dirname "$here")
kubectl=${KUBECTL:-kubectl}
venv=${PUR_CHECKOV_VENV:-/var/cache/pur-checkov/venv}

want=$(cat "$here/checkov-requirements.txt")
if ! [ -x "$venv/bin/checkov" ] || ! "$venv/bin/pip" freeze 2>/dev/null | grep -qx "$want"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    -r "$here/checkov-requirements.txt" -c "$here/checkov-constraints.txt"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A copy, so that the example's git-ignored secrets.env can be made from its placeholders.
cp -r "$k8s" "$work/kubernetes"
env_dir="$work/kubernetes/overlays/example/environment"
cp "$env_dir/secrets.env.example" "$env_dir/secrets.env"
mkdir "$work/rendered"
for target in overlays/example overlays/example-keda dependencies; do
  "$kubectl" kustomize "$work/kubernetes/$target" >"$work/rendered/$(echo "$target" | tr / -).yaml"
done

echo "checkov $("$venv/bin/checkov" --version) over $(ls "$work/rendered" | tr '\n' ' ')"
echo "skipped checks (reasons: deploy/kubernetes/ci/checkov.yaml):" \
  $(sed -n '/^skip-check:/,/^[a-z]/s/^  - //p' "$here/checkov.yaml")
# No network calls for Prisma Cloud's guidelines (skip-download in the config).
"$venv/bin/checkov" --config-file "$here/checkov.yaml" -d "$work/rendered"
