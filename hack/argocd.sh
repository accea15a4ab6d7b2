#!/usr/bin/env bash
# hack/argocd.sh — build Argo CD from its Go module for the end-to-end tier, and install Debian's redis-server.
#
# Builds into ${MARINA_CACHE:-$HOME/.cache/marina}/argocd/<version>/ and prints that directory on its last line:
#   argocd                   github.com/argoproj/argo-cd/v3/cmd@$ARGOCD_VERSION: one binary that runs as
#                            argocd-repo-server / argocd-application-controller / argocd-applicationset-controller
#                            (chosen by ARGOCD_BINARY_NAME)
#   path/git-verify-wrapper.sh  the module's hack/git-verify-wrapper.sh: v3.6's repo-server runs it from PATH
# Argo CD v3.6 needs Go 1.27: this script, and only this script, sets GOTOOLCHAIN=go1.27.3 (the toolchain comes from
# the Go module proxy). The wrapper module copies the replace block of Argo CD's own go.mod (a dependent module
# does not inherit it) minus its ./gitops-engine directory replace. Argo CD's CRDs come from hack/crds.sh (same
# version), installed by internal/testenv. Measured on 2 cores: 12 min cold (sharing the CPUs with another build),
# 157 MB; cached: instant.
set -euo pipefail

ARGOCD_VERSION=${ARGOCD_VERSION:-v3.6.1}
cache=${MARINA_CACHE:-$HOME/.cache/marina}/argocd
out=$cache/$ARGOCD_VERSION
dir=$cache/build/$ARGOCD_VERSION
mkdir -p "$out" "$dir"

command -v go >/dev/null || { echo "argocd: go is needed" >&2; exit 2; }
export GOFLAGS=-mod=mod CGO_ENABLED=0 GOWORK=off GO111MODULE=on GOTOOLCHAIN=go1.27.3
unset GOOS GOARCH

log() { echo "argocd: $(date -u +%H:%M:%S) $*" >&2; }
elapsed() { local s=$(($(date +%s) - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

if ! command -v redis-server >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { log "run as root to install Debian's redis-server"; exit 2; }
    sudo="sudo"
  fi
  log "installing Debian's redis-server"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >&2
fi

if command -v flock >/dev/null; then
  exec 9>"$cache/.lock"
  flock 9
fi

if [ -f "$out/.complete" ] && [ -x "$out/argocd" ]; then
  log "argocd $ARGOCD_VERSION: cached"
  echo "$out"
  exit 0
fi

start=$(date +%s)
log "argocd $ARGOCD_VERSION: building in $dir (~10 min cold)"
gomod=$(cd "$dir" && go mod download -json "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[ -f "$gomod" ] || { log "could not download github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION"; exit 1; }
{
  printf 'module marina.local/argocd\n\ngo 1.27.0\n\n'
  # The replace ( … ) block, without directory replaces (./gitops-engine): those point into Argo CD's own tree.
  sed -n '/^replace (/,/^)/p' "$gomod" | grep -v '=>[[:space:]]*\.'
} >"$dir/go.mod"
(
  cd "$dir"
  go get "github.com/argoproj/argo-cd/v3/cmd@$ARGOCD_VERSION"
  go build -trimpath -ldflags "-s -w -X github.com/argoproj/argo-cd/v3/common.version=${ARGOCD_VERSION#v}" \
    -o argocd.tmp github.com/argoproj/argo-cd/v3/cmd
  moddir=$(go list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v3)
  rm -rf "$out/path"
  mkdir -p "$out/path"
  cp "$moddir/hack/git-verify-wrapper.sh" "$out/path/"
  chmod -R u+w "$out/path"
  chmod +x "$out/path/git-verify-wrapper.sh"
  mv argocd.tmp "$out/argocd"
)
ARGOCD_BINARY_NAME=argocd-repo-server "$out/argocd" --help 2>&1 | grep -q -- '--parallelismlimit' || { log "argocd-repo-server --help does not look right"; exit 1; }
touch "$out/.complete"
log "argocd $ARGOCD_VERSION: built in $(elapsed "$start") ($(du -sh "$out" | cut -f1))"
echo "$out"
