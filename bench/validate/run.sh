#!/usr/bin/env bash
# validate + render of a synthetic repository (default 1,000 models × 3 environments) against what a user would
# otherwise run on the same rendered output: `kustomize build | kubeconform`, both built from Go modules, with
# kubeconform reading the same schemas offline. marina runs MARINA_BENCH_RUNS rounds (default 5) of validate then
# render, each timed with its CPU seconds and peak RSS (GNU time), reported as min / median / max against issue 20's
# goals (< 2 s wall, < 2.5 CPU-seconds, < 300 MB); the baseline once. Then, on the real-world corpus of
# internal/validate/testdata/corpus (its objects copied MARINA_BENCH_CORPUS_COPIES times, default 160: ~1,800
# objects), objects/s of marina validate and of kubeconform -strict on the same files.
#
#   bash bench/validate/run.sh [MODELS]                 # ~4 min at 1,000, most of it the kustomize baseline
#   BASELINE=HEAD~3 bash bench/validate/run.sh          # also marina built from that revision, in the same rounds
#   KUSTOMIZE=0 bash bench/validate/run.sh 10000        # marina only: its time and memory at another size
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
models=${1:-1000}
runs=${MARINA_BENCH_RUNS:-5}
cache=${MARINA_CACHE:-$HOME/.cache/marina}
bin="$cache/bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$bin"
[ "${KUSTOMIZE:-1}" = 0 ] || [ -x "$bin/kustomize" ] || GOBIN="$bin" go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.0
[ "${KUSTOMIZE:-1}" = 0 ] || [ -x "$bin/kubeconform" ] || GOBIN="$bin" go install github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0
if [[ ! -x /usr/bin/time ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "bench/validate needs GNU time: apt-get install time" >&2
    exit 1
  fi
  apt-get install -y -qq time >/dev/null
fi
export GOFLAGS=${GOFLAGS:--trimpath}
go build -o "$work/marina" ./cmd/marina
marinas=(marina)
if [[ -n ${BASELINE:-} ]]; then
  . bench/baseline.sh
  baseline_build "$work/marina-base" ./cmd/marina
  marinas+=(marina-base)
fi
go run ./bench/validate/kcschemas -out "$work/schemas" >/dev/null
echo "generating $models models × 3 environments with marina's own packages..."
go run ./bench/validate/gen -out "$work/repo" -models "$models"
repo="$work/repo"
objects=$(find "$repo/applications" -name '*.yaml' ! -name kustomization.yaml ! -name model.yaml ! -name config.yaml | wc -l)

now() { date +%s.%N; }
# best RUNS CMD... prints the best wall time of RUNS runs of CMD, in seconds.
best() {
  local n=$1; shift
  local b=""
  for _ in $(seq "$n"); do
    local t0 t1
    t0=$(now); "$@" >/dev/null; t1=$(now)
    b=$(echo "$t0 $t1 ${b:-1e9}" | awk '{d=$2-$1; print (d<$3)?d:$3}')
  done
  echo "$b"
}
marina_validate() { (cd "$repo" && "$work/marina" validate); }
baseline() {
  for env in dev staging prod; do
    "$bin/kustomize" build "$repo/gitops/flux/apps/$env" | tee "$work/$env.yaml" |
      "$bin/kubeconform" -strict -summary -schema-location "$work/schemas/{{ .Group }}/{{ .ResourceAPIVersion }}/{{ .ResourceKind }}.json"
  done
}
kubeconform_only() {
  for env in dev staging prod; do
    "$bin/kubeconform" -strict -summary -schema-location "$work/schemas/{{ .Group }}/{{ .ResourceAPIVersion }}/{{ .ResourceKind }}.json" "$work/$env.yaml"
  done
}

marina_validate >/dev/null   # warm the page cache; validate must also pass
# Rounds: each marina build runs validate then render; GNU time gives wall, CPU and peak RSS of each.
for round in $(seq "$runs"); do
  for m in "${marinas[@]}"; do
    for cmd in validate render; do
      (cd "$repo" && /usr/bin/time -f "$m $cmd %e %U %S %M" -a -o "$work/rounds.txt" "$work/$m" "$cmd" >/dev/null)
    done
  done
done
# stat M COLUMN: min / median / max over the rounds of marina build M, of a per-round figure:
# wall (validate + render), cpu (user + system of both) or rss (the larger peak, MB).
stat() {
  awk -v m="$1" -v what="$2" '$1 == m {
      n[$2]++; r = n[$2]
      if (what == "wall") v[r] += $3; else if (what == "cpu") v[r] += $4 + $5; else if ($6 / 1024 > v[r]) v[r] = $6 / 1024
    } END { for (i = 1; i <= n["render"]; i++) print v[i] }' "$work/rounds.txt" | sort -g |
    awk '{ v[NR] = $1 } END { printf "%8.2f %8.2f %8.2f", v[1], (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[NR] }'
}
one() { # one M CMD: the best wall time of one command, for the baseline's ratios
  awk -v m="$1" -v c="$2" '$1 == m && $2 == c && (b == "" || $3 < b) { b = $3 } END { print b }' "$work/rounds.txt"
}
v=$(one marina validate)
both=$(stat marina wall | awk '{ print $1 }')
if [[ ${KUSTOMIZE:-1} != 0 ]]; then
  echo "running the baseline once (kustomize is slow with a thousand bases)..."
  k=$(best 1 baseline)
  kc=$(best 3 kubeconform_only)

  # The real-world corpus: every object file verdicts.txt names, copied into a repository made by marina init.
  copies=${MARINA_BENCH_CORPUS_COPIES:-160}
  corpus=internal/validate/testdata/corpus
  crepo="$work/corpus-repo"
  "$work/marina" init "$crepo" >/dev/null
  sed -i 's/^spec:$/spec:\n  gatewayAPI: {channel: experimental}/' "$crepo/marina.yaml"
  go run ./bench/validate/kcschemas -gateway-api-channel experimental -out "$work/schemas-x" >/dev/null
  per_copy=$(grep -cE '^[a-z].* (accept|reject)$' "$corpus/verdicts.txt")
  files=$(awk '/^[a-z].* (accept|reject)$/ {print $1}' "$corpus/verdicts.txt" | sort -u)
  for i in $(seq "$copies"); do
    d="$crepo/infrastructure/corpus/$i"
    for f in $files; do
      mkdir -p "$d/$(dirname "$f")"
      cp "$corpus/$f" "$d/$f"
    done
  done
  cobjects=$((per_copy * copies))
  marina_corpus() { (cd "$crepo" && "$work/marina" validate 2>/dev/null) || true; }
  kubeconform_corpus() {
    find "$crepo/infrastructure/corpus" -name '*.yaml' -print0 | xargs -0 "$bin/kubeconform" -strict -summary \
      -schema-location "$work/schemas-x/{{ .Group }}/{{ .ResourceAPIVersion }}/{{ .ResourceKind }}.json" || true
  }
  cv=$(best "$runs" marina_corpus)
  ck=$(best 3 kubeconform_corpus)
fi

printf '\nvalidate + render, %d models × 3 environments (%d rendered objects), %d cores, %d rounds, load average %s after\n' "$models" "$objects" "$(nproc)" "$runs" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '  %-64s %8s %8s %8s\n' "" min median max
for m in "${marinas[@]}"; do
  name=$m
  [[ $m == marina-base ]] && name="marina-base ($BASELINE)"
  printf '  %-64s %s\n' "$name validate + render, wall s (goal < 2)" "$(stat "$m" wall)"
  printf '  %-64s %s\n' "$name validate + render, CPU s (goal < 2.5)" "$(stat "$m" cpu)"
  printf '  %-64s %s\n' "$name peak RSS, MB (goal < 300 at 3,000 models)" "$(stat "$m" rss)"
done
if [[ -n ${BASELINE:-} ]]; then
  printf '  ratio marina/marina-base, medians: wall %.2f, CPU %.2f, peak RSS %.2f\n' \
    "$(awk -v a="$(stat marina wall | awk '{print $2}')" -v b="$(stat marina-base wall | awk '{print $2}')" 'BEGIN { print a / b }')" \
    "$(awk -v a="$(stat marina cpu | awk '{print $2}')" -v b="$(stat marina-base cpu | awk '{print $2}')" 'BEGIN { print a / b }')" \
    "$(awk -v a="$(stat marina rss | awk '{print $2}')" -v b="$(stat marina-base rss | awk '{print $2}')" 'BEGIN { print a / b }')"
fi
. bench/goal.sh
med() { stat marina "$1" | awk '{ print $2 }'; }
# The goals are set at 1,000 models for time and at 3,000 for memory.
if ((models == 1000)); then
  goal validate "validate + render wall time, $models models" "< 2 s" "$(stat marina wall | awk '{ printf "%.2f / %.2f / %.2f s", $1, $2, $3 }')" "$(awk -v m="$(med wall)" 'BEGIN { print (m < 2) }')"
  goal validate "validate + render CPU time, $models models" "< 2.5 s" "$(stat marina cpu | awk '{ printf "%.2f / %.2f / %.2f s", $1, $2, $3 }')" "$(awk -v m="$(med cpu)" 'BEGIN { print (m < 2.5) }')"
fi
if ((models >= 3000)); then
  goal validate "peak RSS, $models models" "< 300 MB" "$(stat marina rss | awk '{ printf "%.0f / %.0f / %.0f MB", $1, $2, $3 }')" "$(awk -v m="$(med rss)" 'BEGIN { print (m < 300) }')"
fi
if [[ ${KUSTOMIZE:-1} == 0 ]]; then
  exit 0
fi
printf '  kustomize build | kubeconform -strict, per environment                             %6.2f s\n' "$k"
printf '  kubeconform -strict alone on the built YAML (schemas only, no kustomize)           %6.2f s\n' "$kc"
awk -v k="$k" -v b="$both" -v kc="$kc" -v v="$v" 'BEGIN {
  printf "  ratio baseline / marina (best validate + render)   %6.1fx   (goal >= 5x)\n", k/b
  printf "  ratio kubeconform alone / marina validate     %6.1fx\n", kc/v }'
printf '\nreal-world corpus (testdata/corpus x %d copies: %d objects), best of %d / 3\n' "$copies" "$cobjects" "$runs"
awk -v n="$cobjects" -v m="$cv" -v k="$ck" 'BEGIN {
  printf "  marina validate                 %6.2f s   %8.0f objects/s\n", m, n/m
  printf "  kubeconform -strict             %6.2f s   %8.0f objects/s\n", k, n/k
  printf "  ratio marina / kubeconform      %6.1fx   (goal > 1)\n", k/m }'
goal validate "speed-up over kustomize build piped to kubeconform, $models models" ">= 5x" "$(awk -v k="$k" -v b="$both" 'BEGIN { printf "%.1fx", k / b }')" "$(awk -v k="$k" -v b="$both" 'BEGIN { print (k / b >= 5) }')"
goal validate "real-world corpus, marina/kubeconform objects/s" "> 1" "$(awk -v m="$cv" -v k="$ck" 'BEGIN { printf "%.2fx", k / m }')" "$(awk -v m="$cv" -v k="$ck" 'BEGIN { print (k / m > 1) }')"
