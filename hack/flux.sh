#!/usr/bin/env bash
# hack/flux.sh — build Flux's source-controller and kustomize-controller from Go modules for the end-to-end tier.
#
# Builds into ${MARINA_CACHE:-$HOME/.cache/marina}/flux/<version>/ and prints that directory on its last line:
#   source-controller, kustomize-controller   github.com/fluxcd/{source,kustomize}-controller@$FLUX_VERSION
# The build runs in a throwaway wrapper module (go 1.26) carrying the two replace lines Flux's own go.mod needs and a
# dependent module cannot inherit (see ../shared/NOTES.md). Flux v1.10 needs Go 1.27 and dependencies the proxy
# refuses: stay on v1.9.x. Their CRDs come from hack/crds.sh (same versions), installed by internal/testenv.
# A binary counts as built once its .<name>.complete marker exists. Measured on 2 cores:
# 7 min cold (source-controller ~6, kustomize-controller ~1), 179 MB; cached: instant.
set -euo pipefail

FLUX_VERSION=${FLUX_VERSION:-v1.9.6}
# shellcheck source=lib/build.sh
. "$(dirname "$0")/lib/build.sh"
build_setup flux "$FLUX_VERSION"
built() { [ -f "$out/.$1.complete" ] && [ -x "$out/$1" ]; }

if built source-controller && built kustomize-controller; then
  log "source-controller, kustomize-controller $FLUX_VERSION: cached"
  echo "$out"
  exit 0
fi

start=$(date +%s)
log "source-controller, kustomize-controller $FLUX_VERSION: building in $dir (~8 min cold)"
cat >"$dir/go.mod" <<GOMOD
module marina.local/flux

go 1.26.0

replace (
	github.com/fluxcd/pkg/artifact => github.com/fluxcd/pkg/artifact v0.18.1
	github.com/opencontainers/go-digest => github.com/opencontainers/go-digest v1.0.1-0.20220411205349-bde1400a84be
)
GOMOD
(
  cd "$dir"
  go get "github.com/fluxcd/source-controller@$FLUX_VERSION" "github.com/fluxcd/kustomize-controller@$FLUX_VERSION"
  for name in source-controller kustomize-controller; do
    built "$name" && continue
    t0=$(date +%s)
    go build -trimpath -ldflags "-s -w" -o "$name.tmp" "github.com/fluxcd/$name"
    mv "$name.tmp" "$out/$name"
    grep -q -- '--metrics-addr' <<<"$("$out/$name" --help 2>&1)" || { log "$name --help does not list --metrics-addr"; exit 1; }
    touch "$out/.$name.complete"
    log "$name: built in $(elapsed "$t0") ($(du -h "$out/$name" | cut -f1))"
  done
)
log "all in $out ($(du -sh "$out" | cut -f1), $(elapsed "$start"))"
echo "$out"
