#!/usr/bin/env bash
# Throughput and p50/p99 latency of `marina serve` (Open Inference Protocol v2 over loopback HTTP) against calling
# ONNX Runtime in-process through inference.Session.Run, on the example iris classifier with the same inputs, at
# concurrency 8 for 5 s each (after a 1 s warm-up); prints the serving overhead as a ratio. About 15 s in all.
#
#   bash bench/serve/run.sh [DURATION] [CONCURRENCY]     # defaults 5s 8
#
# Needs ONNX Runtime (installed here with hack/onnxruntime.sh when missing). Server and load generator share the
# machine's cores, as a sidecar and its client would.
set -euo pipefail

duration=${1:-5s}
concurrency=${2:-8}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
model=examples/ml-platform/models/iris-classifier/artifacts/v1.0.0.onnx

work=$(mktemp -d)
server=""
cleanup() {
	if [[ -n $server ]]; then
		kill "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-$(bash hack/onnxruntime.sh)}
go build -o "$work/marina" ./cmd/marina
go build -o "$work/loadgen" ./bench/serve/loadgen

# The limit is the load generator's concurrency: the benchmark measures serving, not shedding.
"$work/marina" serve --model "$model" --name iris-classifier --addr 127.0.0.1:0 --max-concurrency "$concurrency" >"$work/serve.log" 2>&1 &
server=$!
url=""
for _ in $(seq 100); do
	url=$(sed -n 's|.* on \(http://[0-9.:]*\) .*|\1|p' "$work/serve.log")
	[[ -n $url ]] && break
	if ! kill -0 "$server" 2>/dev/null; then
		cat "$work/serve.log" >&2
		exit 1
	fi
	sleep 0.1
done
if [[ -z $url ]]; then
	echo "marina serve did not start:" >&2
	cat "$work/serve.log" >&2
	exit 1
fi

"$work/loadgen" -model "$model" -url "$url" -name iris-classifier -duration "$duration" -concurrency "$concurrency"

kill -TERM "$server"
wait "$server"
server=""
grep -q "stopped serving" "$work/serve.log" || { echo "marina serve did not shut down gracefully:" >&2; cat "$work/serve.log" >&2; exit 1; }
