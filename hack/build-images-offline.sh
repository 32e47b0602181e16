#!/usr/bin/env bash
# Builds the app and operator images on a machine whose Docker cannot pull any image (no
# access to a container registry), by first making the base image locally: a Debian bookworm
# root filesystem with Python 3.11, from the Debian package archive apt already uses. The
# Dockerfiles then get it through --build-arg BASE_IMAGE. Dependencies still come from PyPI.
#
# Opt-in (not part of `make test`): needs root, debootstrap and Debian's docker.io
# (`apt-get install docker.io debootstrap`). Starts dockerd when none is running (without
# iptables rules or a bridge: builds use the host's network) and stops it again at the end.
# Afterwards it checks what it built (user, labels, no build tools) and runs both images
# against real services (hack/smoke-images.py; SKIP_SMOKE=1 skips that). The daemon and
# base-image steps are shared with hack/build-node-images.sh (in hack/lib/images.sh).
#
#   hack/build-images-offline.sh            # base image (once), then both images
#   TAG=dev hack/build-images-offline.sh    # image tag (default: the git short sha)
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="${TAG:-$(git rev-parse --short HEAD 2>/dev/null || echo dev)}"
WORK="${WORK:-$(mktemp -d /tmp/sf-images.XXXXXX)}"
mkdir -p "$WORK"
LOG_TAG=build-images
# shellcheck source=hack/lib/images.sh
source hack/lib/images.sh
images_require_host_tools

cleanup() {
  local status=$?
  images_stop_dockerd
  # Logs stay for a failed run.
  if [ "$status" -eq 0 ]; then rm -rf "$WORK"; else log "logs kept in $WORK"; fi
}
trap cleanup EXIT
images_lock
images_start_dockerd
images_ensure_base

# --- the images ----------------------------------------------------------------------------
mapfile -t project_args < <(images_project_build_args)
images_build "storefront-app:$TAG" "${project_args[@]}" --target runtime -f Dockerfile .
images_build "storefront-app:$TAG-dev" "${project_args[@]}" --target dev -f Dockerfile .
images_build "storefront-operator:$TAG" "${project_args[@]}" --target runtime -f operator/Dockerfile .

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
