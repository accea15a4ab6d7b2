#!/usr/bin/env bash
# Sign and verify time of a model (marina model sign / serve --verify-key: hash the file, sign or verify a Sigstore
# bundle) against what a user would otherwise run: openssl dgst -sha256 -sign / -verify over the same file with
# the same ECDSA P-256 key.
#
#   bash bench/sign/run.sh [SIZE_MIB]     # default 100
#   BASELINE=HEAD~3 bash bench/sign/run.sh  # also marina signing built from that revision, in the same rounds
#
# The model is written to a temporary directory, removed on exit.
set -euo pipefail

size_mib=${1:-100}
if ! [[ $size_mib =~ ^[0-9]+$ ]] || ((size_mib < 1)); then
	echo "usage: bash bench/sign/run.sh [SIZE_MIB >= 1]" >&2
	exit 2
fi
runs=5
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data=$work/model.bin

command -v openssl >/dev/null || { echo "need openssl: apt-get install openssl" >&2; exit 1; }
head -c $((size_mib << 20)) /dev/urandom >"$data"

(cd "$root" && go build -o "$work/signbench" ./bench/sign/signbench)
if [[ -n ${BASELINE:-} ]]; then
	. "$root/bench/baseline.sh"
	(cd "$root" && baseline_build "$work/signbench-base" ./bench/sign/signbench)
fi
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/key.pem" 2>/dev/null
openssl pkey -in "$work/key.pem" -pubout -out "$work/pub.pem"
cat "$data" >/dev/null # page cache warm: CPU against CPU

# Interleaved (marina sign, openssl sign, marina verify, openssl verify, …) so load from elsewhere hits every tool
# alike; each one's best run counts. Every verification must succeed.
declare -A best_ns
time_ns() {
	local name=$1
	shift
	local start ns
	start=$(date +%s%N)
	"$@" >/dev/null
	ns=$(($(date +%s%N) - start))
	if [[ -z ${best_ns[$name]:-} ]] || ((ns < best_ns[$name])); then best_ns[$name]=$ns; fi
}
for _ in $(seq "$runs"); do
	time_ns marina-sign "$work/signbench" sign "$work/key.pem" "$data" "$work/model.sigstore.json"
	time_ns openssl-sign openssl dgst -sha256 -sign "$work/key.pem" -out "$work/model.sig" "$data"
	time_ns marina-verify "$work/signbench" verify "$work/pub.pem" "$data" "$work/model.sigstore.json"
	time_ns openssl-verify openssl dgst -sha256 -verify "$work/pub.pem" -signature "$work/model.sig" "$data"
	if [[ -n ${BASELINE:-} ]]; then
		time_ns base-sign "$work/signbench-base" sign "$work/key.pem" "$data" "$work/base.sigstore.json"
		time_ns base-verify "$work/signbench-base" verify "$work/pub.pem" "$data" "$work/base.sigstore.json"
	fi
done
# A tampered copy must be refused by both.
cp "$data" "$work/tampered.bin"
printf 'x' | dd of="$work/tampered.bin" bs=1 seek=$((size_mib << 19)) conv=notrunc status=none
if "$work/signbench" verify "$work/pub.pem" "$work/tampered.bin" "$work/model.sigstore.json" 2>/dev/null; then
	echo "marina verified a tampered file" >&2
	exit 1
fi
if openssl dgst -sha256 -verify "$work/pub.pem" -signature "$work/model.sig" "$work/tampered.bin" >/dev/null 2>&1; then
	echo "openssl verified a tampered file" >&2
	exit 1
fi

ms() { awk -v ns="${best_ns[$1]}" 'BEGIN { printf "%.1f", ns / 1e6 }'; }
ratio() { awk -v a="${best_ns[$1]}" -v b="${best_ns[$2]}" 'BEGIN { printf "%.2f", a / b }'; }
printf '\nsign/verify, %d MiB model, ECDSA P-256, best of %d interleaved runs (process start included), page cache warm (%s)\n' "$size_mib" "$runs" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
printf '  %-40s %8s ms\n' "marina sign (Sigstore bundle)" "$(ms marina-sign)" "openssl dgst -sha256 -sign" "$(ms openssl-sign)" \
	"marina verify (bundle + file digest)" "$(ms marina-verify)" "openssl dgst -sha256 -verify" "$(ms openssl-verify)"
printf '  %-40s %8s   (time marina / time openssl)\n' "ratio sign" "$(ratio marina-sign openssl-sign)" "ratio verify" "$(ratio marina-verify openssl-verify)"
printf '  a copy with one byte changed: refused by both\n'
if [[ -n ${BASELINE:-} ]]; then
	printf '  %-40s %8s ms\n' "marina-base ($BASELINE) sign" "$(ms base-sign)" "marina-base ($BASELINE) verify" "$(ms base-verify)"
	baseline_ratio "sign time" "${best_ns[marina-sign]}" "${best_ns[base-sign]}"
	baseline_ratio "verify time" "${best_ns[marina-verify]}" "${best_ns[base-verify]}"
fi
