#!/usr/bin/env bash
# hack/gen-api.sh — regenerate the code and manifests of the marina.dev API from the types in api/:
#   api/v1alpha1/zz_generated.deepcopy.go   (controller-gen object)
#   config/crd/bases/*.yaml                 (controller-gen crd; config/crd embeds them for marina validate)
#   charts/marina/crds, templates/clusterrole.yaml (copies of the two above for the Helm chart, with the
#                                            router's and doctor's config/rbac/{router,doctor}_role.yaml as
#                                            templates/{router,doctor}-clusterrole.yaml)
#   config/rbac/role.yaml                   (controller-gen rbac, from the markers on internal/controller.Reconciler;
#                                            config/rbac embeds it for marina init)
#
# controller-gen is built once into ${MARINA_CACHE:-$HOME/.cache/marina}/bin/controller-gen-$CONTROLLER_TOOLS_VERSION,
# outside the module, so go.mod and go.sum stay as they are.
set -euo pipefail

CONTROLLER_TOOLS_VERSION=v0.23.0

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${MARINA_CACHE:-$HOME/.cache/marina}/bin"
gen="$bin/controller-gen-$CONTROLLER_TOOLS_VERSION"
if [[ ! -x "$gen" ]]; then
  mkdir -p "$bin"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && GOBIN="$tmp" GOFLAGS=-mod=mod go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION")
  mv "$tmp/controller-gen" "$gen"
fi

cd "$root"
"$gen" object paths=./api/... crd paths=./api/... output:crd:artifacts:config=config/crd/bases
"$gen" rbac:roleName=marina-controller paths=./internal/controller/... output:rbac:artifacts:config=config/rbac

# The Helm chart carries the same CRD and ClusterRole (Helm installs crds/ before the templates).
cp config/crd/bases/*.yaml charts/marina/crds/
cp config/rbac/role.yaml charts/marina/templates/clusterrole.yaml
cp config/rbac/router_role.yaml charts/marina/templates/router-clusterrole.yaml
cp config/rbac/doctor_role.yaml charts/marina/templates/doctor-clusterrole.yaml
