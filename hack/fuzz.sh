#!/usr/bin/env bash
# hack/fuzz.sh — run every fuzz target for FUZZTIME (default 30s).
#
# Go's fuzzer sometimes ends a run that found nothing with "context deadline exceeded" when -fuzztime runs out
# while a worker is still minimizing a new interesting input (golang/go#56238, #48127). Such a run wrote no
# crasher to testdata/fuzz; it is run once more. A run that writes a crasher, or fails otherwise, fails.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
  for f in $(grep -h '^func Fuzz' "$dir"/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do
    for attempt in 1 2; do
      echo "== $dir $f"
      if go test -run '^$' -fuzz "^$f\$" -fuzztime "$fuzztime" "$dir" 2>&1 | tee "$log"; then
        break
      fi
      if [ "$attempt" = 1 ] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log" &&
        [ -z "$(git status --porcelain -- "$dir/testdata/fuzz")" ]; then
        echo "== $f: the fuzzer's deadline flake (no crasher written): running it once more"
        continue
      fi
      exit 1
    done
  done
done
