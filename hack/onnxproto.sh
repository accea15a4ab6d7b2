#!/usr/bin/env bash
# hack/onnxproto.sh — regenerate internal/model/onnxpb/onnx.pb.go, the Go types of ONNX's protobuf messages.
#
# Source: onnx.proto of ONNX 1.12.0 (IR version 8; Apache-2.0, Copyright ONNX Project Contributors), as Debian's
# libonnx-dev package ships it; its sha256 is pinned below. It is converted to proto3 the way ONNX publishes its own
# onnx.proto3 (syntax line changed, `optional` labels dropped): implicit presence and packed repeated scalars, so a
# model marshals to the same bytes as with the proto3 types marina used before (hack/genmodels/testdata/SHA256SUMS
# pins them). Tools: protoc from Debian (protobuf-compiler), protoc-gen-go from the google.golang.org/protobuf
# version in go.mod. Usage: bash hack/onnxproto.sh
set -euo pipefail
cd "$(dirname "$0")/.."
deb_version=1.12.0-2+b4
proto_sha256=a96f50c0fe1ff9180b6025843d4f7efcf53b024c83db55a36cd24a1e44345182
out=internal/model/onnxpb

for tool in protoc apt-get dpkg-deb go; do
  command -v "$tool" >/dev/null || { echo "onnxproto: $tool is needed (protoc: apt-get install -y protobuf-compiler)" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && apt-get download -qq "libonnx-dev=$deb_version" >/dev/null 2>&1) ||
  { echo "onnxproto: apt-get download libonnx-dev=$deb_version failed (apt-get update first?)" >&2; exit 2; }
dpkg-deb -x "$work"/libonnx-dev_*.deb "$work/deb"
proto="$work/deb/usr/include/onnx/onnx.proto"
if ! echo "$proto_sha256  $proto" | sha256sum --check --status; then
  echo "onnxproto: onnx.proto of libonnx-dev $deb_version has sha256 $(sha256sum "$proto" | cut -d' ' -f1), want $proto_sha256" >&2
  exit 1
fi
mkdir -p "$work/src"
sed -e 's/^syntax = "proto2";/syntax = "proto3";/' -e 's/^\([[:space:]]*\)optional /\1/' "$proto" >"$work/src/onnx.proto"

go build -o "$work/bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
mkdir -p "$work/gen"
PATH="$work/bin:$PATH" protoc --proto_path="$work/src" --go_out="$work/gen" --go_opt=paths=source_relative \
  --go_opt=Monnx.proto=github.com/marina-dev/marina/$out onnx.proto
mv "$work/gen/onnx.pb.go" "$out/onnx.pb.go"
echo "wrote $out/onnx.pb.go"
