#!/usr/bin/env bash
# hack/argocd.sh — build Argo CD from its Go module for the end-to-end tier, and install Debian's redis-server.
#
# Builds into ${MARINA_CACHE:-$HOME/.cache/marina}/argocd/<version>/ and prints that directory on its last line:
#   argocd                   github.com/argoproj/argo-cd/v3/cmd@$ARGOCD_VERSION: one binary that runs as
#                            argocd-repo-server / argocd-application-controller / argocd-applicationset-controller
#                            (chosen by ARGOCD_BINARY_NAME)
#   path/git-verify-wrapper.sh  the module's hack/git-verify-wrapper.sh: v3.6's repo-server runs it from PATH
#   path/kustomize           sigs.k8s.io/kustomize/kustomize/v5 at the version Argo CD's hack/tool-versions.sh
#                            names: the repo-server runs `kustomize build` for every kustomization directory
# Argo CD v3.6 needs Go 1.27: this script, and only this script, sets GOTOOLCHAIN=go1.27.3 (the toolchain comes from
# the Go module proxy). The wrapper module copies the replace block of Argo CD's own go.mod (a dependent module
# does not inherit it) minus its ./gitops-engine directory replace. Argo CD's CRDs come from hack/crds.sh (same
# version), installed by internal/testenv. Measured on 2 cores: 12 min cold (sharing the CPUs with another build),
# 157 MB; cached: instant.
set -euo pipefail

ARGOCD_VERSION=${ARGOCD_VERSION:-v3.6.1}
# shellcheck source=lib/build.sh
. "$(dirname "$0")/lib/build.sh"
build_setup argocd "$ARGOCD_VERSION"
export GOTOOLCHAIN=go1.27.3

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

start=$(date +%s)
gomod=$(cd "$dir" && go mod download -json "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[ -f "$gomod" ] || { log "could not download github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION"; exit 1; }
moddir=$(cd "$dir" && go mod download -json "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')

if [ -f "$out/.argocd.complete" ] && [ -x "$out/argocd" ]; then
  log "argocd $ARGOCD_VERSION: cached"
else
  log "argocd $ARGOCD_VERSION: building in $dir (~10 min cold)"
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
  )
  mv "$dir/argocd.tmp" "$out/argocd"
  grep -q -- '--parallelismlimit' <<<"$(ARGOCD_BINARY_NAME=argocd-repo-server "$out/argocd" --help 2>&1)" || { log "argocd-repo-server --help does not look right"; exit 1; }
  touch "$out/.argocd.complete"
  log "argocd $ARGOCD_VERSION: built in $(elapsed "$start")"
fi

kustomize=$(sed -n 's/^KUSTOMIZE_VERSION=\([0-9.]*\).*/\1/p' "$moddir/hack/tool-versions.sh")
[ -n "$kustomize" ] || { log "no KUSTOMIZE_VERSION in $moddir/hack/tool-versions.sh"; exit 1; }
if [ -f "$out/.path.complete" ] && [ -x "$out/path/kustomize" ]; then
  log "kustomize v$kustomize and git-verify-wrapper.sh: cached"
else
  rm -rf "$out/path" "$dir/kustomize"
  mkdir -p "$out/path" "$dir/kustomize"
  cp "$moddir/hack/git-verify-wrapper.sh" "$out/path/"
  chmod u+w,+x "$out/path/git-verify-wrapper.sh"
  # The kube-openapi pseudo-version kustomize v5.8.3 requires is refused by the module proxy; the newest one served
  # builds it.
  printf 'module marina.local/kustomize\n\ngo 1.26\n\nreplace k8s.io/kube-openapi => k8s.io/kube-openapi %s\n' \
    "${KUBE_OPENAPI_VERSION:-v0.0.0-20260821135717-be32def86098}" >"$dir/kustomize/go.mod"
  (cd "$dir/kustomize" && go get "sigs.k8s.io/kustomize/kustomize/v5@v$kustomize" &&
    go build -trimpath -ldflags "-s -w" -o kustomize.tmp sigs.k8s.io/kustomize/kustomize/v5)
  mv "$dir/kustomize/kustomize.tmp" "$out/path/kustomize"
  grep -qF "$kustomize" <<<"$("$out/path/kustomize" version)" || { log "kustomize version does not print $kustomize"; exit 1; }
  touch "$out/.path.complete"
  log "kustomize v$kustomize: built"
fi
log "all in $out ($(du -sh "$out" | cut -f1), $(elapsed "$start"))"
echo "$out"
