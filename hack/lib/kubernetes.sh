# hack/lib/kubernetes.sh — sourced by the hack/ scripts that build from k8s.io/kubernetes's module graph
# (controlplane.sh, addons.sh).
#
# kubernetes_module DIR NAME: makes DIR a fresh throwaway module marina.local/NAME that requires
# k8s.io/kubernetes@$K8S_VERSION (default v1.37.2) with every k8s.io/<staging> module replaced by
# k8s.io/<staging>@v0.<minor>. k8s.io/kubernetes requires its staging modules as v0.0.0 and replaces them with
# ./staging/src/k8s.io/<name>, which a dependent module cannot use. The list is read from k8s.io/kubernetes's go.mod;
# KUBERNETES_STAGING_FALLBACK (v1.37.2's) is used when that has none. Every binary built in such a module resolves
# the dependencies it shares with the control plane to the control plane's versions, so a cold Go build cache
# compiles them once, not once per binary (metrics-server: ~1,320 of its ~1,350 packages are the control plane's).
# go.sum is kept: it only speeds up a rebuild. Needs build_setup (hack/lib/build.sh) first.

K8S_VERSION=${K8S_VERSION:-v1.37.2}
KUBERNETES_STAGING_FALLBACK="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api cri-client cri-streaming
csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator kube-controller-manager
kube-proxy kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin
sample-controller streaming"

kubernetes_module() {
  local mod=$1 name=$2 gomod staging n version=v0.${K8S_VERSION#v1.}
  mkdir -p "$mod"
  gomod=$(cd "$mod" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  [ -f "$gomod" ] || { log "could not download k8s.io/kubernetes@$K8S_VERSION"; exit 1; }
  staging=$(sed -n 's|^[[:space:]]*\(replace[[:space:]]*\)\{0,1\}k8s\.io/\([a-z0-9-]*\)[[:space:]]*=>[[:space:]]*\./staging/src/k8s\.io/.*|\2|p' "$gomod" | sort -u)
  [ -n "$staging" ] || { log "no ./staging replaces in $gomod: using the built-in list"; staging=$KUBERNETES_STAGING_FALLBACK; }
  {
    printf 'module marina.local/%s\n\ngo 1.26\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$name" "$K8S_VERSION"
    for n in $staging; do printf '\tk8s.io/%s => k8s.io/%s %s\n' "$n" "$n" "$version"; done
    printf ')\n'
  } >"$mod/go.mod"
}
