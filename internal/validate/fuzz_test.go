package validate

import (
	"testing"

	"github.com/marina-dev/marina/internal/kubeschema"
)

// FuzzCheckManifests feeds arbitrary files through the manifest and kustomization checks, which read files
// users (and anyone sending a pull request) write: they must never panic, and every finding names a known rule.
func FuzzCheckManifests(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n---\napiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q}\nspec: {hard: {requests.nvidia.com/gpu: \"2\"}}\n"))
	f.Add([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: x, selector: {}, template: {spec: {containers: [{name: c}]}}}\n"))
	f.Add([]byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\npatches: [{path: p.yaml}, {patch: \"x\"}]\npatchesStrategicMerge: [q.yaml]\n"))
	f.Add([]byte("apiVersion: v1\nkind: ResourceQuota\nspec: {hard: {requests.nvidia.com/gpu: [1]}}\n"))
	f.Add([]byte("kind: Widget\n---\n- 1\n---\na: &x 1\nb: *x\n"))
	kube, err := kubeschema.Builtin()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v := &validation{kube: kube, patches: map[string]bool{}, argocd: map[string]string{}}
		for _, res := range []result{v.checkKustomization("infrastructure/overlays/prod/kustomization.yaml", data), v.checkManifests("gitops/argocd/x.yaml", data, nil)} {
			for _, fd := range res.findings {
				if _, ok := RuleByID(fd.Rule); !ok || fd.File == "" || fd.Message == "" {
					t.Fatalf("bad finding %+v", fd)
				}
			}
			if res.apply != nil {
				res.apply()
			}
		}
	})
}
