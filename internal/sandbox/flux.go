package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// fluxNamespace is where the sandbox runs Flux and its Kustomizations (testenv.FluxNamespace).
const fluxNamespace = "flux-system"

// FluxApplied reports whether the Flux Kustomizations named (every one when none is) are Ready at revision rev,
// and what is missing otherwise.
func FluxApplied(ctx context.Context, c client.Client, rev string, names ...string) (bool, string) {
	var ks unstructured.UnstructuredList
	ks.SetAPIVersion("kustomize.toolkit.fluxcd.io/v1")
	ks.SetKind("KustomizationList")
	if err := c.List(ctx, &ks, client.InNamespace(fluxNamespace)); err != nil {
		return false, err.Error()
	}
	found := 0
	for _, k := range ks.Items {
		if len(names) > 0 && !slices.Contains(names, k.GetName()) {
			continue
		}
		found++
		applied, _, _ := unstructured.NestedString(k.Object, "status", "lastAppliedRevision")
		if !strings.HasSuffix(applied, rev) {
			return false, fmt.Sprintf("Kustomization %s applied %q, want %s; conditions %s", k.GetName(), applied, rev, conditions(k))
		}
		if ready, why := readyCondition(k); !ready {
			return false, "Kustomization " + k.GetName() + ": " + why
		}
	}
	if found == 0 || len(names) > 0 && found < len(names) {
		return false, fmt.Sprintf("%d of the Flux Kustomizations %v there", found, names)
	}
	return true, ""
}

// readyCondition reports whether an object's Ready condition is True, and its message otherwise.
func readyCondition(u unstructured.Unstructured) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, _ := c.(map[string]any); m["type"] == "Ready" {
			msg, _ := m["message"].(string)
			return m["status"] == "True", fmt.Sprintf("Ready=%v: %s", m["status"], msg)
		}
	}
	return false, "no Ready condition yet"
}

func conditions(u unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	b, _ := json.Marshal(conds)
	return string(b)
}
