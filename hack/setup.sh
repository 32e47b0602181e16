#!/usr/bin/env bash
# Sets up a fresh Debian machine (or refreshes an existing checkout) for running and
# testing the platform: Debian packages, the locked Python environment and, for the targets
# that need Kubernetes, the binaries built from their Go modules. Safe to run again: each
# step skips what is already in place. The Go builds (CPU) run beside the package installs and
# the node images' Debian base (mostly downloads).
#
#   hack/setup.sh                      # the API alone (make run): no Go build at all
#   hack/setup.sh control-plane helm   # plus those groups of hack/build-tools.sh
#   hack/setup.sh all                  # every group but promtool, and the node's runtime packages
#   hack/setup.sh ... promtool         # plus promtool (make test-fast; make test builds it beside its run)
#   hack/setup.sh ... prometheus       # plus the Prometheus server (for the suite, like jaeger)
#   hack/setup.sh ... jaeger           # plus Jaeger, the suite's trace backend (`make test` builds
#                                      # these three beside its run: tests/conftest.py)
#   hack/setup.sh ... browser          # plus Debian's chromium: the test that renders /docs
#                                      # (make test, make test-fast; ~115 MB download, ~360 MB installed)
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
log() { printf '[setup] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

groups=()
with_browser=0
for g in "$@"; do
  case "$g" in
    all) groups+=(control-plane node ingress helm kind skaffold registry) ;;  # not promtool, prometheus, jaeger
    browser) with_browser=1 ;;  # a Debian package, not a group of hack/build-tools.sh
    *) groups+=("$g") ;;
  esac
done
with_node=0
for g in "${groups[@]}"; do [ "$g" = node ] && with_node=1; done

# The Go builds take longest and need nothing from apt or the Python environment: they start
# first and run beside the rest (their log lines go to stderr). A failed step stops them.
tools_pid=""
base_pid=""
stop_background() {
  local pid
  for pid in $tools_pid $base_pid; do
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap stop_background EXIT
if [ ${#groups[@]} -gt 0 ]; then
  hack/install-go.sh
  hash -r
  log "building (or reusing) the Kubernetes binaries: ${groups[*]} (a fresh machine: about 9 minutes for the control plane and helm, 22 for all of them, on two idle cores; cached afterwards)"
  hack/build-tools.sh "${groups[@]}" >/dev/null &
  tools_pid=$!
fi

missing=()
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v wrk >/dev/null || missing+=(wrk)  # load generator of `make bench`
if [ "$with_node" = 1 ]; then
  # The node: container runtime, CNI plugins, kube-proxy's iptables and conntrack, and what
  # builds its images offline (Docker's engine, debootstrap for the Debian base).
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
fi
if [ "$with_browser" = 1 ]; then
  command -v chromium >/dev/null || missing+=(chromium)  # headless, loopback only (tests/app/core/test_docs_offline.py)
fi
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The Debian base image of the node's images (debootstrap: mostly downloading and unpacking),
# beside the Go builds too; the images themselves are built when a run first needs them.
if [ "$with_node" = 1 ] && [ "$(id -u)" -eq 0 ]; then
  hack/build-node-images.sh base &
  base_pid=$!
fi

if ! command -v uv >/dev/null || [ "$(uv --version | awk '{print $2}')" != "$UV_VERSION" ]; then
  log "installing uv $UV_VERSION"
  python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

log "syncing the Python environment from uv.lock"
uv sync --frozen --quiet

if [ -n "$base_pid" ]; then
  wait "$base_pid" || { base_pid=""; log "error: the node images' base image could not be built"; exit 1; }
  base_pid=""
fi
if [ -n "$tools_pid" ]; then
  wait "$tools_pid" || { tools_pid=""; log "error: building the Kubernetes binaries failed (its log is above)"; exit 1; }
  tools_pid=""
fi
log "ready"
