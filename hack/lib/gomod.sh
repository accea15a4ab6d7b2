# hack/lib/gomod.sh — sourced by the hack/ scripts that copy files out of a Go module (crds.sh, kubeschemas.sh,
# sarif-schema.sh).
#
# module_dir NAME MODULE@VERSION CHECK [ENV=VALUE…]: downloads the module into the Go module cache with
# `go mod download -json`, run in the current directory with GO111MODULE=on GOFLAGS=-mod=mod and the given
# environment, and prints the module's directory. Call it from a directory outside any module, so the project's
# go.mod is neither read nor changed. When the module has no CHECK (a path relative to its directory; "." for the
# directory itself), it says so on stderr prefixed with NAME, with go's output, and exits 2.

module_dir() {
  local name=$1 modver=$2 check=$3 json dir
  shift 3
  json="$(env GO111MODULE=on GOFLAGS=-mod=mod "$@" go mod download -json "$modver")"
  dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir":[[:space:]]*"\(.*\)",\{0,1\}$/\1/p' | head -n1)"
  if [[ -z "$dir" || ! -e "$dir/$check" ]]; then
    if [[ "$check" == "." ]]; then
      echo "$name: go mod download $modver printed no Dir:" >&2
    else
      echo "$name: $modver has no $check:" >&2
    fi
    printf '%s\n' "$json" >&2
    exit 2
  fi
  printf '%s\n' "$dir"
}
