# hack/lib/build.sh — sourced by the hack/ scripts that build third-party binaries from Go modules into a versioned
# cache (controlplane.sh, flux.sh, argocd.sh, gitea.sh).
#
# build_setup NAME VERSION: sets cache (${MARINA_CACHE:-~/.cache/marina}/NAME), out (cache/VERSION: the binaries)
# and dir (cache/build/VERSION: throwaway build modules, never the repository), checks for go, exports the settings
# of a static build outside any workspace, and takes the cache's lock so a second run waits, then finds everything
# built. log and elapsed report progress on stderr, prefixed with NAME.

build_setup() {
  build_name=$1
  cache=${MARINA_CACHE:-$HOME/.cache/marina}/$1
  out=$cache/$2
  dir=$cache/build/$2
  mkdir -p "$out" "$dir"
  command -v go >/dev/null || { echo "$build_name: go is needed" >&2; exit 2; }
  export GOFLAGS=-mod=mod CGO_ENABLED=0 GOWORK=off GO111MODULE=on
  unset GOOS GOARCH
  if command -v flock >/dev/null; then
    exec 9>"$cache/.lock"
    flock 9
  fi
}

log() { echo "$build_name: $(date -u +%H:%M:%S) $*" >&2; }

elapsed() {
  local s=$(($(date +%s) - $1))
  printf '%dm%02ds' $((s / 60)) $((s % 60))
}
