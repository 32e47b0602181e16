#!/usr/bin/env bash
# Builds the Kubernetes tooling from Go modules at the versions pinned in hack/tools.env,
# into a cache outside the repository keyed by version. A tool already in the cache is not
# rebuilt. Arguments name the groups to build (default: all of them):
#   control-plane  etcd, kube-apiserver, kube-controller-manager, kubectl
#   node           kube-scheduler, kubelet, kube-proxy, CoreDNS, metrics-server
#   ingress        Traefik, the Ingress controller of the node's image (charts/ingress-traefik),
#                  without ACME's DNS-01 providers
#   helm, kind
#   skaffold       the developer loop's skaffold (a large module: about 5 minutes to build on two cores)
#   registry       the CNCF registry (distribution, local storage only), which the developer loop
#                  pushes to on loopback
#   promtool       Prometheus's rule checker and unit tester (not in the default set: only the
#                  test suite needs it; built without service discovery: about 2½ minutes on two
#                  cores with a cold Go build cache, cached afterwards)
#   prometheus     the Prometheus server from the same module, without its web UI's assets (only
#                  the test suite needs it: it scrapes the app, worker and operator and answers
#                  the dashboards' queries; it shares promtool's module and Go build cache:
#                  1½ minutes once promtool is built)
#   jaeger         Jaeger's all-in-one (cmd/jaeger) with the collector components the test suite
#                  uses, the trace backend it sends one order's spans to over OTLP and queries
#                  back (only the test suite needs it; about 3 minutes on two idle cores from a
#                  cold Go build cache)
#
# Prints the cache's bin directory on the last line of stdout.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/tools.env
source "$here/tools.env"

export GOTOOLCHAIN=local
export CGO_ENABLED=0
cache_root=${STOREFRONT_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/storefront-tools}
mkdir -p "$cache_root"

log() { printf '[build-tools] %s\n' "$*" >&2; }

# Every build: paths trimmed, and no DWARF from the compiler either (the linker's -s -w drops
# it from the binaries anyway): about a tenth less compile time on a cold Go build cache.
GO_BUILD_FLAGS=(-trimpath "-gcflags=all=-dwarf=false")

# A tool lives in $cache_root/<name>-<version>/<name>; bin/ holds symlinks to the current set.
have() { [ -x "$cache_root/$1-$2/$1" ]; }

link_bin() {
  mkdir -p "$cache_root/bin"
  ln -sfn "$cache_root/$1-$2/$1" "$cache_root/bin/$1"
}

# Builds Go main packages from a module whose go.mod carries replace directives, which
# `go install pkg@version` refuses, or a main package of our own over a module's packages
# (MAIN_GO, built as OUT_NAME): a throw-away wrapper module requires the module instead.
build_wrapped() {  # module version outdir ldflags pkg...
  local module=$1 version=$2 outdir=$3 ldflags=$4; shift 4
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  (
    cd "$work"
    printf 'module storefront.local/toolbuild\n\ngo 1.25.0\n\nrequire %s %s\n' "$module" "$version" > go.mod
    if [ -n "${STAGING_VERSION:-}" ]; then
      # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with
      # ./staging paths; point each at its published release instead.
      go mod download -json "$module@$version" > dl.json
      local gomod; gomod=$(python3 -c 'import json,sys; print(json.load(open("dl.json"))["GoMod"])')
      grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$gomod" | awk '{print $1}' | sort -u | while read -r m; do
        printf 'replace %s => %s %s\n' "$m" "$m" "$STAGING_VERSION" >> go.mod
      done
    fi
    if [ -n "${COPY_REPLACES:-}" ]; then
      # replace and exclude directives act only in the main module: carry the module's own.
      go mod download -json "$module@$version" > dl.json
      python3 - "$(python3 -c 'import json; print(json.load(open("dl.json"))["GoMod"])')" >> go.mod <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for kind in ("replace", "exclude"):
    for block in re.findall(rf"^{kind}\s*\((.*?)^\)", text, re.M | re.S):
        for line in block.splitlines():
            line = line.split("//")[0].strip()
            if line and not line.split("=>")[-1].strip().startswith("."):
                print(f"{kind} {line}")
    for line in re.findall(rf"^{kind}\s+([^(\s].*)$", text, re.M):
        line = line.split("//")[0].strip()
        if not line.split("=>")[-1].strip().startswith("."):
            print(f"{kind} {line}")
PY
    fi
    # A main package of our own (MAIN_GO): the module's program with fewer of its plugins.
    [ -z "${MAIN_GO:-}" ] || printf '%s\n' "$MAIN_GO" > main.go
    for pkg in "$@"; do
      local name=${OUT_NAME:-${pkg##*/}}
      log "building $name ($module $version)"
      local started=$SECONDS
      mkdir -p "$outdir/$name-$version"
      GOFLAGS=-mod=mod go build "${GO_BUILD_FLAGS[@]}" ${BUILD_TAGS:+-tags "$BUILD_TAGS"} -ldflags "$ldflags" -o "$outdir/$name-$version/$name.tmp" "$pkg"
      mv "$outdir/$name-$version/$name.tmp" "$outdir/$name-$version/$name"
      log "built $name in $((SECONDS - started))s"
    done
  )
}

k8s_ldflags() {
  local v=$1 minor
  minor=$(echo "$v" | cut -d. -f2)
  echo "-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$v"
}

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(control-plane node ingress helm kind skaffold registry)
wants() { local g; for g in "${groups[@]}"; do [ "$g" = "$1" ] && return 0; done; return 1; }
for g in "${groups[@]}"; do
  case "$g" in control-plane|node|ingress|helm|kind|skaffold|registry|promtool|prometheus|jaeger) ;; *) log "unknown group: $g"; exit 2 ;; esac
done

k8s_tools=()
wants control-plane && k8s_tools+=(kube-apiserver kube-controller-manager kubectl)
wants node && k8s_tools+=(kube-scheduler kubelet kube-proxy)
want_k8s=()
for t in "${k8s_tools[@]}"; do
  have "$t" "$K8S_VERSION" || want_k8s+=("k8s.io/kubernetes/cmd/$t")
done
if [ ${#want_k8s[@]} -gt 0 ]; then
  log "building ${#want_k8s[@]} Kubernetes binaries from k8s.io/kubernetes $K8S_VERSION (a few minutes each on two cores when the Go build cache is cold, seconds once warm)"
  STAGING_VERSION="v0.${K8S_VERSION#v1.}" build_wrapped k8s.io/kubernetes "$K8S_VERSION" "$cache_root" \
    "$(k8s_ldflags "$K8S_VERSION")" "${want_k8s[@]}"
fi

if wants control-plane && ! have etcd "$ETCD_VERSION"; then
  # The server module's main package is its root; its binary is named after the module path.
  build_wrapped go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$cache_root/.etcd-build" "-s -w" go.etcd.io/etcd/server/v3
  mkdir -p "$cache_root/etcd-$ETCD_VERSION"
  mv "$cache_root/.etcd-build/v3-$ETCD_VERSION/v3" "$cache_root/etcd-$ETCD_VERSION/etcd"
  rm -rf "$cache_root/.etcd-build"
fi

go_install() {  # name pkg version [ldflags] [tags]
  local name=$1 pkg=$2 version=$3 ldflags=${4:-} tags=${5:-}
  have "$name" "$version" && return 0
  log "installing $name $version"
  local started=$SECONDS
  GOBIN="$cache_root/$name-$version" go install "${GO_BUILD_FLAGS[@]}" ${tags:+-tags "$tags"} -ldflags "-s -w $ldflags" "$pkg@$version"
  log "built $name in $((SECONDS - started))s"
}
# Like helm's own release build: stamp its version and the Kubernetes version it assumes when
# rendering without a cluster (derived from the client-go it is built with), not the v1.20 fallback.
helm_ldflags() {
  local gomod minor
  gomod=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  minor=$(awk '$1 == "k8s.io/client-go" {print $2}' "$gomod" | cut -d. -f2)
  echo "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
}
if wants helm && ! have helm "$HELM_VERSION"; then
  go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "$(helm_ldflags)"
fi
wants kind && go_install kind sigs.k8s.io/kind "$KIND_VERSION"
# Version stamped like Prometheus's own release build (its v0.3xx module is Prometheus 3.xx).
promtool_version() { local minor=${PROMETHEUS_VERSION#v0.3}; minor=${minor%%.*}; echo "3.$((10#$minor)).${PROMETHEUS_VERSION##*.}"; }
# Both without service discovery (the remove_all_sd tag of Prometheus's plugins/ package): the
# tests scrape static targets and promtool checks and tests rules, so the cloud SDKs those
# plugins import (two thirds of a cold build) are left out; static and file discovery stay.
PROMETHEUS_TAGS=remove_all_sd
wants promtool && go_install promtool github.com/prometheus/prometheus/cmd/promtool "$PROMETHEUS_VERSION" \
  "-X github.com/prometheus/common/version.Version=$(promtool_version)" "$PROMETHEUS_TAGS"
# Without the builtinassets tag the web UI's assets are left out: the HTTP API is all the tests use.
wants prometheus && go_install prometheus github.com/prometheus/prometheus/cmd/prometheus "$PROMETHEUS_VERSION" \
  "-X github.com/prometheus/common/version.Version=$(promtool_version)" "$PROMETHEUS_TAGS"

if wants skaffold && ! have skaffold "$SKAFFOLD_VERSION"; then
  # skaffold's go.mod replaces and excludes modules (docker, viper, ...): the wrapper module
  # carries those lines. Tags and version stamps as in its release Makefile (CGO off here).
  log "building skaffold $SKAFFOLD_VERSION (a large module: tens of minutes on two cores with a cold Go build cache; once per version)"
  start=$(date +%s)
  COPY_REPLACES=1 BUILD_TAGS="timetzdata osusergo netgo static_build release" \
    build_wrapped github.com/GoogleContainerTools/skaffold/v2 "$SKAFFOLD_VERSION" "$cache_root" \
    "-s -w -X github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/version.version=$SKAFFOLD_VERSION" \
    github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold
  log "skaffold $SKAFFOLD_VERSION built in $(( $(date +%s) - start ))s"
fi

# The registry's own main (cmd/registry/main.go) with the filesystem and in-memory storage
# drivers alone: the cloud drivers' SDKs (Azure, GCS, S3, CloudFront) are most of its build and
# nothing here stores images anywhere but on local disk.
REGISTRY_MAIN='package main

import (
	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/auth/silly"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	_ "github.com/distribution/distribution/v3/registry/proxy"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/middleware/redirect"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/middleware/rewrite"
)

func main() { registry.RootCmd.Execute() }'
if wants registry && ! have registry "$REGISTRY_VERSION"; then
  MAIN_GO=$REGISTRY_MAIN OUT_NAME=registry build_wrapped github.com/distribution/distribution/v3 "$REGISTRY_VERSION" \
    "$cache_root" "-s -w -X github.com/distribution/distribution/v3/version.version=$REGISTRY_VERSION" .
fi

# CoreDNS's own main (coredns.go) with only the plugins the node's Corefile uses
# (hack/storefront_harness/node.py): without the cloud backends (Route 53, Azure, Cloud DNS),
# etcd, dnstap and the rest, its build takes a fraction of the time.
COREDNS_MAIN='package main

import (
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/template"

	"github.com/coredns/coredns/coremain"
)

func main() { coremain.Run() }'

if wants node; then
  # Cluster DNS and the resource metrics API (for the HPA), run by the harness beside the kubelet.
  if ! have coredns "$COREDNS_VERSION"; then
    MAIN_GO=$COREDNS_MAIN OUT_NAME=coredns build_wrapped github.com/coredns/coredns "$COREDNS_VERSION" \
      "$cache_root" "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" .
  fi
  go_install metrics-server sigs.k8s.io/metrics-server/cmd/metrics-server "$METRICS_SERVER_VERSION" \
    "-X sigs.k8s.io/metrics-server/pkg/version.gitVersion=$METRICS_SERVER_VERSION"
fi

# A module whose go.mod replaces modules with paths inside it is built in its own module
# directory, with its own go.sum: nothing is resolved beyond what it pins. With a trim function,
# in a writable copy of that directory which the function edits first (run inside it).
build_in_module() {  # name module version ldflags pkg [trim-function]
  local name=$1 module=$2 version=$3 ldflags=$4 pkg=$5 trim=${6:-} started=$SECONDS dir work
  dir=$(go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  if [ -n "$trim" ]; then
    cp -r "$dir" "$work/src" && chmod -R u+w "$work/src"
    dir=$work/src
    (cd "$dir" && "$trim")
  fi
  mkdir -p "$cache_root/$name-$version"
  (cd "$dir" && GOFLAGS=-mod=readonly go build "${GO_BUILD_FLAGS[@]}" -ldflags "-s -w $ldflags" \
    -o "$cache_root/$name-$version/$name.tmp" "$pkg")
  mv "$cache_root/$name-$version/$name.tmp" "$cache_root/$name-$version/$name"
  log "built $name in $((SECONDS - started))s"
}

# Traefik without lego's DNS-01 providers (about 150 of them, each with its DNS host's SDK: a
# third of Traefik's packages): the node's Ingress controller serves plain HTTP and never asks
# for a certificate. In the copy of Traefik's module, lego is replaced by a copy of itself whose
# provider registry names none; a DNS challenge configured anyway fails with a clear error.
LEGO_DNS_PROVIDERS_GO='// The DNS-01 provider registry, as built for this Traefik: without any provider.
package dns

import (
	"fmt"

	"github.com/go-acme/lego/v4/challenge"
)

// NewDNSChallengeProviderByName refuses every name: no DNS-01 provider is built in.
func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {
	return nil, fmt.Errorf("DNS-01 challenge provider %q is not built into this traefik", name)
}'
traefik_trim() {
  local lego
  lego=$(GOFLAGS=-mod=readonly go mod download -json github.com/go-acme/lego/v4 | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p .trim
  cp -r "$lego" .trim/lego && chmod -R u+w .trim/lego
  rm -f .trim/lego/providers/dns/*_test.go
  printf '%s\n' "$LEGO_DNS_PROVIDERS_GO" > .trim/lego/providers/dns/zz_gen_dns_providers.go
  go mod edit -replace github.com/go-acme/lego/v4=./.trim/lego
}

# Traefik's go.mod replaces a module with a ./pkg path. Even trimmed, the longest build here
# (about 4 minutes on two idle cores with a cold Go build cache).
if wants ingress && ! have traefik "$TRAEFIK_VERSION"; then
  log "building traefik $TRAEFIK_VERSION (github.com/traefik/traefik/v3, without ACME DNS-01 providers: the longest build here, about 4 minutes on two idle cores)"
  build_in_module traefik github.com/traefik/traefik/v3 "$TRAEFIK_VERSION" \
    "-X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION" ./cmd/traefik traefik_trim
fi

# Jaeger's collector with the components the test suite's configuration names (OTLP receiver,
# batch processor, jaeger_storage and its exporter, jaeger_query, health check) and a few of no
# weight: without Kafka, Zipkin, tail sampling, span metrics and the other add-ons, whose
# clients are a quarter of its build. Its cmd/jaeger/internal package is internal, so the copy's
# components.go is replaced rather than imported from a main of our own.
JAEGER_COMPONENTS_GO='// Jaeger'"'"'s collector components, as built for the test suite'"'"'s trace backend.
package internal

import (
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckv2extension"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/exporter/nopexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"
	"go.opentelemetry.io/collector/receiver/nopreceiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	"github.com/jaegertracing/jaeger/cmd/jaeger/internal/exporters/storageexporter"
	"github.com/jaegertracing/jaeger/cmd/jaeger/internal/extension/jaegerquery"
	"github.com/jaegertracing/jaeger/cmd/jaeger/internal/extension/jaegerstorage"
)

func Components() (otelcol.Factories, error) {
	var err error
	factories := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}
	if factories.Extensions, err = otelcol.MakeFactoryMap(
		healthcheckv2extension.NewFactory(), jaegerquery.NewFactory(), jaegerstorage.NewFactory(),
	); err != nil {
		return otelcol.Factories{}, err
	}
	if factories.Receivers, err = otelcol.MakeFactoryMap(otlpreceiver.NewFactory(), nopreceiver.NewFactory()); err != nil {
		return otelcol.Factories{}, err
	}
	if factories.Exporters, err = otelcol.MakeFactoryMap(
		storageexporter.NewFactory(), debugexporter.NewFactory(), nopexporter.NewFactory(),
	); err != nil {
		return otelcol.Factories{}, err
	}
	if factories.Processors, err = otelcol.MakeFactoryMap[processor.Factory](
		batchprocessor.NewFactory(), memorylimiterprocessor.NewFactory(),
	); err != nil {
		return otelcol.Factories{}, err
	}
	return factories, nil
}'
jaeger_trim() {
  printf '%s\n' "$JAEGER_COMPONENTS_GO" > cmd/jaeger/internal/components.go
  rm -f cmd/jaeger/internal/components_test.go
}

# Jaeger's go.mod replaces a module too. Without the ui tag its query service serves a
# placeholder page instead of the web UI; the HTTP query API the tests use is complete.
if wants jaeger && ! have jaeger "$JAEGER_VERSION"; then
  log "building jaeger $JAEGER_VERSION (github.com/jaegertracing/jaeger cmd/jaeger, the components the tests use)"
  build_in_module jaeger github.com/jaegertracing/jaeger "$JAEGER_VERSION" \
    "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=$JAEGER_VERSION" ./cmd/jaeger jaeger_trim
fi

for t in "${k8s_tools[@]}"; do link_bin "$t" "$K8S_VERSION"; done
wants control-plane && link_bin etcd "$ETCD_VERSION"
wants helm && link_bin helm "$HELM_VERSION"
wants kind && link_bin kind "$KIND_VERSION"
wants ingress && link_bin traefik "$TRAEFIK_VERSION"
wants skaffold && link_bin skaffold "$SKAFFOLD_VERSION"
wants registry && link_bin registry "$REGISTRY_VERSION"
wants promtool && link_bin promtool "$PROMETHEUS_VERSION"
wants prometheus && link_bin prometheus "$PROMETHEUS_VERSION"
wants jaeger && link_bin jaeger "$JAEGER_VERSION"
if wants node; then
  link_bin coredns "$COREDNS_VERSION"
  link_bin metrics-server "$METRICS_SERVER_VERSION"
fi
# What a fresh machine pays once, in one figure (nothing is said when every tool was cached).
[ "$SECONDS" -lt 5 ] || log "tools built in ${SECONDS}s: ${groups[*]}"
echo "$cache_root/bin"
