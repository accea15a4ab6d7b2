package controller_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/router"
	"github.com/marina-dev/marina/internal/testenv"
)

// TestTheRouterRunsInFrontOfTheVersionsAndFollowsTheStatusAcrossRestarts runs the controller as its ServiceAccount
// bound by config/rbac only. It creates the router of a ModelDeployment (hardened Deployment, ServiceAccount, a Role
// reading that one ModelDeployment, RoleBinding, PodMonitor) and points Service NAME at it; marina router's cluster
// mode, with the token of the router's ServiceAccount, reads the rollout's state from status, and a router started
// again mid-shadow finds the same state. Changes to spec.router reach the Deployment, and turning the router off
// removes its objects and gives Service NAME back to the versions.
func TestTheRouterRunsInFrontOfTheVersionsAndFollowsTheStatusAcrossRestarts(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true, Workloads: true})
	c.AddNode(t, testenv.Node{Name: "cpu-router"})
	c.InstallRBAC(t, testenv.Installs[0])
	sa := c.ServiceAccount(t, testenv.ControllerNamespace, controllerAccount)
	startManager(t, sa.Config, ctrl.Options{})

	ns := namespace(t, c, "router")
	route := httpRoute(ns, e2eModel)
	if err := c.Client.Create(context.Background(), route); err != nil {
		t.Fatal(err)
	}
	md := e2eDeployment(ns, "1.0.0", "", nil)
	md.Spec.Strategy = &v1alpha1.Strategy{Shadow: &v1alpha1.ShadowStrategy{Percent: 50, Duration: "10m"}}
	create(t, c, md)
	waitOn(t, c, ns, "1.0.0 Ready", time.Minute, ready)
	md = get(t, c, ns)
	name := e2eModel + "-router"

	dep := &appsv1.Deployment{}
	getOwned(t, c, md, ns, name, dep)
	pod := dep.Spec.Template.Spec
	ctr := pod.Containers[0]
	sec, psec := ctr.SecurityContext, pod.SecurityContext
	switch {
	case *dep.Spec.Replicas != 2:
		t.Errorf("router replicas %d, want 2", *dep.Spec.Replicas)
	case !slices.Equal(ctr.Args, []string{"router", "--model-deployment=" + e2eModel, "--namespace=" + ns, "--listen=:8080", "--metrics=:9100"}):
		t.Errorf("router args %q", ctr.Args)
	case ctr.Image != "ghcr.io/marina-dev/marina:0.1.0":
		t.Errorf("router image %s, want marina's static image", ctr.Image)
	case pod.ServiceAccountName != name:
		t.Errorf("router pods run as %q, want %s", pod.ServiceAccountName, name)
	case psec == nil || !*psec.RunAsNonRoot || psec.SeccompProfile == nil || psec.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault,
		sec == nil || !*sec.ReadOnlyRootFilesystem || *sec.AllowPrivilegeEscalation || !slices.Equal(sec.Capabilities.Drop, []corev1.Capability{"ALL"}):
		t.Errorf("router pod not hardened as a model server's: pod %+v, container %+v", psec, sec)
	case !maps.Equal(dep.Spec.Template.Annotations, map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9100", "prometheus.io/path": "/metrics"}):
		t.Errorf("router pod annotations %v, want Prometheus' scrape annotations", dep.Spec.Template.Annotations)
	}
	role := &rbacv1.Role{}
	getOwned(t, c, md, ns, name, role)
	if want := []rbacv1.PolicyRule{{APIGroups: []string{"marina.dev"}, Resources: []string{"modeldeployments"},
		ResourceNames: []string{e2eModel}, Verbs: []string{"get", "list", "watch"}}}; !equalRules(role.Rules, want) {
		t.Errorf("router Role rules %+v, want %+v", role.Rules, want)
	}
	getOwned(t, c, md, ns, name, &rbacv1.RoleBinding{})
	getOwned(t, c, md, ns, name, &corev1.ServiceAccount{})
	pm := &unstructured.Unstructured{}
	pm.SetAPIVersion("monitoring.coreos.com/v1")
	pm.SetKind("PodMonitor")
	getOwned(t, c, md, ns, name, pm)
	svc := &corev1.Service{}
	getOwned(t, c, md, ns, e2eModel, svc)
	if !maps.Equal(svc.Spec.Selector, map[string]string{v1alpha1.LabelRouter: e2eModel}) {
		t.Fatalf("Service %s selects %v, want the router's pods", e2eModel, svc.Spec.Selector)
	}

	// The router, with its ServiceAccount's token: the Role the controller made is all it needs.
	rsa := c.ServiceAccount(t, ns, name)
	src := &router.ModelDeploymentSource{Namespace: ns, Name: e2eModel, Base: router.Config{Listen: "127.0.0.1:0"}}
	first := func() *router.Config {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel() // the router stops: its informer ends with ctx
		w, err := router.WatchModelDeployment(ctx, rsa.Config, src, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := w.First(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	if cfg := first(); len(cfg.Upstreams) != 1 || cfg.Upstreams[0].Version != "1.0.0" || cfg.Upstreams[0].Weight != 100 || cfg.Shadow != nil {
		t.Fatalf("the router routes %+v (shadow %+v), want 1.0.0 alone", cfg.Upstreams, cfg.Shadow)
	}
	as, err := client.New(rsa.Config, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := as.List(context.Background(), &v1alpha1.ModelDeploymentList{}, client.InNamespace(ns)); !apierrors.IsForbidden(err) {
		t.Errorf("the router's ServiceAccount may list every ModelDeployment of %s (err %v), want only its own", ns, err)
	}

	updateIn(t, c, ns, func(md *v1alpha1.ModelDeployment) { md.Spec.Version = "1.1.0" })
	waitOn(t, c, ns, "1.1.0 mirrored", time.Minute, func(md *v1alpha1.ModelDeployment) bool {
		return md.Status.Weights != nil && md.Status.Weights.Shadow == 50
	})
	if backends, filters := routeRule(t, c, route); len(backends) != 1 || backends[0]["name"] != e2eModel || backends[0]["weight"] != int64(100) || len(filters) != 0 {
		t.Fatalf("HTTPRoute backends %v, filters %v, want all of it to Service %s (the router), no mirror", backends, filters, e2eModel)
	}
	// A router started now, as after a crash mid-shadow, mirrors as the status says.
	if cfg := first(); cfg.Shadow == nil || cfg.Shadow.Version != "1.1.0" || cfg.Shadow.Percent != 50 || cfg.Upstreams[0].Version != "1.0.0" {
		t.Fatalf("a restarted router routes %+v with shadow %+v, want 1.0.0 mirrored 50%% to 1.1.0", cfg.Upstreams, cfg.Shadow)
	}

	updateIn(t, c, ns, func(md *v1alpha1.ModelDeployment) {
		md.Spec.Router = &v1alpha1.Router{Replicas: new(int32(3)), Image: "registry.test/marina:dev", NodeSelector: map[string]string{"node": "real"},
			Tolerations: []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "inference", Effect: corev1.TaintEffectNoSchedule}}}
	})
	poll(t, "the router Deployment updated", func(ctx context.Context) (bool, error) {
		err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, dep)
		pod := dep.Spec.Template.Spec
		return err == nil && *dep.Spec.Replicas == 3 && pod.Containers[0].Image == "registry.test/marina:dev" &&
			pod.NodeSelector["node"] == "real" && len(pod.Tolerations) == 1 && pod.Tolerations[0].Value == "inference", err
	})

	updateIn(t, c, ns, func(md *v1alpha1.ModelDeployment) { md.Spec.Router.Enabled = new(false) })
	poll(t, "the router removed and Service "+e2eModel+" back on the versions", func(ctx context.Context) (bool, error) {
		for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}, pm.DeepCopy()} {
			if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); !apierrors.IsNotFound(err) {
				return false, client.IgnoreNotFound(err)
			}
		}
		err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: e2eModel}, svc)
		return err == nil && maps.Equal(svc.Spec.Selector, map[string]string{v1alpha1.LabelModelDeployment: e2eModel}), err
	})
	// The HTTPRoute splits and mirrors again (the same reconcile patches it, after the Services): nobody compares
	// the mirrored answers now.
	poll(t, "the HTTPRoute splitting to "+e2eModel+"-stable and -canary with a mirror", func(context.Context) (bool, error) {
		backends, filters := routeRule(t, c, route)
		return len(backends) == 2 && backends[1]["name"] == e2eModel+"-canary" && len(filters) == 1, nil
	})
}

// httpRoute is the HTTPRoute marina render writes for model name: one rule to Service name.
func httpRoute(namespace, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"name": "models-gateway"}},
			"rules":      []any{map[string]any{"backendRefs": []any{map[string]any{"name": name, "port": int64(80)}}}},
		},
	}}
}

// routeRule reads route's first rule: its backendRefs and filters.
func routeRule(t *testing.T, c *testenv.Cluster, route *unstructured.Unstructured) (backends, filters []map[string]any) {
	t.Helper()
	if err := c.Client.Get(context.Background(), client.ObjectKeyFromObject(route), route); err != nil {
		t.Fatal(err)
	}
	rules, _, _ := unstructured.NestedSlice(route.Object, "spec", "rules")
	rule := rules[0].(map[string]any)
	asMaps := func(v any) (out []map[string]any) {
		list, _ := v.([]any)
		for _, e := range list {
			out = append(out, e.(map[string]any))
		}
		return out
	}
	return asMaps(rule["backendRefs"]), asMaps(rule["filters"])
}

// getOwned reads obj ns/name and fails unless md controls it (so the garbage collector removes it with md).
func getOwned(t *testing.T, c *testenv.Cluster, md *v1alpha1.ModelDeployment, ns, name string, obj client.Object) {
	t.Helper()
	if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("%T %s: %v", obj, name, err)
	}
	if !metav1.IsControlledBy(obj, md) {
		t.Fatalf("%T %s is not controlled by the ModelDeployment: owners %+v", obj, name, obj.GetOwnerReferences())
	}
}

func equalRules(a, b []rbacv1.PolicyRule) bool {
	return slices.EqualFunc(a, b, func(x, y rbacv1.PolicyRule) bool {
		return slices.Equal(x.APIGroups, y.APIGroups) && slices.Equal(x.Resources, y.Resources) &&
			slices.Equal(x.ResourceNames, y.ResourceNames) && slices.Equal(x.Verbs, y.Verbs)
	})
}

// poll waits up to a minute for cond.
func poll(t *testing.T, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := eventually.Poll(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
