#!/usr/bin/env bash
# marina's main job on the bundled example: copy examples/ml-platform to a temporary
# Git repository and walk register → promote → rollback → history, printing each step.
# The demo repository is kept (its path is printed at the start and the end) so you can go on from where it stops.
# Usage: bash hack/demo.sh   (needs Go, git and npm: ONNX Runtime comes from the npm registry)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"

work=$(mktemp -d -t marina-demo.XXXXXX)
build="$work/build"
mkdir -p "$build"
trap 'rm -rf "$build"' EXIT
bold=""; reset=""
if [ -t 1 ]; then bold=$'\e[1m'; reset=$'\e[0m'; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$reset"; }
# run prints and runs a marina command that must exit with the given code.
run() {
  local want=$1; shift
  step marina "$@"
  local code=0
  "$build/marina" "$@" 2>&1 || code=$?
  if [ "$code" != "$want" ]; then
    echo "demo: expected exit $want from 'marina $*', got $code" >&2
    exit 1
  fi
}

echo "demo: fetching ONNX Runtime (npm, cached), building marina and the example's ONNX models (a minute or two the first time)..."
bash hack/onnxruntime.sh >/dev/null
go build -o "$build/marina" ./cmd/marina
go run ./hack/genmodels -out "$work/models" >/dev/null
repo="$work/ml-platform"
cp -r examples/ml-platform "$repo"
export GIT_AUTHOR_NAME="Demo User" GIT_AUTHOR_EMAIL="demo@example.com"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" commit -qm "ml-platform: the example model repository"
cd "$repo"
echo "${bold}Example model repository copied to $repo (kept after the demo)${reset}"

run 0 model list
echo "(--evaluate runs the model in ONNX Runtime on models/iris-classifier/eval/ and records what it measures)"
run 0 model register iris-classifier --version 1.1.0 --file "$work/models/iris-classifier-v2-worse.onnx" \
  --uri oci://registry.example.com/models/iris-classifier:1.1.0 --evaluate
echo "(registering the same file again is a no-op; another file under 1.1.0 is refused)"
run 0 model register iris-classifier --version 1.1.0 --file "$work/models/iris-classifier-v2-worse.onnx" \
  --uri oci://registry.example.com/models/iris-classifier:1.1.0
run 1 model register iris-classifier --version 1.1.0 --file "$work/models/iris-classifier-v1.onnx" \
  --uri oci://registry.example.com/models/iris-classifier:1.1.0
run 0 model show iris-classifier@1.1.0
echo "(the model check: digest, signature, smoke inference, latency, accuracy on the eval set, then marina.yaml's gates — 1.1.0 fails them, exit 1)"
run 1 model check iris-classifier@1.1.0 --file "$work/models/iris-classifier-v2-worse.onnx" --runs 50
echo "(prod requires staging first, so this is refused with exit 1)"
run 1 promote iris-classifier@1.1.0 --env prod
echo "(1.1.0 fails the accuracy gates of marina.yaml: promote checks what validate would and refuses it, exit 1)"
run 1 promote iris-classifier@1.1.0 --env staging
echo "(forcing it anyway, to show the way back; the commit records the override in a Marina-Forced trailer)"
run 0 promote iris-classifier@1.1.0 --env staging --force
echo "(this is what CI says about that commit: 1.1.0 fails the accuracy gates, exit 1)"
run 1 validate --env staging
echo "(iris-classifier uses backend: plain, which cannot run a canary: refused, even with --force, rather than ignored)"
run 1 promote iris-classifier@1.1.0 --env prod --strategy canary --force
run 0 promote iris-classifier@1.1.0 --env prod --force
run 0 rollback iris-classifier --env prod --reason "accuracy dropped in prod"
run 0 rollback iris-classifier --env staging --reason "blocked in prod"
run 0 history iris-classifier
run 0 model list
echo "(promote and rollback committed the re-rendered manifests too; validate checks them against the schemas built into marina)"
run 0 validate
# render writes to a file first: piping it into head would kill it with SIGPIPE under pipefail.
step "marina render --model iris-classifier --env prod   (first 25 lines)"
"$build/marina" render --model iris-classifier --env prod >"$build/render.yaml"
head -n 25 "$build/render.yaml"
echo "(a hand edit of model.yaml without re-rendering is caught as stale output, exit 1)"
sed -i 's/cpuUtilization: 70/cpuUtilization: 60/' applications/iris-classifier/model.yaml
run 1 validate --env prod
run 0 render --write
run 0 validate --env prod
git commit -qam "iris-classifier: scale at 60% CPU"
step git log --oneline
git log --oneline
echo
echo "${bold}Done: every change above is one Git commit; 1.1.0 is blocked and staging and prod run 1.0.0 again.${reset}"
echo "The demo repository is kept at $repo (the example's ONNX files in $work/models); go on with e.g. 'marina --repo $repo history iris-classifier' (make build puts marina in bin/)."
