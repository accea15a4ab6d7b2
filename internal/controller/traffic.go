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

// applyRoute sets the weights of the HTTPRoute named like md, when there is one, in the rules marina owns (see
// splitRules). With the router on, those rules send everything to Service NAME, the router, which splits by
// status.weights itself. It reports whether a route carries the split; without one, traffic follows the replica
// ratio behind Service NAME (or the router's split).
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
	rules, carried, err := splitRules(md.Name, rules, w, md.RouterEnabled())
	if err != nil {
		return false, fmt.Errorf("HTTPRoute %s/%s: %w", md.Namespace, md.Name, err)
	}
	if err := unstructured.SetNestedSlice(route.Object, rules, "spec", "rules"); err != nil {
		return false, err
	}
	if equality.Semantic.DeepEqual(before.Object, route.Object) {
		return carried, nil
	}
	return carried, r.Patch(ctx, route, client.MergeFrom(before))
}

// splitRules returns the rules of the HTTPRoute named name with w applied to the rules marina owns, and whether
// there is one. Like Argo Rollouts' traffic routers, marina owns only what it routes: a rule whose backends are all
// Services of the model (NAME, as marina render writes it, or NAME-stable and NAME-canary, as the controller
// leaves it) sends Stable percent to NAME-stable and Canary percent to NAME-canary, and mirrors Shadow percent to
// NAME-canary. viaRouter sends all of an owned rule's traffic to Service NAME instead, without a mirror: marina
// router behind it splits and mirrors, and compares the mirrored answers. Every other rule (another Service, a
// redirect without backends) is left as written. A route without rules gets one.
func splitRules(name string, rules []any, w v1alpha1.TrafficWeights, viaRouter bool) ([]any, bool, error) {
	if len(rules) == 0 {
		rules = []any{map[string]any{}}
	}
	carried := false
	for i, rule := range rules {
		rm, ok := rule.(map[string]any)
		if !ok {
			return nil, false, fmt.Errorf("spec.rules[%d] is not an object", i)
		}
		if !ownRule(rm, name) {
			continue
		}
		carried = true
		rm["backendRefs"] = []any{
			backendRef(name+"-stable", int64(w.Stable)),
			backendRef(name+"-canary", int64(w.Canary)),
		}
		if viaRouter {
			rm["backendRefs"] = []any{backendRef(name, 100)}
		}
		var filters []any
		existing, _ := rm["filters"].([]any)
		for _, f := range existing {
			if fm, ok := f.(map[string]any); ok && fm["type"] == "RequestMirror" && isOurMirror(fm, name) {
				continue
			}
			filters = append(filters, f)
		}
		if w.Shadow > 0 && !viaRouter {
			filters = append(filters, map[string]any{
				"type": "RequestMirror",
				"requestMirror": map[string]any{
					"backendRef": map[string]any{"name": name + "-canary", "port": int64(ServicePort)},
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
	return rules, carried, nil
}

// ownRule reports whether rule routes only to the Services of model name: a new route's empty rule, or one whose
// every backendRef is a Service NAME, NAME-stable or NAME-canary in the route's namespace.
func ownRule(rule map[string]any, name string) bool {
	refs, ok := rule["backendRefs"].([]any)
	if !ok {
		return len(rule) == 0
	}
	if len(refs) == 0 {
		return false
	}
	for _, ref := range refs {
		m, ok := ref.(map[string]any)
		if !ok {
			return false
		}
		if kind, set := m["kind"]; set && kind != "Service" {
			return false
		}
		if group, set := m["group"]; set && group != "" {
			return false
		}
		if _, set := m["namespace"]; set {
			return false
		}
		switch m["name"] {
		case name, name + "-stable", name + "-canary":
		default:
			return false
		}
	}
	return true
}

func backendRef(name string, weight int64) map[string]any {
	return map[string]any{"name": name, "port": int64(ServicePort), "weight": weight}
}

func isOurMirror(f map[string]any, name string) bool {
	ref, _, _ := unstructured.NestedString(f, "requestMirror", "backendRef", "name")
	return ref == name+"-canary"
}
