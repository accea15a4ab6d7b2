#!/usr/bin/env bash
# hack/onnxruntime.sh — install the ONNX Runtime shared library from the npm registry.
# onnxruntime-node ships libonnxruntime.so.1 for linux/x64; this takes that one file out of the package
# tarball (no install scripts run) into ${MARINA_CACHE:-$HOME/.cache/marina}/onnxruntime/<version>/ and prints
# its path. marina finds it there, or wherever ONNXRUNTIME_LIB points. Idempotent; instant when cached.
set -euo pipefail
version=1.30.0
dir="${MARINA_CACHE:-$HOME/.cache/marina}/onnxruntime/$version"
lib="$dir/libonnxruntime.so.1"
if [ ! -s "$lib" ]; then
  command -v npm >/dev/null || { echo "onnxruntime: npm is needed (apt-get install -y npm)" >&2; exit 2; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "onnxruntime: downloading onnxruntime-node@$version from the npm registry (~113 MB)" >&2
  (cd "$work" && npm pack --silent "onnxruntime-node@$version" >/dev/null)
  tar -xzf "$work"/onnxruntime-node-"$version".tgz -C "$work" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  mkdir -p "$dir"
  mv "$work/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$lib.tmp"
  mv "$lib.tmp" "$lib"
fi
echo "$lib"
