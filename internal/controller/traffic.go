package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
)

var httpRouteGVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}

// applyRoute sets the weights of the HTTPRoute named like md, when there is one: every rule sends Stable percent
// to NAME-stable and Canary percent to NAME-canary, and mirrors Shadow percent to NAME-canary. It reports whether
// a route carries the split; without one, traffic follows the replica ratio behind Service NAME (or marina router
// reads status.weights).
func (r *Reconciler) applyRoute(ctx context.Context, md *v1alpha1.ModelDeployment, w v1alpha1.TrafficWeights) (bool, error) {
	route := &unstructured.Unstructured{}
	route.SetGroupVersionKind(httpRouteGVK)
	err := r.Get(ctx, client.ObjectKey{Namespace: md.Namespace, Name: md.Name}, route)
	switch {
	case meta.IsNoMatchError(err), apierrors.IsNotFound(err):
		return false, nil // Gateway API not installed, or no route for this model
	case err != nil:
		return false, err
	}
	before := route.DeepCopy()
	rules, _, _ := unstructured.NestedSlice(route.Object, "spec", "rules")
	if len(rules) == 0 {
		rules = []any{map[string]any{}}
	}
	for i, rule := range rules {
		rm, ok := rule.(map[string]any)
		if !ok {
			return false, fmt.Errorf("HTTPRoute %s/%s: spec.rules[%d] is not an object", md.Namespace, md.Name, i)
		}
		rm["backendRefs"] = []any{
			backendRef(md.Name+"-stable", int64(w.Stable)),
			backendRef(md.Name+"-canary", int64(w.Canary)),
		}
		var filters []any
		existing, _ := rm["filters"].([]any)
		for _, f := range existing {
			if fm, ok := f.(map[string]any); ok && fm["type"] == "RequestMirror" && isOurMirror(fm, md.Name) {
				continue
			}
			filters = append(filters, f)
		}
		if w.Shadow > 0 {
			filters = append(filters, map[string]any{
				"type": "RequestMirror",
				"requestMirror": map[string]any{
					"backendRef": map[string]any{"name": md.Name + "-canary", "port": int64(ServicePort)},
					"percent":    int64(w.Shadow),
				},
			})
		}
		if len(filters) > 0 {
			rm["filters"] = filters
		} else {
			delete(rm, "filters")
		}
		rules[i] = rm
	}
	if err := unstructured.SetNestedSlice(route.Object, rules, "spec", "rules"); err != nil {
		return false, err
	}
	if equality.Semantic.DeepEqual(before.Object, route.Object) {
		return true, nil
	}
	return true, r.Patch(ctx, route, client.MergeFrom(before))
}

func backendRef(name string, weight int64) map[string]any {
	return map[string]any{"name": name, "port": int64(ServicePort), "weight": weight}
}

func isOurMirror(f map[string]any, name string) bool {
	ref, _, _ := unstructured.NestedString(f, "requestMirror", "backendRef", "name")
	return ref == name+"-canary"
}
