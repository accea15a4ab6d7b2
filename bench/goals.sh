#!/usr/bin/env bash
# Updates the table of goals in bench/README.md (between its "goals" markers) from the "goal" rows that benchmarks
# print (bench/goal.sh): a goal measured in LOG gets its new row, dated today; the others keep theirs, so one
# benchmark run alone updates its own rows.
#
#   bash bench/goals.sh LOG [README]
set -euo pipefail
log=$1
readme=${2:-$(dirname "$0")/README.md}
begin='<!-- goals: rows written by bench/goals.sh from benchmark runs (make bench); edit the scripts, not the rows -->'
end='<!-- /goals -->'
grep -qxF "$begin" "$readme" && grep -qxF "$end" "$readme" || {
	echo "$readme has no goals markers" >&2
	exit 1
}
today=$(date -u +%F)
new=$(mktemp)
trap 'rm -f "$new"' EXIT
# Rows: | bench | goal | target | measured | verdict | date |, keyed by bench and goal.
awk -F'\t' -v today="$today" -v begin="$begin" -v end="$end" '
	FNR == NR { if ($1 == "goal") { for (i = 2; i <= 6; i++) gsub(/\|/, "\\|", $i); key = $2 SUBSEP $3; row[key] = "| " $2 " | " $3 " | " $4 " | " $5 " | " $6 " | " today " |"; if (!(key in seen)) { order[++n] = key; seen[key] = 1 } } next }
	$0 == begin { print; inside = 1; next }
	$0 == end {
		print "| benchmark | goal | target | measured | verdict | measured on |"
		print "| --- | --- | --- | --- | --- | --- |"
		for (i = 1; i <= kept; i++) { k = keptkey[i]; print (k in row ? row[k] : keptrow[i]); done[k] = 1 }
		for (i = 1; i <= n; i++) if (!(order[i] in done)) print row[order[i]]
		inside = 0
		print; next
	}
	inside {
		if ($0 ~ /^\| / && $0 !~ /^\| (benchmark|---) /) {
			split($0, c, " \\| "); k = substr(c[1], 3) SUBSEP c[2]
			keptkey[++kept] = k; keptrow[kept] = $0
		}
		next
	}
	{ print }' "$log" "$readme" >"$new"
cp "$new" "$readme"
