package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/marina-dev/marina/internal/kubeschema/kubeschematest"
)

// crdDirs lists the directories of every CRD a cluster installs: marina's own (config/crd/bases), the third-party
// CRDs hack/crds.sh caches, and KServe's.
func crdDirs(tb testing.TB) []string {
	tb.Helper()
	dirs := []string{filepath.Join(RepoRoot(tb), "config", "crd", "bases")}
	for _, m := range []string{
		kubeschematest.ArgoCD, kubeschematest.FluxSource, kubeschematest.FluxKustomize, kubeschematest.GatewayAPI,
		kubeschematest.KEDA, kubeschematest.ExternalSecrets, kubeschematest.SealedSecrets,
		kubeschematest.PrometheusOperator,
	} {
		dirs = append(dirs, kubeschematest.Dir(tb, m))
	}
	return append(dirs, kubeschematest.KServe(tb))
}

// RepoRoot returns the directory of marina's go.mod above the test's working directory.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			tb.Fatalf("no go.mod above %s", wd)
		}
	}
}
