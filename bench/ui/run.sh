#!/usr/bin/env bash
# marina ui's matrix page on a synthetic repository (default 1,000 models × 3 environments, bench/validate/gen)
# against what a user would otherwise run for the same view: `marina status -o json`, on the same repository, in
# the same interleaved rounds (MARINA_BENCH_RUNS, default 7).
#
#   bash bench/ui/run.sh [MODELS]                   # ~1 min at 1,000
#   BASELINE=HEAD~3 bash bench/ui/run.sh            # also marina ui built from that revision, in the same rounds
#
# The page's server time is curl's time to the first byte on loopback: the dashboard renders a page whole before it
# sends it, and reads the repository afresh on every request (nothing is cached between rounds). marina status runs
# as a user runs it, process start included. Also measured: a model's page, and the dashboard's peak RSS.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
models=${1:-1000}
if ! [[ $models =~ ^[0-9]+$ ]] || ((models < 1)); then
	echo "usage: bash bench/ui/run.sh [MODELS >= 1]" >&2
	exit 2
fi
runs=${MARINA_BENCH_RUNS:-7}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

export GOFLAGS=${GOFLAGS:--trimpath}
CGO_ENABLED=0 go build -o "$work/marina" ./cmd/marina
if [[ -n ${BASELINE:-} ]]; then
	. bench/baseline.sh
	CGO_ENABLED=0 baseline_build "$work/marina-base" ./cmd/marina
fi
echo "generating $models models × 3 environments with marina's own packages..."
go run ./bench/validate/gen -out "$work/repo" -models "$models"
repo=$work/repo

# start_ui NAME: runs $work/NAME ui on the repository; sets urls[NAME] once it listens.
declare -A urls
start_ui() {
	(cd "$repo" && exec "$work/$1" ui --addr 127.0.0.1:0 >"$work/$1.out" 2>"$work/$1.err") &
	pids+=($!)
	local u=
	for _ in $(seq 100); do
		u=$(sed -n 's|^marina ui on \(http://[^ ]*\)$|\1|p' "$work/$1.out")
		[[ -n $u ]] && break
		sleep 0.1
	done
	if [[ -z $u ]]; then
		echo "$1 ui did not start:" >&2
		cat "$work/$1.out" "$work/$1.err" >&2
		exit 1
	fi
	urls[$1]=$u
}
start_ui marina
ui_pid=${pids[0]}
[[ -z ${BASELINE:-} ]] || start_ui marina-base

now() { date +%s.%N; }
# page PATH prints the server time of one GET of PATH, in seconds; the page must be a 200.
page() { # page PATH [UI]: the server time of UI's (default marina's) PATH
	local out
	out=$(curl -s -o "$work/page.html" -w '%{http_code} %{time_starttransfer}' "${urls[${2:-marina}]}${1#/}")
	if [[ ${out% *} != 200 ]]; then
		echo "GET $1: ${out% *}" >&2
		exit 1
	fi
	echo "${out#* }"
}
status() { # prints the wall time of marina status -o json, in seconds
	local t0 t1
	t0=$(now)
	(cd "$repo" && "$work/marina" status -o json >"$work/status.json")
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

page / >/dev/null # warm the page cache; the page and status must work
status >/dev/null
cells=$(grep -c 'class="cell' "$work/page.html")
html=$(wc -c <"$work/page.html")
rows=$(grep -c '^      "environment"' "$work/status.json")
if ((cells != 3 * models || rows != 3 * models)); then
	echo "want $((3 * models)) cells and rows: the matrix has $cells cells, marina status $rows rows" >&2
	exit 1
fi
[[ -z ${BASELINE:-} ]] || page / marina-base >/dev/null
: >"$work/rounds.txt"
for _ in $(seq "$runs"); do
	echo "matrix $(page /)" >>"$work/rounds.txt"
	[[ -z ${BASELINE:-} ]] || echo "matrix-base $(page / marina-base)" >>"$work/rounds.txt"
	echo "status $(status)" >>"$work/rounds.txt"
	echo "model $(page /models/model-0001)" >>"$work/rounds.txt"
done
rss=$(awk '/^VmHWM:/ { print $2 / 1024 }' "/proc/$ui_pid/status")

# stat WHAT: min / median / max over the rounds, in seconds.
stat() {
	awk -v w="$1" '$1 == w { print $2 }' "$work/rounds.txt" | sort -g |
		awk '{ v[NR] = $1 } END { printf "%8.3f %8.3f %8.3f", v[1], (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[NR] }'
}
med() { stat "$1" | awk '{ print $2 }'; }
printf '\nmarina ui, %d models × 3 environments (%s of HTML), %d cores, %d interleaved rounds, load average %s after\n' \
	"$models" "$(awk -v b="$html" 'BEGIN { printf "%.1f MB", b / 1e6 }')" "$(nproc)" "$runs" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '  %-62s %8s %8s %8s\n' "" min median max
printf '  %-62s %s\n' "matrix page, server time s (goal < 1 at 1,000 models)" "$(stat matrix)"
printf '  %-62s %s\n' "marina status -o json, wall s (process start included)" "$(stat status)"
printf '  %-62s %s\n' "a model's page, server time s" "$(stat model)"
printf '  %-62s %8.0f\n' "marina ui peak RSS, MB" "$rss"
awk -v m="$(med matrix)" -v s="$(med status)" 'BEGIN { printf "  ratio matrix page / marina status, medians   %.2f\n", m / s }'
if [[ -n ${BASELINE:-} ]]; then
	printf '  %-62s %s\n' "marina-base ($BASELINE) matrix page, server time s" "$(stat matrix-base)"
	baseline_ratio "matrix page server time, medians" "$(med matrix)" "$(med matrix-base)"
fi
. bench/goal.sh
if ((models == 1000)); then
	goal ui "matrix page server time, $models models × 3 environments" "< 1 s" \
		"$(stat matrix | awk '{ printf "%.2f / %.2f / %.2f s", $1, $2, $3 }') (marina status -o json: $(med status | awk '{ printf "%.2f s", $1 }'))" \
		"$(awk -v m="$(med matrix)" 'BEGIN { print (m < 1) }')"
fi
