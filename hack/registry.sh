#!/usr/bin/env bash
# hack/registry.sh — build CNCF distribution's registry (the OCI registry Docker Hub, GHCR and Harbor grew from) from
# its Go module for the tests, the e2e tier and local use, and print the binary's path on its last line.
#
# Builds github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION inside the module's own directory
# of the Go module cache (found with `go mod download -json`), so the registry's own go.mod and go.sum pin every
# dependency, into ${MARINA_CACHE:-$HOME/.cache/marina}/registry/<version>/registry. Nothing is started:
# internal/testenv.StartRegistry runs one per test on a free loopback port. The binary counts as built once its
# .registry.complete marker exists (written after --version ran), so a second run is instant. Measured on 2 cores
# shared with three other builds (module cache warm, build cache holding only marina's deps): 8m18s wall (3m14s
# user), 54 MB binary; cached: instant.
set -euo pipefail

REGISTRY_VERSION=${REGISTRY_VERSION:-v3.1.2}
# shellcheck source=lib/build.sh
. "$(dirname "$0")/lib/build.sh"
build_setup registry "$REGISTRY_VERSION"

if [ -f "$out/.registry.complete" ] && [ -x "$out/registry" ]; then
  log "registry $REGISTRY_VERSION: cached"
  echo "$out/registry"
  exit 0
fi

start=$(date +%s)
log "registry $REGISTRY_VERSION: building (~2 min cold)"
mod=$(cd "$dir" && go mod download -json "github.com/distribution/distribution/v3@$REGISTRY_VERSION" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
[ -d "$mod/cmd/registry" ] || { log "no cmd/registry in $mod"; exit 1; }
# The module cache is read-only: build from it as it is (its go.sum pins the dependencies), the binary into out.
(cd "$mod" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w -X github.com/distribution/distribution/v3/version.version=$REGISTRY_VERSION" -o "$out/registry.tmp" ./cmd/registry)
mv "$out/registry.tmp" "$out/registry"
"$out/registry" --version >&2
touch "$out/.registry.complete"
log "registry: built in $(elapsed "$start") ($(du -h "$out/registry" | cut -f1))"
echo "$out/registry"
