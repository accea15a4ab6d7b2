#!/usr/bin/env bash
# Push and pull time of a model as an OCI artifact, `marina model push` / `marina model pull` against `oras push` /
# `oras pull` (oras v1.3.6, built from its Go module) on the same file, the same loopback registry (CNCF
# distribution from hack/registry.sh), interleaved.
#
#   bash bench/oci/run.sh [SIZE_MIB]     # default 100
#   BASELINE=HEAD~3 bash bench/oci/run.sh  # also marina built from that revision, in the same rounds
#
# Each push goes to a fresh repository, so every run uploads the whole file (a registry skips blobs a repository
# already has); each pull goes to an empty directory. marina's push includes packing (the tar layer is hashed in a
# first pass, streamed to the registry in a second) and its commit; its pull includes checking the layer's and the
# model file's digests and the rename. oras pushes the file as a raw layer and pulls it back by tag.
set -euo pipefail

size_mib=${1:-100}
if ! [[ $size_mib =~ ^[0-9]+$ ]] || ((size_mib < 1)); then
	echo "usage: bash bench/oci/run.sh [SIZE_MIB >= 1]" >&2
	exit 2
fi
runs=5
oras_version=v1.3.6
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${MARINA_CACHE:-$HOME/.cache/marina}
work=$(mktemp -d)
registry_pid=
cleanup() {
	if [[ -n $registry_pid ]]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

registry=$(bash "$root/hack/registry.sh" | tail -n 1)
oras=$cache/bench/oras-$oras_version/oras
if [[ ! -x $oras ]]; then
	echo "building oras $oras_version from its Go module (~2 min once)…" >&2
	GOBIN=$(dirname "$oras") CGO_ENABLED=0 go install "oras.land/oras/cmd/oras@$oras_version"
fi
(cd "$root" && CGO_ENABLED=0 go build -o "$work/marina" ./cmd/marina)
marina=$work/marina
tools=(marina)
if [[ -n ${BASELINE:-} ]]; then
	. "$root/bench/baseline.sh"
	(cd "$root" && CGO_ENABLED=0 baseline_build "$work/marina-base" ./cmd/marina)
	tools+=(marina-base)
fi

# The registry on a free loopback port, storage in the work directory.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: "$host", secret: bench}
YAML
OTEL_TRACES_EXPORTER=none OTEL_SDK_DISABLED=true "$registry" serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -fs "http://$host/v2/" >/dev/null && break; sleep 0.1; done

# A model repository with one registered version: SIZE_MIB of random data (incompressible).
export DOCKER_CONFIG=$work/docker GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
model=$work/model.bin
head -c $((size_mib << 20)) /dev/urandom >"$model"
"$marina" init "$work/repo" >/dev/null
"$marina" --repo "$work/repo" model register bench --file "$model" --version 1.0.0 --uri https://example.com/model.bin >/dev/null
want=sha256:$(sha256sum "$model" | cut -d' ' -f1)

# now_ns; elapsed START: milliseconds since START.
elapsed() { echo $((($(date +%s%N) - $1) / 1000000)); }
declare -A best
record() { if [[ -z ${best[$1]:-} ]] || (($2 < best[$1])); then best[$1]=$2; fi; }

cat "$model" >/dev/null # page cache warm for every tool alike
declare -A uri # each marina's pushed artifact, pulled back by the same marina
for i in $(seq "$runs"); do
	for m in "${tools[@]}"; do
		start=$(date +%s%N)
		"$work/$m" --repo "$work/repo" model push bench@1.0.0 --to "$host/$m-$i" --file "$model" --plain-http >/dev/null
		record "$m push" "$(elapsed "$start")"
		uri[$m]=$("$marina" --repo "$work/repo" model show bench@1.0.0 -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["artifact"]["uri"])')
	done

	start=$(date +%s%N)
	(cd "$work" && "$oras" push --plain-http --no-tty "$host/oras-$i:1.0.0" "model.bin:application/vnd.oci.image.layer.v1.tar" >/dev/null)
	record "oras push" "$(elapsed "$start")"

	for m in "${tools[@]}"; do
		rm -rf "$work/pull-$m"
		start=$(date +%s%N)
		"$work/$m" model pull "${uri[$m]}" --dir "$work/pull-$m" --plain-http >/dev/null
		record "$m pull" "$(elapsed "$start")"
		[[ sha256:$(sha256sum "$work/pull-$m/model.bin" | cut -d' ' -f1) == "$want" ]] || { echo "$m pulled another file" >&2; exit 1; }
	done
	rm -rf "$work/pull-oras"

	start=$(date +%s%N)
	"$oras" pull --plain-http --no-tty "$host/oras-$i:1.0.0" -o "$work/pull-oras" >/dev/null
	record "oras pull" "$(elapsed "$start")"
	[[ sha256:$(sha256sum "$work/pull-oras/model.bin" | cut -d' ' -f1) == "$want" ]] || { echo "oras pulled another file" >&2; exit 1; }
done

ratio() { awk -v a="${best[$1]}" -v b="${best[$2]}" 'BEGIN { printf "%.2f", a / b }'; }
printf '\nmodel as an OCI artifact, %d MiB, loopback registry (distribution %s), best of %d interleaved runs (process start included)\n' \
	"$size_mib" "$("$registry" --version | awk '{print $3}')" "$runs"
for k in "${tools[@]/%/ push}" "oras push" "${tools[@]/%/ pull}" "oras pull"; do
	printf '  %-17s %7d ms  (%s MiB/s)\n' "$k" "${best[$k]}" "$(awk -v mib="$size_mib" -v ms="${best[$k]}" 'BEGIN { printf "%.0f", mib / (ms / 1000) }')"
done
printf '  ratio oras/marina: push %s, pull %s   (goal >= 0.8: marina within 25%% of oras)\n' "$(ratio "oras push" "marina push")" "$(ratio "oras pull" "marina pull")"
if [[ -n ${BASELINE:-} ]]; then
	baseline_ratio "push time" "${best[marina push]}" "${best[marina-base push]}"
	baseline_ratio "pull time" "${best[marina pull]}" "${best[marina-base pull]}"
fi
. bench/goal.sh
for op in push pull; do
	goal oci "$op time, oras/marina, $size_mib MiB" ">= 0.8" "$(ratio "oras $op" "marina $op") (${best[oras $op]} / ${best[marina $op]} ms, best of $runs)" "$(awk -v r="$(ratio "oras $op" "marina $op")" 'BEGIN { print (r >= 0.8) }')"
done
