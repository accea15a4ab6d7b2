#!/usr/bin/env bash
# hack/controlplane.sh — build a Kubernetes control plane for tests from Go modules through the module proxy.
#
# Builds into ${MARINA_CACHE:-$HOME/.cache/marina}/controlplane/<k8s-version>/ and prints that directory on its
# last line (use it as KUBEBUILDER_ASSETS) — one binary, "kubernetes", that runs eight commands, chosen by the name
# it is called by (each is a symlink to it) or by its first argument (kubernetes kube-apiserver --version):
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl
#       k8s.io/kubernetes@$K8S_VERSION with every k8s.io/<staging> module replaced by k8s.io/<staging>@$STAGING_VERSION.
#       kubelet and kube-proxy are for the test cluster's real node (internal/testenv, hack/node.sh), kubectl for
#       what tests do as users do (kubectl rollout undo) at the cluster's version.
#   etcd    go.etcd.io/etcd/server/v3's etcdmain, at the version k8s.io/kubernetes@$K8S_VERSION requires (its
#           integration tests run that etcd), so it adds no dependency version of its own.
#   kwok    sigs.k8s.io/kwok@$KWOK_VERSION's command, built against the cluster's k8s.io libraries (v0.37 where kwok
#           pins v0.36), plus kwok-stages.yaml (the Stage objects of the kwok module's
#           kustomize/stage/{node/fast,node/heartbeat,pod/fast}) for kwok --config.
# One build shares every package the eight have in common (client-go, apimachinery, grpc, etcd's client…) and links
# once: built apart, etcd and kwok compiled ~8 CPU-min of their own for what the control plane already has.
# The build runs in a throwaway module under ${MARINA_CACHE}/controlplane/build/<k8s-version>/kubernetes, never in
# the repository. The binary counts as built once .kubernetes.complete holds what it was built from (the commands
# and kwok's version), written after each command's --version ran, so a second run is instant. Progress and timings
# go to stderr. Cold, alone on 2 cores: ~15 min; 165 MB here. Cached: 0.03 s.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
STAGING_VERSION=${STAGING_VERSION:-v0.${K8S_VERSION#v1.}}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
# k8s.io/kubernetes requires its staging modules as v0.0.0 and replaces them with ./staging/src/k8s.io/<name>,
# which a dependent module cannot use: each gets replaced by k8s.io/<name>@$STAGING_VERSION. The list is read from
# k8s.io/kubernetes's go.mod; this one (v1.37.2 also has cri-streaming and streaming) is the fallback.
STAGING_FALLBACK="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider cluster-bootstrap
code-generator component-base component-helpers controller-manager cri-api cri-client csi-translation-lib
dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy
kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin
sample-controller"

# shellcheck source=lib/build.sh
. "$(dirname "$0")/lib/build.sh"
build_setup controlplane "$K8S_VERSION"
builds=$dir

# newmod DIR NAME: a fresh throwaway module in DIR (go.sum kept: it only speeds up a rebuild).
newmod() {
  mkdir -p "$1"
  rm -f "$1/go.mod"
  printf 'module marina.local/controlplane/%s\n\ngo 1.26\n' "$2" >"$1/go.mod"
}

# kwok_stages DIR: kwok-stages.yaml in DIR, from the Stage files of the kwok module the build in DIR uses.
kwok_stages() {
  local moddir f n=0
  moddir=$(cd "$1" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  : >"$1/kwok-stages.yaml"
  for f in "$moddir"/kustomize/stage/node/fast/*.yaml "$moddir"/kustomize/stage/node/heartbeat/*.yaml "$moddir"/kustomize/stage/pod/fast/*.yaml; do
    [ -e "$f" ] || continue
    case $(basename "$f") in kustomization.yaml | kustomization.yml) continue ;; esac
    grep -q '^kind: Stage$' "$f" || continue
    { echo "---"; echo "# sigs.k8s.io/kwok@$KWOK_VERSION/${f#"$moddir"/}"; sed '1{/^---[[:space:]]*$/d}' "$f"; } >>"$1/kwok-stages.yaml"
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || { log "kwok: no Stage files under $moddir/kustomize/stage"; exit 1; }
  log "kwok $KWOK_VERSION: $n Stage files in kwok-stages.yaml"
}

build() {
  local names="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd kwok"
  local recipe="$names; kwok $KWOK_VERSION" n
  if [ "$(cat "$out/.kubernetes.complete" 2>/dev/null)" = "$recipe" ] && [ -x "$out/kubernetes" ] && [ -s "$out/kwok-stages.yaml" ]; then
    log "$names ($K8S_VERSION, kwok $KWOK_VERSION): cached"
    return
  fi
  local t0 dir=$builds/kubernetes minor=${K8S_VERSION#v1.} gomod staging etcd_version=${ETCD_VERSION:-}
  t0=$(date +%s)
  minor=${minor%%.*}
  gomod=$(cd "$builds" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  staging=$(sed -n 's|^[[:space:]]*\(replace[[:space:]]*\)\{0,1\}k8s\.io/\([a-z0-9-]*\)[[:space:]]*=>[[:space:]]*\./staging/src/k8s\.io/.*|\2|p' "$gomod" | sort -u)
  [ -n "$staging" ] || { log "no ./staging replaces in $gomod: using the built-in list"; staging=$STAGING_FALLBACK; }
  if [ -z "$etcd_version" ]; then
    etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2; exit}' "$gomod")
    [ -n "$etcd_version" ] || { log "etcd: no go.etcd.io/etcd/server/v3 in k8s.io/kubernetes@$K8S_VERSION's go.mod; set ETCD_VERSION"; exit 1; }
  fi
  log "kubernetes $K8S_VERSION, etcd $etcd_version and kwok $KWOK_VERSION in one binary: building in $dir (~15 min cold)"
  newmod "$dir" kubernetes
  {
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for n in $staging; do echo "	k8s.io/$n => k8s.io/$n $STAGING_VERSION"; done
    echo ")"
  } >>"$dir/go.mod"
  cat >"$dir/main.go" <<'GO'
// Command kubernetes runs kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl,
// etcd or kwok, chosen by the name it is called by (symlinks) or by its first argument. Generated by marina's
// hack/controlplane.sh.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	_ "time/tzdata" // CronJob time zones (kube-apiserver, kube-controller-manager)

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kwokconfig "sigs.k8s.io/kwok/pkg/config"
	kwok "sigs.k8s.io/kwok/pkg/kwok/cmd"
	kwoklog "sigs.k8s.io/kwok/pkg/log"
	"sigs.k8s.io/kwok/pkg/utils/signals"
)

func main() {
	name, args := filepath.Base(os.Args[0]), append([]string{}, os.Args[1:]...)
	switch name {
	case "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl", "etcd", "kwok":
	default:
		if len(args) > 0 {
			name, args = args[0], args[1:]
		}
	}
	var command *cobra.Command
	switch name {
	case "kube-apiserver":
		command = apiserver.NewAPIServerCommand()
	case "kube-controller-manager":
		command = controllermanager.NewControllerManagerCommand()
	case "kube-scheduler":
		command = scheduler.NewSchedulerCommand()
	case "kubelet":
		command = kubelet.NewKubeletCommand(context.Background())
	case "kube-proxy":
		command = proxy.NewProxyCommand()
	case "kubectl":
		command = kubectl.NewDefaultKubectlCommand()
	case "etcd":
		etcdmain.Main(append([]string{"etcd"}, args...))
		return
	case "kwok":
		runKwok(args)
		return
	default:
		fmt.Fprintln(os.Stderr, "usage: kubernetes kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|kubectl|etcd|kwok [flags] (or call it by one of those names)")
		os.Exit(2)
	}
	command.SetArgs(args)
	os.Exit(cli.Run(command))
}

// runKwok runs kwok as sigs.k8s.io/kwok/cmd/kwok's main does: its config flags are read from os.Args, and its
// command from the context it is executed with.
func runKwok(args []string) {
	os.Args = append([]string{"kwok"}, args...)
	// component-base's verflag puts a --version that is not a bool on pflag.CommandLine at init, and cobra merges
	// pflag.CommandLine into every command's flags: kwok's own --version would clash with it.
	pflag.CommandLine = pflag.NewFlagSet("kwok", pflag.ExitOnError)
	flags := pflag.NewFlagSet("global", pflag.ContinueOnError)
	flags.ParseErrorsAllowlist.UnknownFlags = true
	flags.Usage = func() {}
	ctx, logger := kwoklog.InitFlags(signals.SetupSignalContext(), flags)
	ctx, err := kwokconfig.InitFlags(ctx, flags)
	if err != nil {
		fmt.Fprint(os.Stderr, flags.FlagUsages())
		logger.Error("Init config flags", "err", err)
		os.Exit(1)
	}
	command := kwok.NewCommand(ctx)
	command.PersistentFlags().AddFlagSet(flags)
	if err := command.ExecuteContext(ctx); err != nil {
		logger.Error("Execute exit", "err", err)
		os.Exit(1)
	}
}
GO
  (
    cd "$dir"
    go get "k8s.io/kubernetes@$K8S_VERSION" "go.etcd.io/etcd/server/v3@$etcd_version" "sigs.k8s.io/kwok@$KWOK_VERSION"
    go build -trimpath -o kubernetes.tmp \
      -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" .
  )
  kwok_stages "$dir"
  rm -f "$out"/.*.complete "$out/etcd" "$out/kwok" # the markers and binaries of the separate builds before this one
  mv "$dir/kubernetes.tmp" "$out/kubernetes"
  mv "$dir/kwok-stages.yaml" "$out/kwok-stages.yaml"
  for n in $names; do
    ln -sfn kubernetes "$out/$n"
    case $n in
    kubectl) grep -qF "Client Version: $K8S_VERSION" <<<"$("$out/$n" version --client)" || { log "kubectl version --client does not print $K8S_VERSION"; exit 1; } ;;
    etcd) grep -qF "etcd Version: ${etcd_version#v}" <<<"$("$out/$n" --version)" || { log "etcd --version does not print ${etcd_version#v}"; exit 1; } ;;
    kwok) grep -qF "kwok version $KWOK_VERSION" <<<"$("$out/$n" --version)" || { log "kwok --version does not print $KWOK_VERSION"; exit 1; } ;;
    *) grep -qF "Kubernetes $K8S_VERSION" <<<"$("$out/$n" --version)" || { log "$n --version does not print $K8S_VERSION"; exit 1; } ;;
    esac
  done
  echo "$recipe" >"$out/.kubernetes.complete"
  log "$names: built in $(elapsed "$t0") ($(du -h "$out/kubernetes" | cut -f1))"
}

start=$(date +%s)
build
log "all binaries in $out ($(du -sh "$out" | cut -f1), $(elapsed "$start"))"
echo "$out"
