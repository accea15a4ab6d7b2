#!/usr/bin/env bash
# hack/chromium.sh — install Debian's chromium-headless-shell (Chromium's headless browser, no X11 or GPU needed) for
# the web UI's tests, which drive it through chromedp (internal/browser/browsertest), and print the path of its
# binary. It prints /usr/lib/chromium/chromium-headless-shell, not the /usr/bin wrapper on PATH: that is a shell
# script running the browser without exec, so stopping it would leave the browser running. Nothing is started: each
# test starts its own browser. Idempotent; instant when installed. Installing needs root (or sudo); ~64 MB, 11 s on
# a fresh machine (measured, apt-get update included).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
bin=/usr/lib/chromium/chromium-headless-shell
[ -x "$bin" ] || apt_install chromium chromium-headless-shell
[ -x "$bin" ] || { echo "chromium: the Debian package chromium-headless-shell installed no $bin" >&2; exit 1; }
echo "$bin"
