#!/usr/bin/env bash
# hack/addons.sh — the cluster add-ons the test cluster's real node runs as Pods: metrics-server (the resource
# metrics API the HPA reads) and CoreDNS (Service names for Pods), each built from its own Go module.
#
# Builds into ${MARINA_CACHE:-$HOME/.cache/marina}/addons/<versions>/ and prints that directory on its last line
# (internal/testenv reads it, or MARINA_ADDON_ASSETS):
#   metrics-server  sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION ./cmd/metrics-server
#   coredns         github.com/coredns/coredns@$COREDNS_VERSION (its default plugin set)
# Each is built inside the module's own directory of the Go module cache (found with `go mod download -json`), so
# its own go.mod and go.sum pin every dependency, static (CGO_ENABLED=0), version stamped. internal/testenv packs
# each binary into an image, pushes it to the test registry and runs it as a Deployment on the real node. A binary
# counts as built once its .<name>.complete marker exists (written after it printed its version), so a second run is
# instant. Measured cold (empty build cache for their dependencies) on 2 cores shared with three other builds:
# metrics-server 36m02s, CoreDNS 29m19s wall, 13m51s user + 4m37s sys in all; 142 MB.
set -euo pipefail

METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.8.0}
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}

# shellcheck source=lib/build.sh
. "$(dirname "$0")/lib/build.sh"
build_setup addons "metrics-server-$METRICS_SERVER_VERSION-coredns-$COREDNS_VERSION"

# build NAME MODULE@VERSION PACKAGE LDFLAGS VERSIONFLAG: go build PACKAGE inside MODULE's directory into $out/NAME.
build() {
  local name=$1 modver=$2 pkg=$3 ldflags=$4 vflag=$5 mod t0
  if [ -f "$out/.$name.complete" ] && [ -x "$out/$name" ]; then
    log "$name ($modver): cached"
    return
  fi
  t0=$(date +%s)
  log "$name ($modver): building"
  mod=$(cd "$dir" && go mod download -json "$modver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -d "$mod/$pkg" ] || { log "no $pkg in $mod"; exit 1; }
  # The module cache is read-only: build from it as it is (its go.sum pins the dependencies), the binary into out.
  (cd "$mod" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w $ldflags" -o "$out/$name.tmp" "$pkg")
  mv "$out/$name.tmp" "$out/$name"
  "$out/$name" "$vflag" >&2
  touch "$out/.$name.complete"
  log "$name: built in $(elapsed "$t0") ($(du -h "$out/$name" | cut -f1))"
}

build metrics-server "sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION" ./cmd/metrics-server \
  "-X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION" --version
build coredns "github.com/coredns/coredns@$COREDNS_VERSION" . \
  "-X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" -version
log "add-ons in $out ($(du -sh "$out" | cut -f1))"
echo "$out"
