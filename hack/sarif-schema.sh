#!/usr/bin/env bash
# hack/sarif-schema.sh — fetch the official SARIF 2.1.0 JSON Schema (OASIS errata01) that the tests of
# internal/validate check marina's SARIF output against.
#
# The schema comes from the Go module github.com/owenrumney/go-sarif/v3, which ships it verbatim as the raw string
# constant `schema` in pkg/report/v210/sarif/schema.go. This runs `go mod download -json` for that module (outside
# any module, so the project's go.mod is untouched), cuts the constant out, checks its SHA-256 and writes
#   ${MARINA_CACHE:-$HOME/.cache/marina}/sarif/sarif-schema-2.1.0.json
# A file that already matches is not fetched again. Prints the file's path on stdout; progress goes to stderr.
# Tests read it from MARINA_SARIF_SCHEMA or this default path.
set -euo pipefail

# shellcheck source=hack/lib/gomod.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/gomod.sh"

mod="github.com/owenrumney/go-sarif/v3"
ver="v3.3.1"
src="pkg/report/v210/sarif/schema.go"
want="c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"

dir="${MARINA_CACHE:-$HOME/.cache/marina}/sarif"
out="$dir/sarif-schema-2.1.0.json"
mkdir -p "$dir"

sum() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f "$out" && "$(sum "$out")" == "$want" ]]; then
  printf '%s\n' "$out"
  exit 0
fi

echo "sarif-schema: downloading $mod@$ver" >&2
moddir="$(cd "$dir" && module_dir sarif-schema "$mod@$ver" "$src")"

tmp="$(mktemp "$dir/.tmp.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
# The constant runs from the line `const schema = \`{` to the line holding the closing backquote; a Go raw string
# holds no other backquote.
awk '
  /^const schema = `/ { inside = 1; sub(/^const schema = `/, ""); }
  inside && /^`/ { exit }
  inside { print }
' "$moddir/$src" >"$tmp"
got="$(sum "$tmp")"
if [[ "$got" != "$want" ]]; then
  echo "sarif-schema: extracted schema has SHA-256 $got, want $want ($mod@$ver changed?)" >&2
  exit 2
fi
chmod 0644 "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "sarif-schema: -> $out" >&2
printf '%s\n' "$out"
