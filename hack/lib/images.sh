# Shared by the image build scripts (hack/build-images-offline.sh, hack/build-node-images.sh);
# sourced, not run. Builds on a machine whose Docker cannot pull any image: the Docker daemon
# is started here when none runs, and the base image is made locally with debootstrap.
#
# The caller sets, before calling anything:
#   LOG_TAG     prefix of the log lines, e.g. "build-images"
#   WORK        an existing directory for logs and scratch files
#   BASE_IMAGE  the base image's name (default below)
# and calls images_stop_dockerd from its EXIT trap.

BASE_IMAGE="${BASE_IMAGE:-storefront-base:python3.11-bookworm}"

log() { printf '[%s] %s\n' "${LOG_TAG:-images}" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# The last lines of a log, to stderr, framed so they stand out from the script's own lines.
tail_log() {  # FILE [LINES]
  [ -f "$1" ] || return 0
  printf -- '--- last %s lines of %s ---\n' "${2:-30}" "$1" >&2
  tail -n "${2:-30}" "$1" >&2
  printf -- '---\n' >&2
}

images_require_host_tools() {
  [ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and dockerd need it)"
  command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
  command -v dockerd >/dev/null || die "dockerd is missing: apt-get install docker.io"
}

# One image script at a time: they share the daemon, and the one that started it stops it at
# exit, which would break another's build. The lock goes with the process (flock on fd 9).
images_lock() {
  local lock=/run/lock/storefront-images.lock
  mkdir -p "${lock%/*}"
  exec 9>"$lock"
  if ! flock -n 9; then
    log "waiting for another image build to finish (lock $lock)"
    flock -w 3600 9 || die "another image build held $lock for an hour"
  fi
}

# --- the Docker daemon ---------------------------------------------------------------------
# Started only when no daemon answers, and then without any host networking of its own: no
# iptables or ip6tables rules (the FORWARD policy stays as it is), no change to ip_forward and no
# docker0 bridge, since a Kubernetes node with its own bridge may run on the same machine. Hence
# every build and run here uses --network host or --network none.
IMAGES_STARTED_DOCKERD=""
images_start_dockerd() {
  if docker info >/dev/null 2>&1; then
    log "using the running Docker daemon"
    return 0
  fi
  local dlog="$WORK/dockerd.log"
  log "starting dockerd (log: $dlog)"
  dockerd --iptables=false --ip6tables=false --ip-forward=false --bridge=none >"$dlog" 2>&1 9>&- &
  IMAGES_STARTED_DOCKERD=$!
  local _
  for _ in $(seq 120); do
    docker info >/dev/null 2>&1 && { log "dockerd is up (pid $IMAGES_STARTED_DOCKERD)"; return 0; }
    if ! kill -0 "$IMAGES_STARTED_DOCKERD" 2>/dev/null; then
      IMAGES_STARTED_DOCKERD=""
      tail_log "$dlog"; die "dockerd exited during start-up"
    fi
    sleep 0.5
  done
  tail_log "$dlog"; die "dockerd did not answer within 60 s"
}

images_stop_dockerd() {
  local pid=$IMAGES_STARTED_DOCKERD
  [ -n "$pid" ] || return 0
  IMAGES_STARTED_DOCKERD=""
  log "stopping the dockerd this script started (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || return 0
  local _
  for _ in $(seq 60); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.5
  done
  log "dockerd did not stop within 30 s; killing it"
  tail_log "$WORK/dockerd.log" 10
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# --- the base image ------------------------------------------------------------------------
images_debian_mirror() {
  # The archive apt is configured with (deb822 or one-line sources), so no host is named here.
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1)
  [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -1)
  [ -n "$uri" ] || die "no Debian archive found in apt's sources"
  echo "$uri"
}

# A Debian bookworm root filesystem with Python 3.11 (minbase + python3, python3-venv,
# ca-certificates) imported as $BASE_IMAGE; kept once made. Its apt sources point at the
# archive this machine uses, so Dockerfiles FROM it can apt-get install with --network host.
images_ensure_base() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "base image $BASE_IMAGE exists"
  else
    local mirror rootfs="$WORK/rootfs"
    mirror=$(images_debian_mirror)
    log "debootstrap bookworm (minbase + python3, python3-venv, ca-certificates) into $rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
      || { tail_log "$WORK/debootstrap.log"; die "debootstrap failed"; }
    # A slim image: no apt lists, docs, man pages or caches.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/doc/* \
           "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*
    local extra_env=() host_ca
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
  docker run --rm --network none "$BASE_IMAGE" \
    python3 -c 'import sys, venv; assert sys.version_info[:2] == (3, 11), sys.version' \
    || die "$BASE_IMAGE has no Python 3.11"
}

# --- builds --------------------------------------------------------------------------------
# BuildKit needs the buildx plugin with current docker CLIs; without it, the classic builder
# builds the same Dockerfiles (they use no BuildKit-only syntax).
images_buildkit() { if docker buildx version >/dev/null 2>&1; then echo 1; else echo 0; fi; }

# Build arguments of the project's own images (app, operator). BUILD_DATE is the commit's
# time, not the clock's, so an unchanged tree rebuilds to the same image ID from the cache.
images_project_build_args() {
  printf '%s\n' \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --build-arg "STOREFRONT_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)" \
    --build-arg "STOREFRONT_GIT_SHA=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    --build-arg "BUILD_DATE=$(TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd 2>/dev/null || echo unknown)"
}

# images_build IMAGE [docker build arguments...]: builds with the host's network (there is no
# bridge), logging to $WORK/build-<image>.log and showing its tail when the build fails.
images_build() {
  local image=$1; shift
  local blog="$WORK/build-${image//[:\/]/_}.log" started=$SECONDS
  : "${IMAGES_BUILDKIT:=$(images_buildkit)}"
  log "building $image"
  DOCKER_BUILDKIT=$IMAGES_BUILDKIT docker build --network host -t "$image" "$@" >"$blog" 2>&1 \
    || { tail_log "$blog"; die "building $image failed (log: $blog)"; }
  log "built $image in $((SECONDS - started)) s"
}
