#!/usr/bin/env bash
# Prints the path of Debian's kubectl 1.20 (package kubernetes-client), unpacked into a directory of
# its own: the oldest kustomize the manifests must render with (v2.0.x, embedded in kubectl 1.20).
# Unpacked rather than installed, because a machine may already have another kubectl at
# /usr/bin/kubectl (a different package owning the same file: dpkg refuses to install over it).
#   export KUBECTL=$(bash deploy/kubernetes/ci/kubectl-1.20.sh)
set -euo pipefail
dir=${PUR_KUBECTL_DIR:-/var/cache/pur-kubectl}
kubectl="$dir/root/usr/bin/kubectl"
if ! [ -x "$kubectl" ]; then
  mkdir -p "$dir/deb"
  cd "$dir/deb"
  rm -f kubernetes-client_*.deb
  # apt-get download needs the package lists; refresh them once if the package is not known yet.
  apt-get download kubernetes-client >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get download kubernetes-client >/dev/null 2>&1; }
  rm -rf "$dir/root"
  dpkg-deb -x kubernetes-client_*.deb "$dir/root"
fi
version=$("$kubectl" version --client --short 2>/dev/null || "$kubectl" version --client)
case "$version" in
  *v1.20.*) ;;
  *) echo "kubectl-1.20.sh: $kubectl is not kubectl 1.20 ($version)" >&2; exit 1 ;;
esac
echo "$kubectl"
