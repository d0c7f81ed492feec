#!/usr/bin/env bash
# Builds, from Debian packages only, local stand-ins for the images a machine without an image
# registry cannot pull: a Debian base, python:3.11-slim, rabbitmq:*-management, postgres:* and a
# mail catcher. An image that already exists is skipped (a second run takes seconds);
# `--force` rebuilds. Names given as arguments build only those (plus what they need).
#
#   deploy/local-images/build.sh [--force] [debian|python|rabbitmq|postgres|mailsink ...]
#
# Needs: root (debootstrap), debootstrap, a Docker engine, and a docker client that can use
# BuildKit (for the mail sink's pip certificate secret). Compose and the test harness pick the
# images up through RABBITMQ_IMAGE / POSTGRES_IMAGE / PUR_TEST_*_IMAGE / PYTHON_IMAGE.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
prefix=${PUR_LOCAL_PREFIX:-pur-local}
suite=bookworm
force=0
wanted=()
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    debian|python|rabbitmq|postgres|mailsink) wanted+=("$arg") ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

BASE_IMAGE=$prefix/debian:$suite
PYTHON_IMAGE=$prefix/python:3.11-slim
RABBITMQ_IMAGE=$prefix/rabbitmq:3.10-management
POSTGRES_IMAGE=$prefix/postgres:15
MAILSINK_IMAGE=$prefix/mailsink:latest

die() { echo "build.sh: $*" >&2; exit 1; }

# shellcheck source=deploy/lib/docker.sh
. "$repo/deploy/lib/docker.sh"
DOCKER=$(pick_docker) || die "no docker client with BuildKit (install the buildx plugin, or Debian's docker.io client)"
"$DOCKER" info >/dev/null 2>&1 || die "the Docker engine does not answer ($DOCKER info failed; is dockerd running, DOCKER_HOST right?)"
export DOCKER_BUILDKIT=1

exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

want() {
  [ ${#wanted[@]} -eq 0 ] && return 0
  local w; for w in "${wanted[@]}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}

# --force rebuilds the images named on the command line (all when none is), not what they need.
explicit=("${wanted[@]}")
forced() {
  [ "$force" = 1 ] || return 1
  [ ${#explicit[@]} -eq 0 ] && return 0
  local w; for w in "${explicit[@]}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}

# step NAME IMAGE FUNCTION: build IMAGE with FUNCTION unless it exists; print the duration.
total_start=$SECONDS
step() {
  local name=$1 image=$2 fn=$3 start=$SECONDS
  if exists "$image" && ! forced "$name"; then
    echo "==> $name: $image exists, skipped"
    return
  fi
  local old
  old=$("$DOCKER" image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  echo "==> $name: building $image"
  "$fn" "$image"
  echo "==> $name: $image built in $((SECONDS - start)) s"
  # a rebuild leaves the previous image untagged: drop it unless a container still uses it
  if [ -n "$old" ] && [ "$old" != "$("$DOCKER" image inspect -f '{{.Id}}' "$image")" ]; then
    "$DOCKER" image rm "$old" >/dev/null 2>&1 || true
  fi
}

# The mirror this machine's apt uses (deb822 first, then the one-line format).
debian_mirror() {
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

build_debian() {
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  [ "$(id -u)" = 0 ] || die "debootstrap needs root"
  local root mirror
  root=$(mktemp -d /var/tmp/pur-debootstrap.XXXXXX)
  # shellcheck disable=SC2064  # expand $root now: the trap outlives this function's locals
  trap "rm -rf '$root'" EXIT
  mirror=$(debian_mirror)
  echo "    debootstrap --variant=minbase $suite from $mirror"
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 \
    || { tail -n 30 "$root.log" >&2; rm -f "$root.log"; die "debootstrap failed"; }
  rm -f "$root.log"

  # apt inside builds uses this machine's sources (same mirror, plus updates and security).
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/debian.sources"
    rm -f "$root/etc/apt/sources.list"
  elif [ -f /etc/apt/sources.list ]; then
    cp /etc/apt/sources.list "$root/etc/apt/sources.list"
  fi
  # What Debian's own container images do: package scripts must not start services while an
  # image is built, apt keeps no caches, and (the "slim" variant) no docs, man pages or locales.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
EOF
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  find "$root/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
  rm -rf "$root"/usr/share/{info,locale,man}/* "$root"/var/cache/apt/*.bin \
    "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
  : >"$root/etc/resolv.conf"   # Docker provides it at run time; not this machine's
  : >"$root/etc/machine-id"
  echo "$suite" >"$root/etc/hostname"

  tar -C "$root" --numeric-owner -c . | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase $suite" - "$1" >/dev/null
  rm -rf "$root"
  trap - EXIT
}

# docker build for DIR under deploy/local-images (context = that directory unless given).
# --network host: apt inside the build reaches the mirror the way this machine does.
build_dir() {
  local image=$1 dir=$2; shift 2
  "$DOCKER" build --network host --progress plain -t "$image" \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" \
    -f "$here/$dir/Dockerfile" "$@" >"/var/tmp/pur-build-$dir.log" 2>&1 \
    || { tail -n 40 "/var/tmp/pur-build-$dir.log" >&2; die "docker build of $image failed (log: /var/tmp/pur-build-$dir.log)"; }
  rm -f "/var/tmp/pur-build-$dir.log"
}

build_python() { build_dir "$1" python "$here/python"; }
build_rabbitmq() { build_dir "$1" rabbitmq "$here/rabbitmq"; }
build_postgres() { build_dir "$1" postgres "$here/postgres"; }
build_mailsink() {
  # The repository is the context (libs/kit); the ignore file next to the Dockerfile keeps it
  # to what the image needs. pip reaches PyPI through an intercepting proxy here, so its CA
  # bundle is lent to the build as a secret (never stored in a layer); elsewhere set
  # PIP_CERT_FILE= (empty) to build without it.
  local cert=${PIP_CERT_FILE-/etc/ssl/certs/ca-certificates.crt} secret=()
  [ -n "$cert" ] && [ -f "$cert" ] && secret=(--secret "id=pip_cert,src=$cert")
  build_dir "$1" mailsink "${secret[@]}" "$repo"
}

# What depends on what: every image starts from the base; the mail sink from the Python image.
if want mailsink && [ ${#wanted[@]} -gt 0 ] && ! want python; then wanted+=(python); fi
if [ ${#wanted[@]} -gt 0 ] && ! want debian; then wanted+=(debian); fi

# The Python runtime first: the services' images are built on it.
want debian && step debian "$BASE_IMAGE" build_debian
want python && step python "$PYTHON_IMAGE" build_python
want rabbitmq && step rabbitmq "$RABBITMQ_IMAGE" build_rabbitmq
want postgres && step postgres "$POSTGRES_IMAGE" build_postgres
want mailsink && step mailsink "$MAILSINK_IMAGE" build_mailsink

echo "==> done in $((SECONDS - total_start)) s"
"$DOCKER" image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep "^$prefix/" | sort || true
