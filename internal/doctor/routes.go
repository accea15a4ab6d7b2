package doctor

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var (
	httpRouteListGVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRouteList"}
	gatewayGVK       = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "Gateway"}
)

// checkRoutes reads the status Gateway API implementations write on the environments' HTTPRoutes: a route no
// Gateway controller accepted routes no traffic, and Argo CD keeps its Application Progressing.
func (d *doctor) checkRoutes(ctx context.Context) []Check {
	var out []Check
	for _, ns := range d.namespaces() {
		routes := &unstructured.UnstructuredList{}
		routes.SetGroupVersionKind(httpRouteListGVK)
		err := d.Client.List(ctx, routes, client.InNamespace(ns))
		if notServed(err) {
			return []Check{{Name: CheckRoutes, Status: Skip, Evidence: "the API server serves no gateway.networking.k8s.io/v1 HTTPRoute (Gateway API is not installed)"}}
		}
		if err != nil {
			out = append(out, readError(Check{Name: CheckRoutes, Target: ns}, "HTTPRoutes in "+ns, err))
			continue
		}
		for i := range routes.Items {
			out = append(out, d.routeCheck(ctx, &routes.Items[i]))
		}
	}
	if len(out) == 0 {
		return []Check{{Name: CheckRoutes, Status: Skip, Evidence: "no HTTPRoute in " + strings.Join(d.namespaces(), ", ")}}
	}
	return out
}

// routeCheck judges one HTTPRoute by the Accepted and ResolvedRefs conditions of each parent in its status.
func (d *doctor) routeCheck(ctx context.Context, r *unstructured.Unstructured) Check {
	c := Check{Name: CheckRoutes, Target: "HTTPRoute " + r.GetNamespace() + "/" + r.GetName()}
	parents, _, _ := unstructured.NestedSlice(r.Object, "status", "parents")
	var accepted []string
	for _, x := range parents {
		p, _ := x.(map[string]any)
		gw := parentName(p["parentRef"], r.GetNamespace())
		conds, _ := p["conditions"].([]any)
		for _, y := range conds {
			cd, _ := y.(map[string]any)
			if (cd["type"] == "Accepted" || cd["type"] == "ResolvedRefs") && cd["status"] == "False" {
				c.Status = Fail
				c.Evidence = fmt.Sprintf("Gateway %s: %v=False (%v): %v", gw, cd["type"], cd["reason"], cd["message"])
				c.Fix = "fix what the message names (the parentRef, a listener's allowedRoutes, or a backendRef Service), push, and let the engine sync"
				return c
			}
			if cd["type"] == "Accepted" && cd["status"] == "True" {
				accepted = append(accepted, gw)
			}
		}
	}
	if len(accepted) > 0 {
		c.Status = Pass
		c.Evidence = "accepted by Gateway " + strings.Join(accepted, ", ")
		return c
	}
	refs, _, _ := unstructured.NestedSlice(r.Object, "spec", "parentRefs")
	var missing, named []string
	for _, ref := range refs {
		gw := parentName(ref, r.GetNamespace())
		named = append(named, gw)
		ns, name, _ := strings.Cut(gw, "/")
		g := &unstructured.Unstructured{}
		g.SetGroupVersionKind(gatewayGVK)
		if err := d.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, g); client.IgnoreNotFound(err) == nil && err != nil {
			missing = append(missing, gw)
		}
	}
	c.Status = Fail
	c.Evidence = "no Gateway controller has accepted it (status.parents is empty): it routes no traffic, and Argo CD shows its Application Progressing"
	switch {
	case len(missing) > 0:
		c.Evidence += "; Gateway " + strings.Join(missing, ", ") + " does not exist"
		c.Fix = "create Gateway " + strings.Join(missing, ", ") + " with a Gateway API implementation installed, or name an existing Gateway in the application's traffic settings and re-render"
	default:
		c.Fix = "check that the controller of Gateway " + strings.Join(named, ", ") + "'s GatewayClass runs and that a listener allows routes from " + r.GetNamespace()
	}
	return c
}

// parentName is a parentRef's Gateway as namespace/name (the route's namespace when the ref names none).
func parentName(ref any, routeNS string) string {
	m, _ := ref.(map[string]any)
	ns, _ := m["namespace"].(string)
	if ns == "" {
		ns = routeNS
	}
	name, _ := m["name"].(string)
	return ns + "/" + name
}
