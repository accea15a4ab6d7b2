package testenv

import (
	"os"
	"path/filepath"
	"slices"

	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/internal/kubeschema/kubeschematest"
	"github.com/marina-dev/marina/internal/source"
)

// thirdPartyKinds are the custom resources marina writes, renders or reads, by API group; a nil list takes the
// whole group. Installing only these (not, say, Prometheus Operator's Prometheus or External Secrets' 17
// generators) keeps a cluster's start near 10 s instead of 25 s.
var thirdPartyKinds = map[string][]string{
	"marina.dev":                  nil,
	"argoproj.io":                 nil,
	"source.toolkit.fluxcd.io":    nil,
	"kustomize.toolkit.fluxcd.io": nil,
	"gateway.networking.k8s.io":   {"GatewayClass", "Gateway", "HTTPRoute", "GRPCRoute", "ReferenceGrant"},
	"keda.sh":                     {"ScaledObject", "TriggerAuthentication", "ClusterTriggerAuthentication"},
	"external-secrets.io":         {"ExternalSecret", "SecretStore", "ClusterSecretStore"},
	"bitnami.com":                 nil,
	"monitoring.coreos.com":       {"ServiceMonitor", "PodMonitor", "PrometheusRule"},
	"serving.kserve.io":           nil,
}

// crdFiles lists the CRD files a cluster installs: marina's own (config/crd/bases), and those of
// thirdPartyKinds from the CRDs hack/crds.sh caches and KServe's.
func crdFiles(tb TB) []string {
	tb.Helper()
	dirs := []string{filepath.Join(RepoRoot(tb), "config", "crd", "bases")}
	for _, m := range []string{
		kubeschematest.ArgoCD, kubeschematest.FluxSource, kubeschematest.FluxKustomize, kubeschematest.GatewayAPI,
		kubeschematest.KEDA, kubeschematest.ExternalSecrets, kubeschematest.SealedSecrets,
		kubeschematest.PrometheusOperator,
	} {
		dirs = append(dirs, kubeschematest.Dir(tb, m))
	}
	dirs = append(dirs, kubeschematest.KServe(tb))
	var files []string
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			tb.Fatal(err)
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if e.Type().IsRegular() && wanted(tb, p) {
				files = append(files, p)
			}
		}
	}
	return files
}

// wanted reports whether a file is a CRD of thirdPartyKinds.
func wanted(tb TB, file string) bool {
	tb.Helper()
	if ext := filepath.Ext(file); ext != ".yaml" && ext != ".yml" {
		return false
	}
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	var crd struct {
		Kind string
		Spec struct {
			Group string
			Names struct{ Kind string }
		}
	}
	if err := yaml.Unmarshal(b, &crd); err != nil || crd.Kind != "CustomResourceDefinition" {
		return false
	}
	kinds, ok := thirdPartyKinds[crd.Spec.Group]
	return ok && (kinds == nil || slices.Contains(kinds, crd.Spec.Names.Kind))
}

// RepoRoot returns marina's source tree at or above the test's working directory (see source.FindRootFromWorkingDir).
func RepoRoot(tb TB) string {
	tb.Helper()
	root, err := source.FindRootFromWorkingDir()
	if err != nil {
		tb.Fatal(err)
	}
	return root
}
