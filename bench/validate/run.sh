#!/usr/bin/env bash
# validate + render of a synthetic repository (default 1,000 models × 3 environments) against what a user would
# otherwise run on the same rendered output: `kustomize build | kubeconform`, both built from Go modules, with
# kubeconform reading the same schemas offline. Prints wall times (best of N) and the ratio.
# Then, on the real-world corpus of internal/validate/testdata/corpus (its objects copied MARINA_BENCH_CORPUS_COPIES
# times, default 160: ~1,800 objects), objects/s of marina validate and of kubeconform -strict on the same files.
# Usage: bash bench/validate/run.sh [MODELS]      (MARINA_BENCH_RUNS=N repetitions for marina, default 5)
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
[ -x "$bin/kustomize" ] || GOBIN="$bin" go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.0
[ -x "$bin/kubeconform" ] || GOBIN="$bin" go install github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0
go build -o "$work/marina" ./cmd/marina
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
marina_render() { (cd "$repo" && "$work/marina" render); }
marina_both() { marina_validate && marina_render; }
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
v=$(best "$runs" marina_validate)
r=$(best "$runs" marina_render)
both=$(best "$runs" marina_both)
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

printf '\nvalidate + render, %d models × 3 environments (%d rendered objects), 2 cores, best of %d\n' "$models" "$objects" "$runs"
printf '  marina validate (schemas, references, policy, gates, k8s schemas, stale render)  %6.2f s\n' "$v"
printf '  marina render                                                                      %6.2f s\n' "$r"
printf '  marina validate + render                                                           %6.2f s   (goal < 2 s)\n' "$both"
printf '  kustomize build | kubeconform -strict, per environment                             %6.2f s\n' "$k"
printf '  kubeconform -strict alone on the built YAML (schemas only, no kustomize)           %6.2f s\n' "$kc"
awk -v k="$k" -v b="$both" -v kc="$kc" -v v="$v" 'BEGIN {
  printf "  ratio baseline / marina (validate + render)   %6.1fx   (goal >= 5x)\n", k/b
  printf "  ratio kubeconform alone / marina validate     %6.1fx\n", kc/v }'
printf '\nreal-world corpus (testdata/corpus x %d copies: %d objects), best of %d / 3\n' "$copies" "$cobjects" "$runs"
awk -v n="$cobjects" -v m="$cv" -v k="$ck" 'BEGIN {
  printf "  marina validate                 %6.2f s   %8.0f objects/s\n", m, n/m
  printf "  kubeconform -strict             %6.2f s   %8.0f objects/s\n", k, n/k
  printf "  ratio marina / kubeconform      %6.1fx   (goal > 1)\n", k/m }'
