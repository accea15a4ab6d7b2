#!/usr/bin/env bash
# hack/layering.sh — fail when a package imports (directly or not) what its layer must not depend on (make lint).
#   internal/controller   runs in the cluster: no repository code (render, registry, repo, release, schemas,
#                         scaffold, writeback — the write-back is injected by internal/cli); it builds pods with
#                         internal/modelpod and reads label keys from api/v1alpha1.
#   internal/doctor       reads the cluster: not marina init's scaffold nor render.
#   internal/check        writes its report through internal/report, not validate's reporters.
#   cmd/marina            the product binary links no test code: internal/testenv (envtest, whose init makes a
#                         directory at every start and panics in a read-only container such as marina router's)
#                         and the *test packages belong to cmd/marina-sandbox and the tests.
#   chromedp              drives a browser for tests: only internal/browser/browsertest links it (tests import that),
#                         so no binary and no other package's build carries it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mod=github.com/marina-dev/marina
status=0
forbid() {
  local pkg=$1; shift
  local deps
  deps="$(go list -deps "./$pkg")"
  for bad in "$@"; do
    if grep -qx "$mod/$bad" <<<"$deps"; then
      echo "$pkg depends on $bad; see hack/layering.sh for why it must not (go list -deps ./$pkg)" >&2
      status=1
    fi
  done
}

forbid internal/controller internal/render internal/registry internal/repo internal/release schemas internal/scaffold internal/writeback
forbid internal/doctor internal/scaffold internal/render
forbid internal/check internal/validate
forbid cmd/marina internal/testenv internal/testenv/proc internal/analysis/prometheustest internal/browser/browsertest internal/repo/repotest internal/kubeschema/kubeschematest internal/sandbox/supervisor

chromedp_users="$(go list -f '{{.ImportPath}}{{range .Deps}} {{.}}{{end}}' ./... |
  awk -v allowed="$mod/internal/browser/browsertest" '$1 != allowed && / github\.com\/chromedp\// { print $1 }')"
if [ -n "$chromedp_users" ]; then
  echo "these packages depend on chromedp, which only internal/browser/browsertest may (see hack/layering.sh):" >&2
  echo "$chromedp_users" >&2
  status=1
fi
exit "$status"
