#!/usr/bin/env bash
# Sets up a fresh Debian machine (or refreshes an existing checkout) for running and
# testing the platform: Debian packages, the locked Python environment, and the
# Kubernetes binaries built from their Go modules. Safe to run again: each step skips
# what is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
log() { printf '[setup] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v wrk >/dev/null || missing+=(wrk)  # load generator of `make bench`
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v uv >/dev/null || [ "$(uv --version | awk '{print $2}')" != "$UV_VERSION" ]; then
  log "installing uv $UV_VERSION"
  python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

log "syncing the Python environment from uv.lock"
uv sync --frozen --quiet

command -v go >/dev/null || { log "Go is required to build the Kubernetes binaries"; exit 1; }
log "building (or reusing) the Kubernetes binaries"
hack/build-tools.sh >/dev/null
log "ready"
