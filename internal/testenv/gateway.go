package testenv

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// GatewayController is the controllerName the stand-in writes into route status.
const GatewayController = "marina.dev/testenv-gateway"

// AcceptRoutes creates Gateway namespace/name (and its namespace and GatewayClass) and, until the test ends, does
// the status part of a Gateway API implementation for the HTTPRoutes attached to it: each gets a status.parents
// entry for the Gateway, Accepted, and ResolvedRefs True when every backendRef Service exists (False with reason
// BackendNotFound otherwise), at the route's generation. It is a stand-in, named as such: no Gateway
// implementation (and no data plane) is built here, and GitOps engines judge an HTTPRoute by that status (Argo CD
// keeps one without it Progressing). It routes no traffic. It needs Options.CRDs.
func (c *Cluster) AcceptRoutes(tb TB, namespace, name string) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	tb.Cleanup(func() { cancel(); <-done })
	class := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
		"metadata": map[string]any{"name": "testenv"},
		"spec":     map[string]any{"controllerName": GatewayController},
	}}
	gw := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec": map[string]any{"gatewayClassName": "testenv", "listeners": []any{map[string]any{
			"name": "http", "port": int64(80), "protocol": "HTTP", "allowedRoutes": map[string]any{"namespaces": map[string]any{"from": "All"}},
		}}},
	}}
	for _, o := range []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, class, gw} {
		if err := c.Client.Create(ctx, o); client.IgnoreAlreadyExists(err) != nil {
			tb.Fatalf("creating the test Gateway: %v", err)
		}
	}
	go func() {
		defer close(done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			// Errors (a route changed under us, the server stopping) are retried on the next tick.
			_ = c.acceptRoutes(ctx, namespace, name)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// acceptRoutes writes the status of every HTTPRoute attached to Gateway namespace/name whose status does not
// describe its current generation yet.
func (c *Cluster) acceptRoutes(ctx context.Context, namespace, name string) error {
	routes := &unstructured.UnstructuredList{}
	routes.SetAPIVersion("gateway.networking.k8s.io/v1")
	routes.SetKind("HTTPRouteList")
	if err := c.Client.List(ctx, routes); err != nil {
		return err
	}
	for i := range routes.Items {
		r := &routes.Items[i]
		ref, ok := parentRef(r, namespace, name)
		if !ok || observed(r) {
			continue
		}
		resolved, reason, msg := "True", "ResolvedRefs", "every backendRef resolves"
		if missing, err := c.missingBackend(ctx, r); err != nil {
			return err
		} else if missing != "" {
			resolved, reason, msg = "False", "BackendNotFound", "Service "+r.GetNamespace()+"/"+missing+" not found"
		}
		now := metav1.Now().UTC().Format(time.RFC3339)
		cond := func(typ, status, reason, msg string) map[string]any {
			return map[string]any{"type": typ, "status": status, "reason": reason, "message": msg,
				"observedGeneration": r.GetGeneration(), "lastTransitionTime": now}
		}
		_ = unstructured.SetNestedSlice(r.Object, []any{map[string]any{
			"parentRef":      ref,
			"controllerName": GatewayController,
			"conditions": []any{
				cond("Accepted", "True", "Accepted", "accepted by the testenv stand-in gateway"),
				cond("ResolvedRefs", resolved, reason, msg),
			},
		}}, "status", "parents")
		if err := c.Client.Status().Update(ctx, r); err != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("HTTPRoute %s/%s: %w", r.GetNamespace(), r.GetName(), err)
		}
	}
	return nil
}

// parentRef returns the route's parentRef naming Gateway namespace/name.
func parentRef(r *unstructured.Unstructured, namespace, name string) (map[string]any, bool) {
	refs, _, _ := unstructured.NestedSlice(r.Object, "spec", "parentRefs")
	for _, x := range refs {
		ref, _ := x.(map[string]any)
		ns, _ := ref["namespace"].(string)
		if ns == "" {
			ns = r.GetNamespace()
		}
		if kind, _ := ref["kind"].(string); (kind == "" || kind == "Gateway") && ns == namespace && ref["name"] == name {
			return ref, true
		}
	}
	return nil, false
}

// observed reports whether the route's status already describes its generation.
func observed(r *unstructured.Unstructured) bool {
	parents, _, _ := unstructured.NestedSlice(r.Object, "status", "parents")
	for _, x := range parents {
		p, _ := x.(map[string]any)
		if p["controllerName"] != GatewayController {
			continue
		}
		conds, _ := p["conditions"].([]any)
		for _, y := range conds {
			cd, _ := y.(map[string]any)
			if g, ok := cd["observedGeneration"].(int64); ok && g == r.GetGeneration() {
				return true
			}
		}
	}
	return false
}

// missingBackend returns the name of a backendRef Service of the route that does not exist, or "".
func (c *Cluster) missingBackend(ctx context.Context, r *unstructured.Unstructured) (string, error) {
	rules, _, _ := unstructured.NestedSlice(r.Object, "spec", "rules")
	for _, x := range rules {
		rule, _ := x.(map[string]any)
		backends, _ := rule["backendRefs"].([]any)
		for _, y := range backends {
			b, _ := y.(map[string]any)
			if kind, _ := b["kind"].(string); kind != "" && kind != "Service" {
				continue
			}
			name, _ := b["name"].(string)
			var svc corev1.Service
			err := c.Client.Get(ctx, client.ObjectKey{Namespace: r.GetNamespace(), Name: name}, &svc)
			if apierrors.IsNotFound(err) {
				return name, nil
			}
			if err != nil {
				return "", err
			}
		}
	}
	return "", nil
}
