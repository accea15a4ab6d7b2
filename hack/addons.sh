#!/usr/bin/env bash
# hack/addons.sh — the cluster add-ons the test cluster's real node runs as Pods: metrics-server (the resource
# metrics API the HPA reads) and CoreDNS (Service names for Pods), each built from its own Go module.
#
# Builds into ${MARINA_CACHE:-$HOME/.cache/marina}/addons/<versions>/ and prints that directory on its last line
# (internal/testenv reads it, or MARINA_ADDON_ASSETS):
#   metrics-server  sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION ./cmd/metrics-server
#   coredns         github.com/coredns/coredns@$COREDNS_VERSION with the plugins testenv's Corefile uses (bind,
#                   errors, ready, kubernetes, cache), as CoreDNS documents custom builds: a copy of the module
#                   (7 MB) with its generated plugin list core/plugin/zplugin.go rewritten, so the cloud DNS
#                   providers' SDKs (route53, azure, clouddns), dnstap and tracing are not compiled
# Each is built inside its module's own directory of the Go module cache (found with `go mod download -json`), so its
# own go.mod and go.sum pin every dependency, static (CGO_ENABLED=0), version stamped. internal/testenv packs
# each binary into an image, pushes it to the test registry and runs it as a Deployment on the real node. A binary
# counts as built once its .<name>.complete marker holds what it was built from (written after it printed its version:
# the version, and CoreDNS's plugin list), so a second run is instant. Measured cold (an empty build cache) on 2 busy
# cores: metrics-server 8m30s user + 2m57s sys, CoreDNS with its five plugins 2m50s user + 0m54s sys (with its default
# plugin set: about 7 CPU-minutes); 119 MB.
set -euo pipefail

METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.8.0}
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}

# shellcheck source=lib/build.sh
. "$(dirname "$0")/lib/build.sh"
# The plugins the CoreDNS build includes: every directive of internal/testenv's Corefile.
COREDNS_PLUGINS="bind cache errors kubernetes ready"
build_setup addons "metrics-server-$METRICS_SERVER_VERSION-coredns-$COREDNS_VERSION"

# build NAME RECIPE MODULE@VERSION PACKAGE LDFLAGS VERSIONFLAG [EDIT]: go build PACKAGE inside MODULE's directory
# into $out/NAME, unless its marker already holds RECIPE (what it was built from); EDIT, when given, is a function that
# edits a writable copy of the module's directory, built instead.
build() {
  local name=$1 recipe=$2 modver=$3 pkg=$4 ldflags=$5 vflag=$6 edit=${7:-} mod t0
  if [ "$(cat "$out/.$name.complete" 2>/dev/null)" = "$recipe" ] && [ -x "$out/$name" ]; then
    log "$name ($recipe): cached"
    return
  fi
  t0=$(date +%s)
  log "$name ($recipe): building"
  mod=$(cd "$dir" && go mod download -json "$modver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -d "$mod/$pkg" ] || { log "no $pkg in $mod"; exit 1; }
  if [ -n "$edit" ]; then
    rm -rf "$dir/$name-src"
    cp -r "$mod" "$dir/$name-src"
    chmod -R u+w "$dir/$name-src"
    mod=$dir/$name-src
    "$edit" "$mod"
  fi
  # The module cache is read-only: build from it as it is (its go.sum pins the dependencies), the binary into out.
  (cd "$mod" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w $ldflags" -o "$out/$name.tmp" "$pkg")
  mv "$out/$name.tmp" "$out/$name"
  "$out/$name" "$vflag" >&2
  echo "$recipe" >"$out/.$name.complete"
  log "$name: built in $(elapsed "$t0") ($(du -h "$out/$name" | cut -f1))"
}

# metrics-server is built from its own go.mod. Built at the cluster's Kubernetes libraries (v0.37.2; its go.mod says
# v0.33.2) it would share the control plane's compiled packages, but it then panics at start: "cannot find model
# definition for io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics" (its generated OpenAPI does not match
# k8s.io/apiserver v0.37).
build metrics-server "$METRICS_SERVER_VERSION" "sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION" ./cmd/metrics-server \
  "-X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION" --version
# coredns_plugins MODDIR: CoreDNS's list of compiled-in plugins in MODDIR becomes COREDNS_PLUGINS.
coredns_plugins() {
  local p
  {
    printf '// Written by hack/addons.sh: the plugins internal/testenv'"'"'s Corefile uses.\n\npackage plugin\n\nimport (\n'
    for p in $COREDNS_PLUGINS; do printf '\t_ "github.com/coredns/coredns/plugin/%s"\n' "$p"; done
    printf ')\n'
  } >"$1/core/plugin/zplugin.go"
}
build coredns "$COREDNS_VERSION with $COREDNS_PLUGINS" "github.com/coredns/coredns@$COREDNS_VERSION" . \
  "-X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" -version coredns_plugins
log "add-ons in $out ($(du -sh "$out" | cut -f1))"
echo "$out"
