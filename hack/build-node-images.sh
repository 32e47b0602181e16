#!/usr/bin/env bash
# Builds every image a local Kubernetes node needs to run Storefront, without pulling any
# image, and writes them into one `docker save` archive for the node's container runtime:
#
#   storefront-app:$TAG, storefront-app:$TAG-dev   the API (Dockerfile, targets runtime, dev)
#   storefront-operator:$TAG                        the operator (operator/Dockerfile)
#   storefront-postgresql:15, storefront-redis:7    the chart's development datastores (images/)
#   storefront-pause:3.10                           the pod sandbox, from Kubernetes's pause.c
#   storefront-traefik:$TRAEFIK_VERSION             the Ingress controller (charts/ingress-traefik)
#   storefront-app:$TAG-<name>                      each tests/e2e/images/<name>/Dockerfile
#
# Everything is FROM the Debian bookworm base that hack/lib/images.sh makes with debootstrap
# (the pause image's final stage is FROM scratch); packages come from Debian's archive and
# PyPI, pause.c from the k8s.io/kubernetes Go module at K8S_VERSION (hack/tools.env), the
# traefik binary from hack/build-tools.sh's ingress group (cached by TRAEFIK_VERSION).
#
# Needs root, debootstrap, Debian's docker.io and Go. Starts dockerd when none runs (no
# iptables rules, no bridge) and stops it at exit. Logs go to stderr; the last line of stdout
# is the archive's absolute path. The archive is kept in
# ${STOREFRONT_TOOLS_CACHE:-~/.cache/storefront-tools}/images/, named by a hash of the image
# IDs, and reused while they are unchanged (Docker's layer cache makes an unchanged rebuild fast).
#
#   hack/build-node-images.sh                 # TAG=local
#   TAG=dev hack/build-node-images.sh
#   hack/build-node-images.sh base            # only the Debian base image every image starts
#                                             # from (hack/setup.sh makes it beside the Go builds)
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="${TAG:-local}"
PAUSE_IMAGE="storefront-pause:3.10"
POSTGRES_IMAGE="storefront-postgresql:15"
REDIS_IMAGE="storefront-redis:7"
cache_root=${STOREFRONT_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/storefront-tools}
archive_dir="$cache_root/images"
WORK="$(mktemp -d /tmp/sf-node-images.XXXXXX)"
LOG_TAG=node-images
# shellcheck source=hack/lib/images.sh
source hack/lib/images.sh
# shellcheck source=hack/tools.env
source hack/tools.env
TRAEFIK_IMAGE="storefront-traefik:$TRAEFIK_VERSION"

cleanup() {
  local status=$?
  images_stop_dockerd
  if [ "$status" -eq 0 ]; then rm -rf "$WORK"; else log "logs kept in $WORK"; fi
}
trap cleanup EXIT

if [ "${1:-}" = base ]; then
  images_require_host_tools
  images_lock
  images_start_dockerd
  images_ensure_base
  exit 0
fi

e2e_names=()
for dockerfile in tests/e2e/images/*/Dockerfile; do
  [ -f "$dockerfile" ] || continue
  name=${dockerfile%/Dockerfile}; e2e_names+=("${name##*/}")
done
e2e_list=""
for name in "${e2e_names[@]}"; do e2e_list+=", storefront-app:$TAG-$name"; done
log "building storefront-app:$TAG(-dev), storefront-operator:$TAG, $POSTGRES_IMAGE, $REDIS_IMAGE," \
    "$PAUSE_IMAGE, $TRAEFIK_IMAGE$e2e_list into one archive; the first build (debootstrap, Debian packages, PyPI)" \
    "takes about 6 minutes on 2 cores, an unchanged rebuild about 15 s"

images_require_host_tools
command -v go >/dev/null || die "go is missing (pause.c comes from the k8s.io/kubernetes Go module)"
started=$SECONDS
images_lock
images_start_dockerd
images_ensure_base

# --- the project's images ------------------------------------------------------------------
mapfile -t project_args < <(images_project_build_args)
images_build "storefront-app:$TAG" "${project_args[@]}" --target runtime -f Dockerfile .
images_build "storefront-app:$TAG-dev" "${project_args[@]}" --target dev -f Dockerfile .
images_build "storefront-operator:$TAG" "${project_args[@]}" --target runtime -f operator/Dockerfile .

# --- the datastores ------------------------------------------------------------------------
images_build "$POSTGRES_IMAGE" --build-arg "BASE_IMAGE=$BASE_IMAGE" images/postgresql
images_build "$REDIS_IMAGE" --build-arg "BASE_IMAGE=$BASE_IMAGE" images/redis

# --- the pause image -----------------------------------------------------------------------
# pause.c from the k8s.io/kubernetes module the node's binaries are built from; its version
# string is the one Kubernetes's own Makefile gives the image (TAG in build/pause/Makefile).
k8s_dir=$(GOTOOLCHAIN=local go mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])') \
  || die "could not download k8s.io/kubernetes@$K8S_VERSION"
pause_src="$k8s_dir/build/pause/linux/pause.c"
[ -f "$pause_src" ] || die "no $pause_src in k8s.io/kubernetes@$K8S_VERSION"
pause_version=$(sed -n 's/^TAG ?= *//p' "$k8s_dir/build/pause/Makefile" | head -1)
mkdir -p "$WORK/pause"
cp "$pause_src" "$WORK/pause/pause.c"
chmod 0644 "$WORK/pause/pause.c"   # module files are read-only; the copy need not be
images_build "$PAUSE_IMAGE" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  --build-arg "PAUSE_VERSION=v${pause_version:-unknown}-k8s-$K8S_VERSION" \
  -f images/pause/Dockerfile "$WORK/pause"

# --- the Ingress controller ----------------------------------------------------------------
# Its binary from the tools cache: built there once per TRAEFIK_VERSION (`hack/setup.sh all`
# does it before any test), afterwards only linked.
tools_bin=$(hack/build-tools.sh ingress 2>"$WORK/build-tools.log" | tail -1) \
  || { tail_log "$WORK/build-tools.log"; die "building traefik $TRAEFIK_VERSION failed"; }
mkdir -p "$WORK/traefik"
cp "$(readlink -f "$tools_bin/traefik")" "$WORK/traefik/traefik"
chmod 0755 "$WORK/traefik/traefik"
images_build "$TRAEFIK_IMAGE" --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "TRAEFIK_VERSION=$TRAEFIK_VERSION" \
  -f images/traefik/Dockerfile "$WORK/traefik"

# --- test images ---------------------------------------------------------------------------
for name in "${e2e_names[@]}"; do
  images_build "storefront-app:$TAG-$name" --build-arg "APP_IMAGE=storefront-app:$TAG" \
    "tests/e2e/images/$name"
done

# --- the archive ---------------------------------------------------------------------------
images=("storefront-app:$TAG" "storefront-app:$TAG-dev" "storefront-operator:$TAG"
        "$POSTGRES_IMAGE" "$REDIS_IMAGE" "$PAUSE_IMAGE" "$TRAEFIK_IMAGE")
for name in "${e2e_names[@]}"; do images+=("storefront-app:$TAG-$name"); done
ids=""
for image in "${images[@]}"; do
  id=$(docker image inspect -f '{{.Id}}' "$image")
  ids+="$image $id"$'\n'
  log "$(printf '%-44s %s %6s MB' "$image" "${id#sha256:}" \
    "$(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f", $1/1e6}')" | cut -c1-120)"
done
key=$(printf '%s' "$ids" | sort | sha256sum | cut -c1-16)
archive="$archive_dir/node-images-$key.tar"
mkdir -p "$archive_dir"
if [ -s "$archive" ]; then
  log "the images are unchanged: reusing $archive"
else
  log "writing ${#images[@]} images to $archive"
  docker save -o "$archive.partial" "${images[@]}" 2>"$WORK/save.log" \
    || { tail_log "$WORK/save.log"; rm -f "$archive.partial"; die "docker save failed"; }
  mv "$archive.partial" "$archive"
  printf '%s' "$ids" >"$archive_dir/node-images-$key.images"
fi
# Only the current archive stays: they are large.
# Keep the three newest archives: a run from another checkout may be about to import its own.
touch "$archive" "$archive_dir/node-images-$key.images"
ls -1t "$archive_dir"/node-images-*.tar 2>/dev/null | tail -n +4 | while read -r old; do
  rm -f "$old" "${old%.tar}.images"
  echo "[node-images] removed the older $old" >&2
done
log "done in $((SECONDS - started)) s: $(du -h "$archive" | cut -f1) archive"
echo "$archive"
