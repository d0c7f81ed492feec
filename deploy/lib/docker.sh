# Sourced by the image build scripts. Docker CLI 23+ needs the buildx plugin for BuildKit; older
# clients (Debian's docker.io 20.10) have it built in. Prints the first client that can do BuildKit
# builds (DOCKER first if set), or fails.
pick_docker() {
  local c v
  for c in ${DOCKER:-docker} /usr/bin/docker; do
    command -v "$c" >/dev/null 2>&1 || continue
    if "$c" buildx version >/dev/null 2>&1; then echo "$c"; return; fi
    v=$("$c" version --format '{{.Client.Version}}' 2>/dev/null || true)
    if [ -n "$v" ] && [ "${v%%.*}" -lt 23 ]; then echo "$c"; return; fi
  done
  return 1
}
