#!/usr/bin/env bash
# hack/gitea.sh — build Gitea from its Go module, a real forge for the tests of promotion by pull request.
#
# Builds into ${MARINA_CACHE:-$HOME/.cache/marina}/gitea/<version>/ and prints that directory on its last line:
#   gitea                    code.gitea.io/gitea@$GITEA_VERSION, built without the bindata tag: it reads its
#                            templates and options from its static root (app.ini [server] STATIC_ROOT_PATH, which
#                            internal/testenv sets to this directory)
#   templates/, options/     the module's own, copied: the API's mail and page templates, the locales, the
#                            .gitignore, licence and label lists repository creation reads
# Gitea's web frontend (public/, built with npm) is left out: the tests use its REST API and git over HTTP only.
# The module declares its path as gitea.dev, so it cannot be required from a wrapper module: it is built in its own
# directory in the module cache, with its own go.mod, go.sum and replace directives (-mod=readonly, nothing there is
# written). SQLite is modernc.org/sqlite, pure Go: the build stays CGO_ENABLED=0 (the sqlite_mattn tag would need
# cgo). Measured on 2 cores: 8 min wall, 6.7 CPU-min (5m40s user + 1m03s sys) cold — empty Go build cache,
# dependencies downloaded, the machine loaded by other builds meanwhile — 124 MB (gitea 111 MB, options 8.8 MB,
# templates 4.9 MB); cached: instant.
set -euo pipefail

GITEA_VERSION=${GITEA_VERSION:-v1.27.3}
# shellcheck source=lib/build.sh
. "$(dirname "$0")/lib/build.sh"
build_setup gitea "$GITEA_VERSION"

if [ -f "$out/.gitea.complete" ] && [ -x "$out/gitea" ] && [ -d "$out/templates" ] && [ -d "$out/options" ]; then
  log "gitea $GITEA_VERSION: cached"
  echo "$out"
  exit 0
fi

start=$(date +%s)
moddir=$(cd "$dir" && go mod download -json "code.gitea.io/gitea@$GITEA_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
[ -f "$moddir/go.mod" ] || { log "could not download code.gitea.io/gitea@$GITEA_VERSION"; exit 1; }
log "gitea $GITEA_VERSION: building in $moddir (~8 min cold)"
(
  cd "$moddir"
  go build -mod=readonly -trimpath -ldflags "-s -w -X main.Version=${GITEA_VERSION#v}" -o "$dir/gitea.tmp" .
)
rm -rf "$out/templates" "$out/options"
cp -R "$moddir/templates" "$moddir/options" "$out/"
chmod -R u+w "$out/templates" "$out/options"
mv "$dir/gitea.tmp" "$out/gitea"
grep -qF "${GITEA_VERSION#v}" <<<"$("$out/gitea" --version)" || { log "gitea --version does not print ${GITEA_VERSION#v}"; exit 1; }
touch "$out/.gitea.complete"
log "all in $out ($(du -sh "$out" | cut -f1), $(elapsed "$start"))"
echo "$out"
