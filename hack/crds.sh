#!/usr/bin/env bash
# hack/crds.sh — fetch the third-party CRDs marina checks its output against, from their Go modules.
#
# For every module pinned below this runs `go mod download -json MODULE@VERSION` and
# copies the module's CustomResourceDefinition YAML files into
#   ${MARINA_CACHE:-$HOME/.cache/marina}/crds/<module-name>@<version>/
# (<module-name> is the last path element of the module without a /vN suffix, e.g. argo-cd@v3.6.1).
# A directory whose .complete marker matches this script's layout is not fetched again, so a warm run takes milliseconds.
# Prints the cache dir (crds/) on stdout; progress goes to stderr.
# Tests read it from MARINA_CRDS_DIR or this default path. KServe's CRDs come from no Go module on the proxy: they are
# carried in the repository, third_party/kserve (version, source and license in its README.md).
set -euo pipefail

# shellcheck source=hack/lib/gomod.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/gomod.sh"

cache="${MARINA_CACHE:-$HOME/.cache/marina}/crds"
mkdir -p "$cache"

# module version subdir-or-"-" (- = search the whole module for CRDs) extra-env-or-"-"
# One copy of each CRD only: Gateway API's standard channel (the experimental channel redefines the same kinds) and
# Prometheus Operator's example/prometheus-operator-crd-full (bundle.yaml and prometheus-operator-crd repeat them).
modules=(
  "sigs.k8s.io/gateway-api v1.7.0 config/crd/standard GOTOOLCHAIN=go1.27.3"
  "github.com/kedacore/keda/v2 v2.21.0 config/crd/bases -"
  "github.com/external-secrets/external-secrets v1.3.2 config/crds/bases -"
  "github.com/bitnami-labs/sealed-secrets v0.40.0 - -"
  "github.com/fluxcd/source-controller v1.9.6 config/crd/bases -"
  "github.com/fluxcd/kustomize-controller v1.9.6 config/crd/bases -"
  "github.com/argoproj/argo-cd/v3 v3.6.1 manifests/crds GOTOOLCHAIN=go1.27.3"
  "github.com/prometheus-operator/prometheus-operator v0.85.0 example/prometheus-operator-crd-full -"
)

# name prints the cache directory name of a module: its last path element without a major-version suffix.
name() {
  local m="$1" last
  last="${m##*/}"
  if [[ "$last" =~ ^v[0-9]+$ ]]; then
    m="${m%/*}"
    last="${m##*/}"
  fi
  printf '%s' "$last"
}

# is_crd succeeds when a YAML file declares a CustomResourceDefinition.
is_crd() {
  grep -qE '^kind:[[:space:]]*CustomResourceDefinition[[:space:]]*$' "$1"
}

for entry in "${modules[@]}"; do
  read -r mod ver sub extra <<<"$entry"
  dest="$cache/$(name "$mod")@$ver"
  marker="layout=1 $mod@$ver $sub"
  if [[ -f "$dest/.complete" && "$(cat "$dest/.complete")" == "$marker" ]]; then
    continue
  fi
  echo "crds: downloading $mod@$ver" >&2
  envs=()
  if [[ "$extra" != "-" ]]; then
    envs=("$extra")
  fi
  dir="$(cd "$cache" && module_dir crds "$mod@$ver" . "${envs[@]}")"
  root="$dir"
  if [[ "$sub" != "-" ]]; then
    root="$dir/$sub"
  fi
  tmp="$(mktemp -d "$cache/.tmp.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  n=0
  while IFS= read -r -d '' f; do
    if is_crd "$f"; then
      rel="${f#"$root"/}"
      # Flatten the relative path so files from different subdirectories cannot collide.
      cp "$f" "$tmp/${rel//\//_}"
      chmod 0644 "$tmp/${rel//\//_}"
      n=$((n + 1))
    fi
  done < <(find "$root" -type f \( -name '*.yaml' -o -name '*.yml' \) -not -path '*/testdata/*' -not -path '*/test/*' -not -path '*/examples/*' -print0 | sort -z)
  if [[ "$n" -eq 0 ]]; then
    echo "crds: no CustomResourceDefinition found in $root" >&2
    exit 2
  fi
  printf '%s' "$marker" >"$tmp/.complete"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  trap - EXIT
  echo "crds: $n CRD files -> $dest" >&2
done

printf '%s\n' "$cache"
