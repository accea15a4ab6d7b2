# hack/lib/apt.sh — sourced by the hack/ scripts that install a Debian package the tests run (prometheus.sh, runc.sh,
# node.sh, argocd.sh, chromium.sh).
#
# apt_install NAME PACKAGE: installs PACKAGE with apt-get (as root, or through sudo) and says so on stderr, prefixed
# with NAME. The caller checks first whether it is already there. Calls from scripts running at the same time (.ci/run
# runs builds in the background) take turns on a lock file, since apt-get fails when another holds dpkg's lock.

apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "$1: run as root to install the Debian package $2" >&2; exit 2; }
    sudo="sudo"
  fi
  echo "$1: installing the Debian package $2" >&2
  (
    command -v flock >/dev/null && flock 8
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >&2
  ) 8>"${TMPDIR:-/tmp}/marina-apt.lock"
}
