#!/usr/bin/env bash
# hack/node.sh — what the test cluster's real node runs besides kubelet and kube-proxy (which hack/controlplane.sh
# builds into its multi-call binary): Debian's containerd, runc, iptables and conntrack, the CNI plugins from their Go
# module, and Kubernetes' pause program from the k8s.io/kubernetes module's own source.
#
# Builds into ${MARINA_CACHE:-$HOME/.cache/marina}/node/<k8s-version>/ and prints that directory on its last line
# (internal/testenv reads it, or MARINA_NODE_ASSETS):
#   cni/bridge, cni/host-local, cni/loopback, cni/portmap
#           github.com/containernetworking/plugins@$CNI_VERSION, one throwaway module (~1 min cold).
#   pause   build/pause/linux/pause.c of k8s.io/kubernetes@$K8S_VERSION (the source of registry.k8s.io/pause),
#           compiled static with the system's C compiler; internal/testenv puts it into the sandbox image it pushes
#           to the test registry, so nothing is pulled from outside.
# Debian packages (apt-get, seconds): containerd (1.6.20: CRI v1, hosts.toml), runc (1.1.5, with libseccomp — see
# hack/runc.sh), iptables (kube-proxy's iptables mode) and conntrack. A binary counts as built once its
# .<name>.complete marker exists, so a second run is instant. Needs root (or sudo) for apt-get.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
CNI_VERSION=${CNI_VERSION:-v1.10.0}
CNI_PLUGINS="main/bridge ipam/host-local main/loopback meta/portmap"

here=$(dirname "$0")
# shellcheck source=lib/apt.sh
. "$here/lib/apt.sh"
bash "$here/runc.sh" >/dev/null
for p in containerd:containerd iptables:iptables conntrack:conntrack; do
  command -v "${p%%:*}" >/dev/null || [ -x "/usr/sbin/${p%%:*}" ] || apt_install node "${p#*:}"
done

# shellcheck source=lib/build.sh
. "$here/lib/build.sh"
build_setup node "$K8S_VERSION"
builds=$dir
done_() { [ -f "$out/.$1.complete" ]; }
mark() { touch "$out/.$1.complete"; }

build_cni() {
  done_ "cni-$CNI_VERSION" && { log "CNI plugins $CNI_VERSION: cached"; return; }
  local t0 dir=$builds/cni p
  t0=$(date +%s)
  log "CNI plugins $CNI_VERSION (github.com/containernetworking/plugins: ${CNI_PLUGINS//main\//}): building in $dir"
  mkdir -p "$dir" "$out/cni"
  rm -f "$dir/go.mod"
  printf 'module marina.local/node/cni\n\ngo 1.26\n' >"$dir/go.mod"
  (
    cd "$dir"
    go get "github.com/containernetworking/plugins@$CNI_VERSION"
    for p in $CNI_PLUGINS; do
      go build -trimpath -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_VERSION" \
        -o "$out/cni/${p#*/}" "github.com/containernetworking/plugins/plugins/$p"
    done
  )
  mark "cni-$CNI_VERSION"
  log "CNI plugins $CNI_VERSION: built in $(elapsed "$t0") ($(du -sh "$out/cni" | cut -f1))"
}

build_pause() {
  done_ pause && [ -x "$out/pause" ] && { log "pause ($K8S_VERSION): cached"; return; }
  local src
  src=$(cd "$builds" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')/build/pause/linux/pause.c
  [ -f "$src" ] || { log "no $src in the k8s.io/kubernetes@$K8S_VERSION module"; exit 1; }
  command -v cc >/dev/null || apt_install node gcc
  log "pause: compiling $src (static)"
  cc -Os -Wall -Werror -static -DVERSION="$K8S_VERSION" -o "$out/pause.tmp" "$src"
  strip "$out/pause.tmp" 2>/dev/null || true
  grep -qF "pause.c $K8S_VERSION" <<<"$("$out/pause.tmp" -v)" || { log "pause -v does not print $K8S_VERSION"; exit 1; }
  mv "$out/pause.tmp" "$out/pause"
  mark pause
}

build_cni
build_pause
log "node assets in $out ($(du -sh "$out" | cut -f1))"
echo "$out"
