#!/usr/bin/env bash
# How fast marina controller converges N ModelDeployments (default 1000) created at once on the test control plane
# (kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kwok nodes), against N plain Deployments applied
# directly; prints the time to all Ready, the API server's request rate and the controller's peak RSS.
#
#   bash bench/controller/run.sh [N]
#   PROFILE=heap.pprof bash bench/controller/run.sh    # also the controller's heap profile once all are Ready
#   PLAIN=0 bash bench/controller/run.sh               # the controller alone (no plain baseline): its memory
#   BASELINE=HEAD~3 bash bench/controller/run.sh       # also marina controller built from that revision, after it
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export MARINA_BENCH_N=${1:-1000}
export MARINA_BENCH_PLAIN=${PLAIN:-1}
export MARINA_BENCH_PROFILE=${PROFILE:+$(realpath -m "$PROFILE")}
export MARINA_CRDS_DIR=${MARINA_CRDS_DIR:-$(bash hack/crds.sh | tail -n 1)}
export KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS:-$(bash hack/controlplane.sh | tail -n 1)}
export MARINA_BENCH_BASE_BIN=
if [[ -n ${BASELINE:-} ]]; then
	. bench/baseline.sh
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	MARINA_BENCH_BASE_BIN=$work/marina-base
	baseline_build "$MARINA_BENCH_BASE_BIN" ./cmd/marina
fi
go test -v -tags bench -count=1 -timeout 60m -run TestConverge ./bench/controller/ | grep -Ev '^(=== RUN|--- PASS|PASS|ok )'
