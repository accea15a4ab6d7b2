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
# Everything runs on this machine's cores: upstreams, proxies and the load generator (bench/router/loadgen) compete,
# as they would on one node. Installs nginx-light with apt-get when nginx is missing and running as root.
set -euo pipefail

duration=${1:-3s}
rate=${2:-5000}
shadow_delay=${3:-200ms}
model_latency=${4:-0}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

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
	mkdir "$work/base"
	git archive "$BASELINE" | tar -x -C "$work/base"
	(cd "$work/base" && go build -o "$work/marina-base" ./cmd/marina)
fi
go build -o "$work/upstream" ./bench/router/upstream
go build -o "$work/loadgen" ./bench/router/loadgen

# start NAME CMD…: runs CMD in the background, logging to $work/NAME.log.
start() {
	local name=$1
	shift
	"$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
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
	base_target=",marina-base=http://$(address router-base 's|routing bench on http://\([0-9.:]*\).*|\1|p')/v2/models/bench/infer"
fi
marina_shadow=$(address router-shadow 's|routing bench on http://\([0-9.:]*\).*|\1|p')

nginx_plain=127.0.0.1:$(free_port)
nginx_shadow=127.0.0.1:$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 8192; }
http {
	access_log off;
	client_body_temp_path $work/nginx/body;
	proxy_temp_path $work/nginx/proxy;
	fastcgi_temp_path $work/nginx/fastcgi;
	uwsgi_temp_path $work/nginx/uwsgi;
	scgi_temp_path $work/nginx/scgi;
	upstream v1 { server $fast; keepalive 256; }
	upstream v2 { server $fast; keepalive 256; }
	upstream shadow { server $slow; keepalive 256; }
	split_clients "\${request_id}" \$version { 90% v1; * v2; }
	split_clients "\${request_id}m" \$mirrored { 10% 1; * ""; }
	proxy_http_version 1.1;
	proxy_set_header Connection "";
	server {
		listen $nginx_plain;
		location / { proxy_pass http://\$version; }
	}
	server {
		listen $nginx_shadow;
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
start nginx nginx -c "$work/nginx.conf" -p "$work/nginx"
up=""
for _ in $(seq 50); do
	if (exec 3<>"/dev/tcp/${nginx_plain%:*}/${nginx_plain#*:}") 2>/dev/null &&
		(exec 3<>"/dev/tcp/${nginx_shadow%:*}/${nginx_shadow#*:}") 2>/dev/null; then
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
