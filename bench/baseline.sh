# Shared by the benchmarks: with BASELINE=REV set, a benchmark also builds marina from that revision and measures it
# in the same interleaved rounds, so a change proves itself against the previous build on the same machine at the
# same moment. Source it; it defines functions only.

# baseline_build OUT MAIN [FALLBACK]: builds the package MAIN (e.g. ./cmd/marina) of revision $BASELINE into OUT,
# from a copy of that revision's tree (git archive) that is removed afterwards; FALLBACK is built instead when the
# revision has no MAIN (e.g. a revision from before a command was split off). The caller's environment (CGO_ENABLED,
# GOFLAGS) applies.
baseline_build() {
	local out=$1 main=$2 src
	src=$(mktemp -d)
	git archive "$BASELINE" | tar -x -C "$src"
	if [[ ! -d $src/$main && -n ${3:-} ]]; then main=$3; fi
	(cd "$src" && go build -o "$out" "$main")
	rm -rf "$src"
}

# baseline_ratio NAME A B: prints "ratio marina/marina-base (REV), NAME: A/B", two decimals.
baseline_ratio() {
	awk -v n="$1" -v a="$2" -v b="$3" -v rev="$BASELINE" 'BEGIN { printf "ratio marina/marina-base (%s), %s: %.2f\n", rev, n, a / b }'
}
