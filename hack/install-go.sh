#!/usr/bin/env bash
# Makes a Go toolchain new enough for hack/build-tools.sh available as `go`, when the machine has
# none or an older one (Debian 12's golang-go is 1.19). The Go module proxy serves every Go
# release as the module golang.org/toolchain, which even Debian's old `go` can download: that is
# the only thing it is used for. The toolchain is unpacked into the tools cache and linked into
# GO_LINK_DIR (default /usr/local/bin).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/tools.env
source "$here/tools.env"

cache_root=${STOREFRONT_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/storefront-tools}
link_dir=${GO_LINK_DIR:-/usr/local/bin}
log() { printf '[install-go] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ] || [ -w "$link_dir" ]; then "$@"; else sudo "$@"; fi; }

# True when `go` on PATH is at least GO_MIN_VERSION.
go_is_recent() {
  command -v go >/dev/null || return 1
  local have; have=$(go env GOVERSION 2>/dev/null | sed 's/^go//') || return 1
  [ "$(printf '%s\n%s\n' "$GO_MIN_VERSION" "$have" | sort -V | head -1)" = "$GO_MIN_VERSION" ]
}

if go_is_recent; then exit 0; fi

target="$cache_root/go-$GO_VERSION"
if [ ! -x "$target/bin/go" ]; then
  bootstrap=$(command -v go || true)
  if [ -z "$bootstrap" ]; then
    log "installing Debian's golang-go, only to download Go $GO_VERSION with it"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends golang-go >/dev/null
    bootstrap=/usr/lib/go/bin/go
  fi
  case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
  module="golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-$arch"
  log "downloading Go $GO_VERSION ($module, about 70 MB)"
  work=$(mktemp -d)
  # The module cache is read-only: make it removable before removing it.
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
  printf 'module bootstrap\n\ngo 1.19\n' > "$work/go.mod"
  dir=$(cd "$work" && GOPATH="$work/gopath" GOTOOLCHAIN=local GOFLAGS=-mod=mod "$bootstrap" mod download -json "$module" \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error", "no Dir")))')
  mkdir -p "$cache_root"
  rm -rf "$target.tmp"
  cp -r "$dir" "$target.tmp"
  chmod -R u+w "$target.tmp"
  # Module zips carry no file modes: the toolchain's programs need their exec bits back.
  chmod +x "$target.tmp"/bin/* "$target.tmp"/pkg/tool/*/*
  mv "$target.tmp" "$target"
fi
as_root mkdir -p "$link_dir"
as_root ln -sfn "$target/bin/go" "$link_dir/go"
as_root ln -sfn "$target/bin/gofmt" "$link_dir/gofmt"
log "Go $("$target/bin/go" env GOVERSION) linked into $link_dir"
