# goal BENCH WHAT TARGET MEASURED MET: prints one row of bench/README.md's table of goals, which bench/goals.sh
# collects from a run's output (make bench). MEASURED is min / median / max over the run's rounds where it has
# rounds; MET is 1 when the goal is met. Source it; it defines a function only.
goal() {
	local verdict="not met"
	[[ $5 == 1 ]] && verdict=met
	printf 'goal\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$verdict"
}
