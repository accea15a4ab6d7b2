#!/usr/bin/env bash
# hack/kubeschemas.sh — regenerate internal/kubeschema/builtin/bundle.json.gz, the Kubernetes schemas built into
# marina for offline validation (marina validate needs no network and no cluster).
#
#   hack/kubeschemas.sh           write the bundle
#   hack/kubeschemas.sh --check   regenerate into a temp dir and fail (exit 1) when the committed bundle differs
#
# Sources, all through the Go module proxy:
#   - built-in kinds: the OpenAPI v3 spec files in k8s.io/kubernetes@$KUBERNETES_VERSION (api/openapi-spec/v3),
#     every stable group version (see -skip-groups in hack/kubeschemas to leave groups out);
#   - CRD kinds: the modules hack/crds.sh fetches (its `modules` list is the one place they are pinned);
#   - Gateway API's experimental channel (config/crd/experimental of the gateway-api version hack/crds.sh pins),
#     which a project chooses with spec.gatewayAPI.channel in marina.yaml.
# Both are cached under ${MARINA_CACHE:-$HOME/.cache/marina} (openapi/ here, crds/ by hack/crds.sh), each directory
# with a .complete marker, so a warm run only builds and runs the generator (a few seconds).
set -euo pipefail

KUBERNETES_VERSION=v1.37.2

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/lib/gomod.sh
source "$root/hack/lib/gomod.sh"
bundle="$root/internal/kubeschema/builtin/bundle.json.gz"
check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) echo "usage: hack/kubeschemas.sh [--check]" >&2; exit 2 ;;
esac

cache="${MARINA_CACHE:-$HOME/.cache/marina}"
openapi="$cache/openapi/kubernetes@$KUBERNETES_VERSION"
marker="layout=1 k8s.io/kubernetes@$KUBERNETES_VERSION api/openapi-spec/v3"
if [[ ! -f "$openapi/.complete" || "$(cat "$openapi/.complete")" != "$marker" ]]; then
  echo "kubeschemas: downloading k8s.io/kubernetes@$KUBERNETES_VERSION" >&2
  mkdir -p "$cache/openapi"
  dir="$(cd "$cache/openapi" && module_dir kubeschemas "k8s.io/kubernetes@$KUBERNETES_VERSION" api/openapi-spec/v3)"
  tmp="$(mktemp -d "$cache/openapi/.tmp.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  cp "$dir"/api/openapi-spec/v3/*.json "$tmp/"
  chmod 0644 "$tmp"/*.json
  printf '%s' "$marker" >"$tmp/.complete"
  rm -rf "$openapi"
  mv "$tmp" "$openapi"
  trap - EXIT
fi

crds="$("$root/hack/crds.sh")"

# The CRD modules, read from hack/crds.sh's list: "module version subdir extra-env".
args=(-openapi "k8s.io/kubernetes@$KUBERNETES_VERSION=$openapi")
while read -r mod ver _; do
  last="${mod##*/}"
  if [[ "$last" =~ ^v[0-9]+$ ]]; then
    last="$(basename "${mod%/*}")"
  fi
  args+=(-crds "$mod@$ver=$crds/$last@$ver")
done < <(sed -n '/^modules=(/,/^)/{s/^[[:space:]]*"\([^"]*\)".*/\1/p}' "$root/hack/crds.sh")
# Gateway API's experimental channel, from the module version and environment hack/crds.sh pins.
read -r gwmod gwver _ gwenv < <(sed -n 's/^[[:space:]]*"\(sigs.k8s.io\/gateway-api [^"]*\)".*/\1/p' "$root/hack/crds.sh")
if [[ -z "${gwver:-}" ]]; then
  echo "kubeschemas: found no sigs.k8s.io/gateway-api in hack/crds.sh" >&2
  exit 2
fi
envs=()
if [[ "$gwenv" != "-" ]]; then
  envs=("$gwenv")
fi
gwdir="$(cd "$cache/openapi" && module_dir kubeschemas "$gwmod@$gwver" config/crd/experimental "${envs[@]}")"
args+=(-gateway-api-experimental "$gwmod@$gwver=$gwdir/config/crd/experimental")

if [[ "${#args[@]}" -lt 4 ]]; then
  echo "kubeschemas: found no modules in hack/crds.sh" >&2
  exit 2
fi

out="$bundle"
if $check; then
  tmpdir="$(mktemp -d)"
  trap 'rm -rf "$tmpdir"' EXIT
  out="$tmpdir/bundle.json.gz"
fi
(cd "$root" && go run ./hack/kubeschemas -out "$out" "${args[@]}")

if $check; then
  if ! cmp -s "$out" "$bundle"; then
    echo "kubeschemas: $bundle is stale: run hack/kubeschemas.sh and commit the result" >&2
    exit 1
  fi
  echo "kubeschemas: $bundle is up to date" >&2
fi
