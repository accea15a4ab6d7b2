#!/usr/bin/env bash
# hack/runc.sh — install Debian's runc (1.1.5, built with libseccomp) for test/image, which runs marina's images
# under it, and print its path: always /usr/sbin/runc, never a runc on ~/go/bin (one built from the Go module
# without libseccomp fails on the default seccomp profile). Idempotent; instant when installed. Needs root (or sudo).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
[ -x /usr/sbin/runc ] || apt_install runc runc
echo /usr/sbin/runc
