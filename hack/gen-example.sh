#!/usr/bin/env bash
# Regenerates examples/ml-platform: a repository made with `marina init`, the example
# ONNX models from hack/genmodels registered in it, and two applications deployed.
# Usage: bash hack/gen-example.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

go build -o "$work/marina" ./cmd/marina
marina() { "$work/marina" "$@"; }
export GIT_AUTHOR_NAME="marina example" GIT_AUTHOR_EMAIL="example@marina.dev"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"

repo="$work/ml-platform"
marina init "$repo" --repo-url https://git.example.com/ml-platform.git >/dev/null
# The example deploys to prod, whose policy (as marina init writes it) wants the serving image pinned by digest:
# no release of marina's image exists to pin yet, so the example drops that one rule rather than pin a made-up
# digest (examples/examples_test.go checks that this is the only difference from init's marina.yaml).
sed -i 's/^      requireDigestPinnedImages: true$/      # requireDigestPinnedImages: true  (marina init writes it; pin runtime.image by digest, then restore it)/' "$repo/marina.yaml"
go run ./hack/genmodels -out "$work/gen" >/dev/null

mkdir -p "$repo/models/iris-classifier/artifacts" "$repo/models/iris-classifier/eval" "$repo/models/vision-gpu/artifacts"
cp "$work/gen/iris-classifier-v1.onnx" "$repo/models/iris-classifier/artifacts/v1.0.0.onnx"
cp "$work/gen/iris-eval.csv" "$repo/models/iris-classifier/eval/iris.csv"
cp "$work/gen/vision-gpu.onnx" "$repo/models/vision-gpu/artifacts/v1.0.0.onnx"
mkdir -p "$repo/applications/iris-classifier" "$repo/applications/vision-gpu"
cp examples/templates/iris-classifier/* "$repo/applications/iris-classifier/"
cp examples/templates/vision-gpu/* "$repo/applications/vision-gpu/"
git -C "$repo" add -A
git -C "$repo" commit -qm "example: model artifacts, evaluation set and applications"

cd "$repo"
marina model register iris-classifier --version 1.0.0 --file models/iris-classifier/artifacts/v1.0.0.onnx \
  --metric accuracy=0.98 --label team=example >/dev/null
marina model register vision-gpu --version 1.0.0 --file models/vision-gpu/artifacts/v1.0.0.onnx \
  --label accelerator=nvidia >/dev/null
marina promote iris-classifier@1.0.0 --env staging >/dev/null
marina promote iris-classifier@1.0.0 --env prod >/dev/null
marina promote vision-gpu@1.0.0 --env staging >/dev/null
cd - >/dev/null

rm -rf examples/ml-platform
mkdir -p examples/ml-platform
(cd "$repo" && git archive HEAD) | tar -x -C examples/ml-platform
echo "wrote examples/ml-platform"
