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
# counts as built once its .<name>.complete marker exists (written after it printed its version; CoreDNS's holds its
# plugin list), so a second run is instant. Measured cold (an empty build cache) on 2 busy cores: metrics-server 8m30s user + 2m57s sys, CoreDNS with
# its five plugins 2m50s user + 0m54s sys (with its default plugin set: about 7 CPU-minutes); 119 MB.
set -euo pipefail

METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.8.0}
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}

# shellcheck source=lib/build.sh
. "$(dirname "$0")/lib/build.sh"
# The plugins the CoreDNS build includes: every directive of internal/testenv's Corefile.
COREDNS_PLUGINS="bind cache errors kubernetes ready"
build_setup addons "metrics-server-$METRICS_SERVER_VERSION-coredns-$COREDNS_VERSION"

# metrics-server: inside its module's own directory of the Go module cache, with its go.mod and go.sum. Built at the
# cluster's Kubernetes libraries (v0.37.2, its go.mod says v0.33.2) it would share the control plane's compiled
# packages, but it then panics at start: "cannot find model definition for
# io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics" (its generated OpenAPI does not match k8s.io/apiserver v0.37).
if [ -f "$out/.metrics-server.complete" ] && [ -x "$out/metrics-server" ]; then
  log "metrics-server $METRICS_SERVER_VERSION: cached"
else
  t0=$(date +%s)
  log "metrics-server $METRICS_SERVER_VERSION: building"
  mod=$(cd "$dir" && go mod download -json "sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -d "$mod/cmd/metrics-server" ] || { log "no cmd/metrics-server in sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION ($mod)"; exit 1; }
  (cd "$mod" && GOFLAGS=-mod=readonly go build -trimpath \
    -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION" -o "$out/metrics-server.tmp" ./cmd/metrics-server)
  mv "$out/metrics-server.tmp" "$out/metrics-server"
  "$out/metrics-server" --version >&2
  touch "$out/.metrics-server.complete"
  log "metrics-server: built in $(elapsed "$t0") ($(du -h "$out/metrics-server" | cut -f1))"
fi
# CoreDNS: a writable copy of its module with core/plugin/zplugin.go listing COREDNS_PLUGINS only, built with the
# module's go.sum (-mod=readonly). Its marker holds the plugin list, so another list rebuilds it.
if [ "$(cat "$out/.coredns.complete" 2>/dev/null)" = "$COREDNS_PLUGINS" ] && [ -x "$out/coredns" ]; then
  log "coredns $COREDNS_VERSION ($COREDNS_PLUGINS): cached"
else
  t0=$(date +%s)
  log "coredns $COREDNS_VERSION ($COREDNS_PLUGINS): building"
  mod=$(cd "$dir" && go mod download -json "github.com/coredns/coredns@$COREDNS_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -f "$mod/core/plugin/zplugin.go" ] || { log "no core/plugin/zplugin.go in github.com/coredns/coredns@$COREDNS_VERSION ($mod)"; exit 1; }
  rm -rf "$dir/coredns-src"
  cp -r "$mod" "$dir/coredns-src"
  chmod -R u+w "$dir/coredns-src"
  {
    printf '// Written by hack/addons.sh: the plugins internal/testenv'"'"'s Corefile uses.\n\npackage plugin\n\nimport (\n'
    for p in $COREDNS_PLUGINS; do printf '\t_ "github.com/coredns/coredns/plugin/%s"\n' "$p"; done
    printf ')\n'
  } >"$dir/coredns-src/core/plugin/zplugin.go"
  (cd "$dir/coredns-src" && GOFLAGS=-mod=readonly go build -trimpath \
    -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" -o "$out/coredns.tmp" .)
  mv "$out/coredns.tmp" "$out/coredns"
  "$out/coredns" -version >&2
  echo "$COREDNS_PLUGINS" >"$out/.coredns.complete"
  log "coredns: built in $(elapsed "$t0") ($(du -h "$out/coredns" | cut -f1))"
fi
log "add-ons in $out ($(du -sh "$out" | cut -f1))"
echo "$out"
