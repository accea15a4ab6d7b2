# Shared by bench/serve and bench/router: load from wrk (Debian's package) and the CPU time a server spends per
# request it answers, read from /proc before and after. Source it; it defines functions only.

# wrk_install: installs wrk with apt-get when missing and running as root.
wrk_install() {
	command -v wrk >/dev/null && return
	if [[ $(id -u) -ne 0 ]]; then
		echo "this benchmark needs wrk: apt-get install wrk" >&2
		exit 1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}

# wrk_post FILE BODY: writes a wrk script that POSTs the JSON BODY.
wrk_post() {
	cat >"$1" <<-LUA
		wrk.method = "POST"
		wrk.headers["Content-Type"] = "application/json"
		wrk.body = '$2'
	LUA
}

# wrk_cpu PID…: the user + system time of the processes so far, in clock ticks.
wrk_cpu() {
	local p t=0
	for p in "$@"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$t"
}

# wrk_round OUT NAME URL SCRIPT CONNECTIONS DURATION PID…: one measurement after a 1 s warm-up: appends
# "NAME requests/s CPU-µs-per-request" to OUT, the CPU being that of the PIDs (the server's processes). A non-2xx
# answer fails the run: errors are not throughput.
wrk_round() {
	local out=$1 name=$2 url=$3 script=$4 connections=$5 duration=$6
	shift 6
	wrk -t1 -c"$connections" -d1s -s "$script" "$url" >/dev/null
	local before after log
	log=$(mktemp)
	before=$(wrk_cpu "$@")
	wrk -t1 -c"$connections" -d"$duration" -s "$script" "$url" >"$log"
	after=$(wrk_cpu "$@")
	if grep -q "Non-2xx\|Socket errors" "$log"; then
		echo "$name answered errors:" >&2
		cat "$log" >&2
		rm -f "$log"
		exit 1
	fi
	awk -v name="$name" -v c="$((after - before))" -v hz="$(getconf CLK_TCK)" '
		/ requests in / { n = $1 } /^Requests\/sec:/ { r = $2 }
		END { printf "%s %.0f %.1f\n", name, r, c / hz * 1e6 / n }' "$log" >>"$out"
	rm -f "$log"
}

# wrk_summary OUT NAME COLUMN: min, median and max of a column (2: requests/s, 3: CPU µs per request) of NAME's
# rounds in OUT.
wrk_summary() {
	awk -v s="$2" '$1 == s { print $'"$3"' }' "$1" | sort -g |
		awk '{ v[NR] = $1 } END { printf "%9.1f %9.1f %9.1f", v[1], (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[NR] }'
}

# wrk_median OUT NAME COLUMN: the median alone.
wrk_median() { wrk_summary "$@" | awk '{ print $2 }'; }

# wrk_table OUT WIDTH NAME…: the min / median / max table of each NAME's requests/s and CPU µs per request in OUT.
wrk_table() {
	local out=$1 width=$2 name
	shift 2
	printf "%-${width}s %9s %9s %9s\n" "" min median max
	for name in "$@"; do
		printf "%-${width}s %s\n" "$name: requests/s" "$(wrk_summary "$out" "$name" 2)"
		printf "%-${width}s %s\n" "$name: CPU µs per request" "$(wrk_summary "$out" "$name" 3)"
	done
}
