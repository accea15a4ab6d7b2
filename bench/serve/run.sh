#!/usr/bin/env bash
# marina serve (Open Inference Protocol v2 over loopback HTTP, the marina-serve binary the serve image runs) on the
# example iris classifier: throughput under wrk and the server's CPU time per request (its user + system time over
# the requests it answered), in ROUNDS interleaved rounds, against issue 20's goals (>= 10,000 req/s, <= 50 µs of
# CPU per request); then bench/serve/loadgen's latencies over HTTP and ONNX Runtime called in-process on the same
# inputs, the ceiling. About 1 min.
#
#   bash bench/serve/run.sh                      # ROUNDS=5 DURATION=5s CONNECTIONS=8
#   BASELINE=HEAD~3 bash bench/serve/run.sh      # also marina-serve built from that revision, in the same rounds
#   PROFILE=cpu.pprof bash bench/serve/run.sh    # also a 10 s CPU profile of marina serve under wrk (--pprof-addr)
#   BINARY=1 bash bench/serve/run.sh             # also the same request in binary form (marina-binary), same rounds,
#                                                # and JSON against binary on a larger tensor (openWakeWord's speech
#                                                # embedding model, [1,76,32,1] FP32: 2,432 values in, 96 out)
#
# Needs ONNX Runtime (hack/onnxruntime.sh) and wrk (installed with apt-get when missing and running as root). Server
# and load generator share the machine's cores, as a sidecar and its client would.
set -euo pipefail

rounds=${ROUNDS:-5}
duration=${DURATION:-5s}
connections=${CONNECTIONS:-8}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
model=examples/ml-platform/models/iris-classifier/artifacts/v1.0.0.onnx
export GOFLAGS=${GOFLAGS:--trimpath}

. bench/wrk.sh
. bench/goal.sh
wrk_install

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-$(bash hack/onnxruntime.sh)}
go build -o "$work/marina" ./cmd/marina-serve
go build -o "$work/loadgen" ./bench/serve/loadgen
servers=(marina)
if [[ -n ${BASELINE:-} ]]; then
	. bench/baseline.sh
	baseline_build "$work/marina-base" ./cmd/marina-serve ./cmd/marina # before the cgo split, marina served
	servers+=(marina-base)
fi

# start NAME: runs $work/NAME serve in the background; sets url[NAME] and pid[NAME].
declare -A url pid
start() {
	"$work/$1" serve --model "$model" --name iris --addr 127.0.0.1:0 --max-concurrency "$connections" \
		${PROFILE:+--pprof-addr 127.0.0.1:0} >"$work/$1.log" 2>&1 &
	pids+=($!)
	pid[$1]=$!
	for _ in $(seq 100); do
		url[$1]=$(sed -n 's|^serving .* on \(http://[0-9.:]*\) .*|\1|p' "$work/$1.log")
		[[ -n ${url[$1]} ]] && return
		sleep 0.1
	done
	echo "$1 serve did not start:" >&2
	cat "$work/$1.log" >&2
	exit 1
}

body='{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}'
wrk_post "$work/post.lua" "$body"
for s in "${servers[@]}"; do
	start "$s"
	# The answer must be the model's, not an error wrk would count as a reply.
	curl -fsS -d "$body" "${url[$s]}/v2/models/iris/infer" | grep -q '"probabilities"'
done

# BINARY=1: the same iris request as the binary tensor data extension sends it (tritonclient.http's default: the
# input's 16 bytes after the JSON, the output asked for in binary), to the same marina serve in the same rounds.
variants=("${servers[@]}")
if [[ -n ${BINARY:-} ]]; then
	json='{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}],"parameters":{"binary_data_output":true}}'
	# 5.1, 3.5, 1.4, 0.2 as little-endian float32s, in octal for printf and in decimal for Lua.
	{ printf '%s' "$json"; printf '\063\063\243\100\000\000\140\100\063\063\263\077\315\314\114\076'; } >"$work/binary.body"
	cat >"$work/binary.lua" <<-LUA
		wrk.method = "POST"
		wrk.headers["Content-Type"] = "application/octet-stream"
		wrk.headers["Inference-Header-Content-Length"] = "${#json}"
		wrk.body = '$json' .. "\51\51\163\64\0\0\96\64\51\51\179\63\205\204\76\62"
	LUA
	curl -fsS -D "$work/binary.headers" -o /dev/null -H "Inference-Header-Content-Length: ${#json}" \
		--data-binary @"$work/binary.body" "${url[marina]}/v2/models/iris/infer"
	grep -qi '^Inference-Header-Content-Length: ' "$work/binary.headers"
	variants+=(marina-binary)
	url[marina-binary]=${url[marina]}
	pid[marina-binary]=${pid[marina]}

	# The larger tensor: the same 2,432 values (seeded) in JSON and in binary, each read by wrk from a file.
	embedding=$(bash hack/models.sh | tail -n 1)/embedding_model.onnx
	"$work/marina" serve --model "$embedding" --name embed --addr 127.0.0.1:0 --max-concurrency "$connections" >"$work/embed.log" 2>&1 &
	pids+=($!)
	pid[embed-json]=$! pid[embed-binary]=$!
	for _ in $(seq 100); do
		url[embed-json]=$(sed -n 's|^serving .* on \(http://[0-9.:]*\) .*|\1|p' "$work/embed.log")
		[[ -n ${url[embed-json]} ]] && break
		sleep 0.1
	done
	[[ -n ${url[embed-json]} ]] || { echo "the embedding model did not start:" >&2; cat "$work/embed.log" >&2; exit 1; }
	url[embed-binary]=${url[embed-json]}
	embed_header=$(python3 - "$work" <<-'PY'
		import json, random, struct, sys
		random.seed(20)
		values = [random.uniform(-4, 4) for _ in range(76 * 32)]
		values = [struct.unpack("<f", struct.pack("<f", v))[0] for v in values]  # float32, as both bodies send them
		tensor = {"name": "input_1", "shape": [1, 76, 32, 1], "datatype": "FP32"}
		with open(sys.argv[1] + "/embed.json", "w") as f:
		    json.dump({"inputs": [dict(tensor, data=values)]}, f)
		header = json.dumps({"inputs": [dict(tensor, parameters={"binary_data_size": 4 * len(values)})],
		                     "parameters": {"binary_data_output": True}}, separators=(",", ":"))
		with open(sys.argv[1] + "/embed.bin", "wb") as f:
		    f.write(header.encode() + struct.pack("<%df" % len(values), *values))
		print(len(header))
	PY
	)
	for v in json bin; do
		cat >"$work/embed-$v.lua" <<-LUA
			wrk.method = "POST"
			local f = io.open("$work/embed.$v", "rb")
			wrk.body = f:read("*a")
			f:close()
		LUA
	done
	printf 'wrk.headers["Content-Type"] = "application/json"\n' >>"$work/embed-json.lua"
	printf 'wrk.headers["Content-Type"] = "application/octet-stream"\nwrk.headers["Inference-Header-Content-Length"] = "%s"\n' \
		"$embed_header" >>"$work/embed-bin.lua"
	# Both must answer the same 96 values.
	curl -fsS --data-binary @"$work/embed.json" "${url[embed-json]}/v2/models/embed/infer" >"$work/embed-json.out"
	curl -fsS -H "Inference-Header-Content-Length: $embed_header" --data-binary @"$work/embed.bin" \
		"${url[embed-json]}/v2/models/embed/infer" >"$work/embed-bin.out"
	python3 - "$work" <<-'PY'
		import json, struct, sys
		j = json.load(open(sys.argv[1] + "/embed-json.out"))["outputs"][0]["data"]
		raw = open(sys.argv[1] + "/embed-bin.out", "rb").read()
		header = json.loads(raw[: raw.index(b"\n") + 1])
		b = struct.unpack("<96f", raw[-384:])
		assert header["outputs"][0]["parameters"]["binary_data_size"] == 384 and len(j) == 96, header
		assert all(abs(x - y) <= 1e-6 * max(1, abs(x)) for x, y in zip(j, b)), "binary and JSON answers differ"
	PY
	variants+=(embed-json embed-binary)
fi
script() {
	case $1 in
	marina-binary) echo "$work/binary.lua" ;;
	embed-json) echo "$work/embed-json.lua" ;;
	embed-binary) echo "$work/embed-bin.lua" ;;
	*) echo "$work/post.lua" ;;
	esac
}
model_of() { if [[ $1 == embed-* ]]; then echo embed; else echo iris; fi; }

echo "marina serve under wrk ($(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), 1 thread, $connections connections), iris [1,4] FP32, $rounds rounds of $duration, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before"
for r in $(seq "$rounds"); do
	for s in "${variants[@]}"; do
		wrk_round "$work/rounds.txt" "$s" "${url[$s]}/v2/models/$(model_of "$s")/infer" "$(script "$s")" "$connections" "$duration" "${pid[$s]}"
	done
done

echo
wrk_table "$work/rounds.txt" 34 "${variants[@]}"
median() { wrk_median "$work/rounds.txt" "$@"; }
echo "goals (issue 20): >= 10,000 requests/s: $(awk -v m="$(median marina 2)" 'BEGIN { print (m >= 10000 ? "met" : "not met") }'); <= 50 µs CPU per request: $(awk -v m="$(median marina 3)" 'BEGIN { print (m <= 50 ? "met" : "not met") }') (medians)"
if [[ -n ${BASELINE:-} ]]; then
	echo "ratio marina/marina-base ($BASELINE), medians: requests/s $(awk -v a="$(median marina 2)" -v b="$(median marina-base 2)" 'BEGIN { printf "%.2f", a / b }'), CPU per request $(awk -v a="$(median marina 3)" -v b="$(median marina-base 3)" 'BEGIN { printf "%.2f", a / b }')"
fi
if [[ -n ${BINARY:-} ]]; then
	echo "ratio marina-binary/marina (binary vs JSON request), medians: requests/s $(awk -v a="$(median marina-binary 2)" -v b="$(median marina 2)" 'BEGIN { printf "%.2f", a / b }'), CPU per request $(awk -v a="$(median marina-binary 3)" -v b="$(median marina 3)" 'BEGIN { printf "%.2f", a / b }')"
	echo "ratio embed-binary/embed-json (2,432 values in, 96 out), medians: requests/s $(awk -v a="$(median embed-binary 2)" -v b="$(median embed-json 2)" 'BEGIN { printf "%.2f", a / b }'), CPU per request $(awk -v a="$(median embed-binary 3)" -v b="$(median embed-json 3)" 'BEGIN { printf "%.2f", a / b }')"
fi
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after"
triple() { wrk_summary "$work/rounds.txt" marina "$1" | awk -v u="$2" '{ printf "%.0f / %.0f / %.0f %s", $1, $2, $3, u }'; }
goal serve "throughput under wrk, iris, $connections connections" ">= 10,000 req/s" "$(triple 2 req/s)" "$(awk -v m="$(median marina 2)" 'BEGIN { print (m >= 10000) }')"
goal serve "server CPU per request" "<= 50 µs" "$(wrk_summary "$work/rounds.txt" marina 3 | awk '{ printf "%.1f / %.1f / %.1f µs", $1, $2, $3 }')" "$(awk -v m="$(median marina 3)" 'BEGIN { print (m <= 50) }')"

if [[ -n ${PROFILE:-} ]]; then
	profiles=$(sed -n 's|^profiles on \(http://[0-9.:]*\)/.*|\1|p' "$work/marina.log")
	wrk -t1 -c"$connections" -d12s -s "$work/post.lua" "${url[marina]}/v2/models/iris/infer" >/dev/null &
	curl -fsS -o "$PROFILE" "$profiles/debug/pprof/profile?seconds=10"
	wait $!
	echo "CPU profile of marina serve under wrk: $PROFILE (go tool pprof -top $PROFILE)"
fi

echo
"$work/loadgen" -model "$model" -url "${url[marina]}" -name iris -duration "$duration" -concurrency "$connections"
