#!/usr/bin/env bash
# Hashing throughput of `marina register` (model.DigestFile) against sha256sum on the same file, plus the peak RSS
# of marina's hashing at two file sizes to show memory does not grow with the model.
#
#   bash bench/register/run.sh [SIZE_MIB]     # default 1024
#   BASELINE=HEAD~3 bash bench/register/run.sh  # also marina's hashing built from that revision, in the same rounds
#
# The data file is kept in $MARINA_BENCH_DIR (default: $TMPDIR/marina-bench-register) and reused when present with
# the right size; files this run creates are removed on exit unless MARINA_BENCH_KEEP=1.
set -euo pipefail

size_mib=${1:-1024}
if ! [[ $size_mib =~ ^[0-9]+$ ]] || ((size_mib < 16)); then
	echo "usage: bash bench/register/run.sh [SIZE_MIB >= 16]" >&2
	exit 2
fi
small_mib=$((size_mib / 4))
runs=3
root=$(cd "$(dirname "$0")/../.." && pwd)
data_dir=${MARINA_BENCH_DIR:-${TMPDIR:-/tmp}/marina-bench-register}
big=$data_dir/data-${size_mib}MiB.bin
small=$data_dir/data-${small_mib}MiB.bin

created=()
work=$(mktemp -d)
cleanup() {
	rm -rf "$work"
	if [[ ${MARINA_BENCH_KEEP:-0} != 1 ]]; then
		for f in "${created[@]}"; do rm -f "$f"; done
		rmdir "$data_dir" 2>/dev/null || true
	fi
}
trap cleanup EXIT

if [[ ! -x /usr/bin/time ]]; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		echo "installing /usr/bin/time (apt package time)…" >&2
		apt-get install -y -qq --no-install-recommends time >/dev/null
	else
		echo "need /usr/bin/time for peak RSS: apt-get install time" >&2
		exit 1
	fi
fi

# ensure_data FILE MIB: random-ish content (incompressible, so no layer below can shortcut the reads).
ensure_data() {
	local f=$1 mib=$2
	if [[ -f $f && $(stat -c %s "$f") == $((mib << 20)) ]]; then
		return
	fi
	mkdir -p "$data_dir"
	created+=("$f")
	if [[ $f == "$small" && -f $big ]]; then
		head -c $((mib << 20)) "$big" >"$f"
	else
		head -c $((mib << 20)) /dev/urandom >"$f"
	fi
}
ensure_data "$big" "$size_mib"
ensure_data "$small" "$small_mib"

(cd "$root" && go build -o "$work/hashbench" ./bench/register/hashbench)
if [[ -n ${BASELINE:-} ]]; then
	. "$root/bench/baseline.sh"
	(cd "$root" && baseline_build "$work/hashbench-base" ./bench/register/hashbench)
fi

# Warm the page cache so both tools hash from memory and the comparison is CPU against CPU.
cat "$big" >/dev/null

# Runs are interleaved (marina, sha256sum, openssl, marina, …) so load from elsewhere on the machine hits every
# tool alike; each tool's best run counts. Every run's digest is checked against sha256sum's.
tools=(marina sha256sum)
# OpenSSL uses the CPU's SHA extensions when present, which coreutils' sha256sum may not: it shows how close
# marina is to the hardware, not only to the baseline.
if command -v openssl >/dev/null; then tools+=(openssl); fi
if [[ -n ${BASELINE:-} ]]; then tools+=(marina-base); fi
declare -A best_ns
want_digest=
for _ in $(seq "$runs"); do
	for tool in "${tools[@]}"; do
		case $tool in
		marina) cmd=("$work/hashbench" -runs 1) ;;
		marina-base) cmd=("$work/hashbench-base" -runs 1) ;;
		sha256sum) cmd=(sha256sum) ;;
		openssl) cmd=(openssl dgst -sha256 -r) ;;
		esac
		start=$(date +%s%N)
		out=$("${cmd[@]}" "$big")
		ns=$(($(date +%s%N) - start))
		digest=$(grep -oE '[0-9a-f]{64}' <<<"$out" | head -1)
		want_digest=${want_digest:-$digest}
		if [[ $digest != "$want_digest" ]]; then
			echo "digest mismatch: $tool says $digest, expected $want_digest" >&2
			exit 1
		fi
		if [[ -z ${best_ns[$tool]:-} ]] || ((ns < best_ns[$tool])); then best_ns[$tool]=$ns; fi
	done
done
mibps() { awk -v mib="$size_mib" -v ns="${best_ns[$1]}" 'BEGIN { printf "%.1f", mib / (ns / 1e9) }'; }
marina_mibps=$(mibps marina)
sha_mibps=$(mibps sha256sum)
openssl_mibps=
if [[ -n ${best_ns[openssl]:-} ]]; then openssl_mibps=$(mibps openssl); fi
marina_digest=$want_digest

# rss_kib FILE: peak resident set of one hashing run, from GNU time.
rss_kib() {
	/usr/bin/time -v "$work/hashbench" -runs 1 "$1" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ { print $2 }'
}
cat "$small" >/dev/null
rss_small=$(rss_kib "$small")
rss_big=$(rss_kib "$big")

ratio=$(awk -v a="$marina_mibps" -v b="$sha_mibps" 'BEGIN { printf "%.2f", a / b }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.95 ? "meets" : "MISSES") }')

printf '\nregister hashing, %d MiB file, best of %d interleaved runs (process start included), page cache warm (%s)\n' "$size_mib" "$runs" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
printf '  %-22s %10s MiB/s\n' "marina (DigestFile)" "$marina_mibps" "sha256sum" "$sha_mibps"
if [[ -n $openssl_mibps ]]; then
	printf '  %-22s %10s MiB/s   (reference only: %s)\n' "openssl dgst -sha256" "$openssl_mibps" "$(openssl version | cut -d' ' -f1-2)"
fi
printf '  %-22s %10s   (goal >= 0.95: %s)\n' "ratio marina/sha256sum" "$ratio" "$verdict"
printf '  %-22s %10s KiB at %d MiB, %s KiB at %d MiB\n' "peak RSS (marina)" "$rss_small" "$small_mib" "$rss_big" "$size_mib"
printf '  digest sha256:%s (identical from every tool)\n' "$marina_digest"
if [[ -n ${BASELINE:-} ]]; then
	printf '  %-22s %10s MiB/s\n' "marina-base ($BASELINE)" "$(mibps marina-base)"
	baseline_ratio "hashing throughput" "$marina_mibps" "$(mibps marina-base)"
fi
. bench/goal.sh
goal register "hashing throughput, marina/sha256sum, $size_mib MiB" ">= 0.95" "$ratio ($marina_mibps / $sha_mibps MiB/s, best of $runs)" "$(awk -v r="$ratio" 'BEGIN { print (r >= 0.95) }')"
