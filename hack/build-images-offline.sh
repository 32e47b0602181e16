#!/usr/bin/env bash
# Builds the app and operator images on a machine whose Docker cannot pull any image (no
# access to a container registry), by first making the base image locally: a Debian bookworm
# root filesystem with Python 3.11, from the Debian package archive apt already uses. The
# Dockerfiles then get it through --build-arg BASE_IMAGE. Dependencies still come from PyPI.
#
# Opt-in (not part of `make test`): needs root, debootstrap and Debian's docker.io
# (`apt-get install docker.io debootstrap`). Starts dockerd when none is running and stops it
# again at the end. Afterwards it checks what it built (user, labels, no build tools) and runs
# both images against real services (hack/smoke-images.py; SKIP_SMOKE=1 skips that).
#
#   hack/build-images-offline.sh            # base image (once), then both images
#   TAG=dev hack/build-images-offline.sh    # image tag (default: the git short sha)
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE="${BASE_IMAGE:-storefront-base:python3.11-bookworm}"
TAG="${TAG:-$(git rev-parse --short HEAD 2>/dev/null || echo dev)}"
WORK="${WORK:-$(mktemp -d /tmp/sf-images.XXXXXX)}"
mkdir -p "$WORK"
log() { printf '[build-images] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and dockerd need it)"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
command -v dockerd >/dev/null || die "dockerd is missing: apt-get install docker.io"

# --- the Docker daemon ---------------------------------------------------------------------
started_dockerd=""
cleanup() {
  local status=$?
  if [ -n "$started_dockerd" ]; then
    log "stopping the dockerd this script started (pid $started_dockerd)"
    kill "$started_dockerd" 2>/dev/null || true
    wait "$started_dockerd" 2>/dev/null || true
  fi
  # Logs stay for a failed run.
  if [ "$status" -eq 0 ]; then rm -rf "$WORK"; else log "logs kept in $WORK"; fi
}
trap cleanup EXIT
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: $WORK/dockerd.log)"
  dockerd >"$WORK/dockerd.log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 "$WORK/dockerd.log" >&2; die "dockerd did not start"; }
fi

# --- the base image ------------------------------------------------------------------------
debian_mirror() {
  # The archive apt is configured with (deb822 or one-line sources), so no host is named here.
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1)
  [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -1)
  [ -n "$uri" ] || die "no Debian archive found in apt's sources"
  echo "$uri"
}

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "base image $BASE_IMAGE exists"
else
  mirror=$(debian_mirror)
  rootfs="$WORK/rootfs"
  log "debootstrap bookworm (minbase + python3, python3-venv, ca-certificates) into $rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
  # A slim image: no apt lists, docs, man pages or caches.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/doc/* \
         "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*
  extra_env=()
  # Builds reach PyPI through this machine's network; when it relies on a CA of its own
  # (pip's `cert` setting), the builds inside Docker must trust it too.
  host_ca="${EXTRA_CA_BUNDLE:-${PIP_CERT:-$(pip config get global.cert 2>/dev/null || true)}}"
  if [ -n "$host_ca" ] && [ -f "$host_ca" ]; then
    log "trusting the CA bundle $host_ca inside the base image"
    cp "$host_ca" "$rootfs/etc/ssl/certs/ca-certificates.crt"
    extra_env=(--change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
               --change "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt")
  fi
  log "importing $rootfs as $BASE_IMAGE"
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "${extra_env[@]}" \
    --change 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
fi
docker run --rm "$BASE_IMAGE" python3 -c 'import sys, venv; assert sys.version_info[:2] == (3, 11), sys.version'

# --- the images ----------------------------------------------------------------------------
# BuildKit needs the buildx plugin with current docker CLIs; without it, the classic builder
# builds the same Dockerfiles (they use no BuildKit-only syntax).
if docker buildx version >/dev/null 2>&1; then buildkit=1; else buildkit=0; fi
build() {  # build TAG DOCKERFILE [TARGET]
  local image=$1 dockerfile=$2 target=${3:-runtime}
  log "building $image from $dockerfile (target $target, BuildKit=$buildkit)"
  DOCKER_BUILDKIT=$buildkit docker build --network host \
    --build-arg BASE_IMAGE="$BASE_IMAGE" \
    --build-arg STOREFRONT_VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)" \
    --build-arg STOREFRONT_GIT_SHA="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    --build-arg BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --target "$target" -f "$dockerfile" -t "$image" . >"$WORK/build-${image//[:\/]/_}.log" 2>&1 \
    || { tail -30 "$WORK/build-${image//[:\/]/_}.log" >&2; die "building $image failed"; }
}
build "storefront-app:$TAG" Dockerfile
build "storefront-app:$TAG-dev" Dockerfile dev
build "storefront-operator:$TAG" operator/Dockerfile

# --- what was built ------------------------------------------------------------------------
check() {  # check IMAGE PYTHON-STATEMENT
  local image=$1 code=$2
  [ "$(docker image inspect -f '{{.Config.User}}' "$image")" = "10001:10001" ] || die "$image: not user 10001"
  [ "$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$image")" != "" ] \
    || die "$image: no OCI revision label"
  [ "$(docker image inspect -f '{{.Config.Healthcheck}}' "$image")" = "<nil>" ] || die "$image: has a HEALTHCHECK"
  # As Kubernetes runs it: read-only root, a tmpfs at /tmp, no capabilities.
  docker run --rm --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
    --network none "$image" python -c "$code" || die "$image: import check failed"
  if docker run --rm --network none "$image" sh -c 'command -v uv || command -v gcc || command -v cc' >/dev/null; then
    die "$image: a build tool is in the final image"
  fi
  log "$image: $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'), user 10001, checks passed"
}
check "storefront-app:$TAG" 'import os, app.main, uvicorn, asyncpg, sqlalchemy; assert os.getcwd() == "/app"; assert os.getuid() == 10001'
check "storefront-operator:$TAG" 'import os, kopf, storefront_operator.settings; assert os.getuid() == 10001'
if [ "${SKIP_SMOKE:-}" != "1" ]; then
  # Against real PostgreSQL, Redis and a Kubernetes API server (the test harness's).
  PY="${PYTHON:-.venv/bin/python}"
  "$PY" hack/smoke-images.py "storefront-app:$TAG" "storefront-operator:$TAG" || die "smoke run failed"
fi
log "done: storefront-app:$TAG, storefront-app:$TAG-dev, storefront-operator:$TAG (base $BASE_IMAGE)"
log "load them into kind with: kind load docker-image storefront-app:$TAG storefront-operator:$TAG --name storefront"
