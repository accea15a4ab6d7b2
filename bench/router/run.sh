#!/usr/bin/env bash
# marina router against nginx (Debian package) in front of the same fixed fast upstream, in the same run, loopback
# only: added latency p50/p99 at a fixed rate against calling the upstream directly, maximum throughput in a closed
# loop, and the primary's p99 with 10% of requests mirrored to a slow shadow against none. nginx splits with
# split_clients and mirrors with mirror (its config is written here); marina router reads the equivalent file.
# About 30 s.
#
#   bash bench/router/run.sh [DURATION] [RATE] [SHADOW_DELAY] [MODEL_LATENCY]   # defaults 3s 5000 200ms 0
#   BASELINE=HEAD~3 bash bench/router/run.sh                                     # also marina built from that revision
#
# MODEL_LATENCY makes the upstream wait that long before answering, as a model would (e.g. 5ms).
#
# Then wrk (32 connections, ROUNDS interleaved rounds, default 3) against marina router and nginx, each at two cores
# (GOMAXPROCS unset, worker_processes 2) and at one (GOMAXPROCS=1, worker_processes 1): throughput and the proxy's
# CPU µs per proxied request (its processes' user + system time over the requests answered), against issue 20's
# goals (CPU per request <= nginx's, throughput >= nginx's).
#
# Everything runs on this machine's cores: upstreams, proxies and the load generator (bench/router/loadgen) compete,
# as they would on one node. Installs nginx-light with apt-get when nginx is missing and running as root.
set -euo pipefail

duration=${1:-3s}
rate=${2:-5000}
shadow_delay=${3:-200ms}
model_latency=${4:-0}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

. bench/wrk.sh
. bench/goal.sh
wrk_install
if ! command -v nginx >/dev/null; then
	if [[ $(id -u) != 0 ]]; then
		echo "nginx is missing: apt-get install -y nginx-light" >&2
		exit 2
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/marina" ./cmd/marina
if [[ -n ${BASELINE:-} ]]; then
	. bench/baseline.sh
	baseline_build "$work/marina-base" ./cmd/marina
fi
go build -o "$work/upstream" ./bench/router/upstream
go build -o "$work/loadgen" ./bench/router/loadgen

# start NAME CMD…: runs CMD in the background, logging to $work/NAME.log; its PID is started[NAME].
declare -A started
start() {
	local name=$1
	shift
	"$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
	started[$name]=$!
}

# address NAME PATTERN: waits for the sed PATTERN to find an address in $work/NAME.log.
address() {
	local a=""
	for _ in $(seq 100); do
		a=$(sed -n "$2" "$work/$1.log" | head -1)
		[[ -n $a ]] && break
		sleep 0.1
	done
	if [[ -z $a ]]; then
		echo "$1 did not start:" >&2
		cat "$work/$1.log" >&2
		exit 1
	fi
	echo "$a"
}

# free_port: a loopback port nothing listens on, below the ephemeral range: a port there may be the source port of a
# client connection (the load generator opens thousands), which nothing listens on but nginx cannot bind.
free_port() {
	local p low
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range
	while :; do
		p=$((10000 + RANDOM % (low - 10000)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

start fast "$work/upstream" -delay "$model_latency"
start slow "$work/upstream" -delay "$shadow_delay"
fast=$(address fast 's|listening on http://||p')
slow=$(address slow 's|listening on http://||p')

for mode in plain shadow; do
	shadow=""
	if [[ $mode == shadow ]]; then
		shadow="shadow: {version: \"3\", url: \"http://$slow\", percent: 10, timeout: 2s}"
	fi
	cat >"$work/router-$mode.yaml" <<-YAML
		listen: 127.0.0.1:0
		model: bench
		upstreams:
		  - {version: "1", url: "http://$fast", weight: 90}
		  - {version: "2", url: "http://$fast", weight: 10}
		$shadow
	YAML
	start "router-$mode" "$work/marina" router --config "$work/router-$mode.yaml" --reload-interval 0
done
marina_plain=$(address router-plain 's|routing bench on http://\([0-9.:]*\).*|\1|p')
base_target=""
if [[ -n ${BASELINE:-} ]]; then
	start router-base "$work/marina-base" router --config "$work/router-plain.yaml" --reload-interval 0
	base_url=http://$(address router-base 's|routing bench on http://\([0-9.:]*\).*|\1|p')/v2/models/bench/infer
	base_target=",marina-base=$base_url"
fi
marina_shadow=$(address router-shadow 's|routing bench on http://\([0-9.:]*\).*|\1|p')
start router-plain1 env GOMAXPROCS=1 "$work/marina" router --config "$work/router-plain.yaml" --reload-interval 0
marina_plain1=$(address router-plain1 's|routing bench on http://\([0-9.:]*\).*|\1|p')

# nginx_conf NAME WORKERS PLAIN SHADOW: writes $work/NAME.conf, an nginx with WORKERS worker processes serving the
# 90/10 split on PLAIN and the same with 10% mirrored to the slow upstream on SHADOW, its files in $work/NAME/.
nginx_conf() {
	local dir=$work/$1
	mkdir -p "$dir"
	cat >"$dir.conf" <<-EOF
		worker_processes $2;
		daemon off;
		pid $dir/nginx.pid;
		error_log $dir/error.log warn;
		events { worker_connections 8192; }
		http {
			access_log off;
			client_body_temp_path $dir/body;
			proxy_temp_path $dir/proxy;
			fastcgi_temp_path $dir/fastcgi;
			uwsgi_temp_path $dir/uwsgi;
			scgi_temp_path $dir/scgi;
			upstream v1 { server $fast; keepalive 256; }
			upstream v2 { server $fast; keepalive 256; }
			upstream shadow { server $slow; keepalive 256; }
			split_clients "\${request_id}" \$version { 90% v1; * v2; }
			split_clients "\${request_id}m" \$mirrored { 10% 1; * ""; }
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			server {
				listen $3;
				location / { proxy_pass http://\$version; }
			}
			server {
				listen $4;
				location / { mirror /mirror; mirror_request_body on; proxy_pass http://\$version; }
				location = /mirror {
					internal;
					if (\$mirrored = "") { return 204; }
					proxy_read_timeout 2s;
					proxy_pass http://shadow\$request_uri;
				}
			}
		}
	EOF
}
nginx_plain=127.0.0.1:$(free_port)
nginx_shadow=127.0.0.1:$(free_port)
nginx_conf nginx auto "$nginx_plain" "$nginx_shadow"
start nginx nginx -c "$work/nginx.conf" -p "$work/nginx"
# The same with one worker, for the one-core comparison (its shadow server unused).
nginx_plain1=127.0.0.1:$(free_port)
nginx_conf nginx1 1 "$nginx_plain1" "127.0.0.1:$(free_port)"
start nginx1 nginx -c "$work/nginx1.conf" -p "$work/nginx1"
up=""
for _ in $(seq 50); do
	if (exec 3<>"/dev/tcp/${nginx_plain%:*}/${nginx_plain#*:}") 2>/dev/null &&
		(exec 3<>"/dev/tcp/${nginx_shadow%:*}/${nginx_shadow#*:}") 2>/dev/null &&
		(exec 3<>"/dev/tcp/${nginx_plain1%:*}/${nginx_plain1#*:}") 2>/dev/null; then
		up=1
		break
	fi
	sleep 0.1
done
if [[ -z $up ]]; then # e.g. a free port taken meanwhile: measuring nothing would print ratios of nothing
	echo "nginx did not start:" >&2
	cat "$work/nginx.log" "$work/nginx/error.log" >&2 2>/dev/null || true
	exit 1
fi

echo "marina router${BASELINE:+ (marina-base: $BASELINE)} vs nginx $(nginx -v 2>&1 | sed 's|.*/||'), $(nproc) cores, upstream latency $model_latency, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
"$work/loadgen" -rate "$rate" -d "$duration" \
	-targets "direct=http://$fast/v2/models/bench/infer,marina=http://$marina_plain/v2/models/bench/infer,nginx=http://$nginx_plain/v2/models/bench/infer,marina-shadow=http://$marina_shadow/v2/models/bench/infer,nginx-shadow=http://$nginx_shadow/v2/models/bench/infer$base_target"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after the run"

# wrk: throughput and CPU per proxied request. A proxy's CPU is that of all its processes (nginx: master and
# workers; marina: the one process).
nginx_pids() { echo "$(cat "$work/$1/nginx.pid") $(pgrep -P "$(cat "$work/$1/nginx.pid")" | tr '\n' ' ')"; }
wrk_post "$work/post.lua" '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}'
rounds=${ROUNDS:-3}
declare -A wrk_url wrk_pids
wrk_url[marina]=http://$marina_plain/v2/models/bench/infer
wrk_pids[marina]=${started[router-plain]}
wrk_url[nginx]=http://$nginx_plain/v2/models/bench/infer
wrk_pids[nginx]=$(nginx_pids nginx)
wrk_url[marina-1core]=http://$marina_plain1/v2/models/bench/infer
wrk_pids[marina-1core]=${started[router-plain1]}
wrk_url[nginx-1worker]=http://$nginx_plain1/v2/models/bench/infer
wrk_pids[nginx-1worker]=$(nginx_pids nginx1)
proxies=(marina nginx marina-1core nginx-1worker)
if [[ -n ${BASELINE:-} ]]; then
	wrk_url[marina-base]=$base_url
	wrk_pids[marina-base]=${started[router-base]}
	proxies+=(marina-base)
fi
echo
echo "wrk ($(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), 1 thread, 32 connections), $rounds rounds of $duration, load average $(cut -d' ' -f1-3 /proc/loadavg) before"
for _ in $(seq "$rounds"); do
	for p in "${proxies[@]}"; do
		# shellcheck disable=SC2086 # the PIDs are words
		wrk_round "$work/wrk.txt" "$p" "${wrk_url[$p]}" "$work/post.lua" 32 "$duration" ${wrk_pids[$p]}
	done
done
wrk_table "$work/wrk.txt" 40 "${proxies[@]}"
ratio() { awk -v a="$(wrk_median "$work/wrk.txt" "$1" "$3")" -v b="$(wrk_median "$work/wrk.txt" "$2" "$3")" 'BEGIN { printf "%.2f", a / b }'; }
echo "marina/nginx, medians: two cores: requests/s $(ratio marina nginx 2) (goal >= 1), CPU per request $(ratio marina nginx 3) (goal <= 1); one core: requests/s $(ratio marina-1core nginx-1worker 2), CPU per request $(ratio marina-1core nginx-1worker 3)"
if [[ -n ${BASELINE:-} ]]; then
	echo "marina/marina-base ($BASELINE), medians: requests/s $(ratio marina marina-base 2), CPU per request $(ratio marina marina-base 3)"
fi
for cores in two one; do
	m=marina n=nginx
	[[ $cores == one ]] && m=marina-1core n=nginx-1worker
	goal router "CPU per proxied request under wrk, marina/nginx, $cores core(s)" "<= 1" \
		"$(ratio $m $n 3) ($(wrk_median "$work/wrk.txt" $m 3) µs / $(wrk_median "$work/wrk.txt" $n 3) µs, medians)" "$(awk -v r="$(ratio $m $n 3)" 'BEGIN { print (r <= 1) }')"
	goal router "throughput under wrk, marina/nginx, $cores core(s)" ">= 1" \
		"$(ratio $m $n 2) ($(wrk_median "$work/wrk.txt" $m 2) / $(wrk_median "$work/wrk.txt" $n 2) req/s, medians)" "$(awk -v r="$(ratio $m $n 2)" 'BEGIN { print (r >= 1) }')"
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after"
