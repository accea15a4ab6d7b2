#!/usr/bin/env bash
# hack/prometheus.sh — install Prometheus from Debian (2.42, with promtool) for internal/analysis's tests and the e2e
# tests, and print the path of the prometheus binary. Nothing is started: the tests run their own server per test
# (prometheus --config.file=F --storage.tsdb.path=DIR --web.listen-address=127.0.0.1:P). Idempotent; instant when
# installed. Installing needs root (or sudo).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
command -v prometheus >/dev/null || apt_install prometheus prometheus
command -v prometheus
