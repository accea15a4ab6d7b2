#!/usr/bin/env bash
# hack/prometheus.sh — install Prometheus from Debian (2.42, with promtool) for internal/analysis's tests and the e2e
# tests, and print the path of the prometheus binary. Nothing is started: the tests run their own server per test
# (prometheus --config.file=F --storage.tsdb.path=DIR --web.listen-address=127.0.0.1:P). Idempotent; instant when
# installed. Installing needs root (or sudo).
set -euo pipefail
if ! command -v prometheus >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "prometheus: run as root to install the Debian package" >&2; exit 2; }
    sudo="sudo"
  fi
  echo "prometheus: installing the Debian package" >&2
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2
fi
command -v prometheus
