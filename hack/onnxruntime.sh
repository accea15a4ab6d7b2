#!/usr/bin/env bash
# hack/onnxruntime.sh — install the ONNX Runtime shared library from the npm registry.
# onnxruntime-node ships libonnxruntime.so.1 for linux/x64; this takes that one file out of the package
# tarball (no install scripts run) into ${MARINA_CACHE:-$HOME/.cache/marina}/onnxruntime/<version>/ and prints
# its path. marina finds it there, or wherever ONNXRUNTIME_LIB points. Idempotent; instant when cached.
# The tarball must have the sha256 pinned below, whoever served it; ONNXRUNTIME_TARBALL=FILE installs from a copy
# of it instead of the registry (a machine without npm access).
set -euo pipefail
version=1.30.0
# onnxruntime-node-1.30.0.tgz; npm's integrity for it is
# sha512-twhs1C2C/BFkz1yc5OY0KIU2GUq6DURO7hD4bx5Q2Qy3nAMJwRXW8xU3NVczE29VA9lolLOYepoD8fjTGOfIqw==
tarball_sha256=6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75
dir="${MARINA_CACHE:-$HOME/.cache/marina}/onnxruntime/$version"
lib="$dir/libonnxruntime.so.1"
if [ ! -s "$lib" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  tarball=${ONNXRUNTIME_TARBALL:-}
  if [ -z "$tarball" ]; then
    command -v npm >/dev/null || { echo "onnxruntime: npm is needed (apt-get install -y npm)" >&2; exit 2; }
    echo "onnxruntime: downloading onnxruntime-node@$version from the npm registry (~113 MB)" >&2
    (cd "$work" && npm pack --silent "onnxruntime-node@$version" >/dev/null)
    tarball="$work/onnxruntime-node-$version.tgz"
  fi
  got=$(sha256sum "$tarball" | cut -d' ' -f1)
  if [ "$got" != "$tarball_sha256" ]; then
    echo "onnxruntime: $tarball has sha256 $got, but onnxruntime-node@$version is $tarball_sha256: refusing to install it" \
      "(a tampered or corrupt download: clear npm's copy with 'npm cache clean --force' and retry)" >&2
    exit 1
  fi
  tar -xzf "$tarball" -C "$work" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  mkdir -p "$dir"
  mv "$work/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$lib.tmp"
  mv "$lib.tmp" "$lib"
fi
echo "$lib"
