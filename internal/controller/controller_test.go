package controller_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/controller"
	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/testenv"
)

const ns = "models"

func testScheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// startController runs the reconciler in a manager, as the cluster's admin, until stop is called (or the test
// ends); with sets its Analyzer, Writer or clock.
func startController(t *testing.T, c *testenv.Cluster, with ...func(*controller.Reconciler)) (stop func()) {
	t.Helper()
	return startManager(t, c.Config, ctrl.Options{}, with...)
}

// startManager runs the reconciler in a manager with the credentials of cfg and the options of opts (the scheme,
// metrics and probes are set here).
func startManager(t *testing.T, cfg *rest.Config, opts ctrl.Options, with ...func(*controller.Reconciler)) (stop func()) {
	t.Helper()
	s := testScheme(t)
	skip := true // a restarted controller registers the same controller name again in this process
	opts.Scheme, opts.Metrics, opts.HealthProbeBindAddress = s, metricsserver.Options{BindAddress: "0"}, "0"
	opts.Controller = config.Controller{SkipNameValidation: &skip}
	opts.Cache = controller.CacheOptions(opts.Cache)
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &controller.Reconciler{Client: mgr.GetClient(), Scheme: s, Recorder: mgr.GetEventRecorder("marina-controller")}
	for _, f := range with {
		f(r)
	}
	if err := r.SetupWithManager(mgr, 2); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func modelDeployment(version string, steps ...v1alpha1.CanaryStep) *v1alpha1.ModelDeployment {
	replicas := int32(2)
	return &v1alpha1.ModelDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "iris", Namespace: ns, Labels: map[string]string{"marina.dev/environment": "staging"}},
		Spec: v1alpha1.ModelDeploymentSpec{
			Model: "iris", Version: version, Replicas: &replicas,
			Artifact: v1alpha1.Artifact{URI: "models/iris/artifacts/v" + version + ".onnx", Digest: "sha256:" + digest, Size: 1024, Format: "onnx"},
			Runtime:  v1alpha1.Runtime{Image: "ghcr.io/marina-dev/marina-serve:0.1.0", Port: 8080},
			Strategy: &v1alpha1.Strategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps}},
		},
	}
}

const digest = "1e3fa9ff4412f893618f6767cdecb4b0ad04754682bd48f47dbf51e78e3b4318"

// waitFor polls the ModelDeployment until cond holds; on a timeout the log shows the namespace's workloads.
func waitFor(t *testing.T, c *testenv.Cluster, what string, timeout time.Duration, cond func(*v1alpha1.ModelDeployment) bool) *v1alpha1.ModelDeployment {
	t.Helper()
	defer func() {
		if t.Failed() {
			dump(t, c)
		}
	}()
	return c.WaitForModelDeployment(t, client.ObjectKey{Namespace: ns, Name: "iris"}, what, timeout, cond)
}

// dump logs the Deployments and Pods of the test namespace, for a failure message.
func dump(t *testing.T, c *testenv.Cluster) {
	t.Helper()
	ctx := context.Background()
	var deps appsv1.DeploymentList
	var pods corev1.PodList
	if err := c.Client.List(ctx, &deps, client.InNamespace(ns)); err != nil {
		t.Log(err)
	}
	if err := c.Client.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Log(err)
	}
	for _, d := range deps.Items {
		t.Logf("deployment %s: replicas %d, status %+v", d.Name, *d.Spec.Replicas, d.Status)
	}
	for _, p := range pods.Items {
		t.Logf("pod %s on %q: %s %+v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.Conditions)
	}
	t.Log(c.Logs("kube-controller-manager"))
}

func deployment(t *testing.T, c *testenv.Cluster, name string) (*appsv1.Deployment, bool) {
	t.Helper()
	return deploymentIn(t, c, ns, name)
}

func deploymentIn(t *testing.T, c *testenv.Cluster, namespace, name string) (*appsv1.Deployment, bool) {
	t.Helper()
	d := &appsv1.Deployment{}
	err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, d)
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return d, true
}

func ready(md *v1alpha1.ModelDeployment) bool {
	return md.Status.ObservedGeneration == md.Generation && meta.IsStatusConditionTrue(md.Status.Conditions, v1alpha1.ReadyCondition)
}

func update(t *testing.T, c *testenv.Cluster, change func(*v1alpha1.ModelDeployment)) {
	t.Helper()
	modify(t, c, client.ObjectKey{Namespace: ns, Name: "iris"}, change)
}

// TestCanaryOnARealCluster rolls a canary out on kube-controller-manager, kube-scheduler and kwok: without the
// router, the weights reach the HTTPRoute, the controller is restarted during the pause and resumes it with the same end time, the
// new version becomes stable and the old Deployment goes; then a version whose pods never become ready aborts
// at its progress deadline.
func TestCanaryOnARealCluster(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true, Workloads: true})
	c.AddNode(t, testenv.Node{Name: "cpu-0"})
	ctx := context.Background()
	c.CreateNamespaces(t, ns)
	route := httpRoute(ns, "iris")
	if err := c.Client.Create(ctx, route); err != nil {
		t.Fatal(err)
	}
	stop := startController(t, c)

	// Without the router the HTTPRoute splits (TestTheRouterRunsInFrontOfTheVersions… has it point at the router).
	md := modelDeployment("1.0.0", v1alpha1.CanaryStep{SetWeight: new(int32(50))}, v1alpha1.CanaryStep{Pause: &v1alpha1.PauseStep{Duration: "6s"}})
	md.Spec.Router = &v1alpha1.Router{Enabled: new(false)}
	if err := c.Client.Create(ctx, md); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, "1.0.0 Ready", time.Minute, ready)
	if d, ok := deployment(t, c, "iris-1-0-0"); !ok || d.Status.ReadyReplicas != 2 {
		t.Fatalf("Deployment iris-1-0-0: %+v", d)
	}

	update(t, c, func(md *v1alpha1.ModelDeployment) { md.Spec.Version = "1.1.0" })
	md = waitFor(t, c, "the pause step", time.Minute, func(md *v1alpha1.ModelDeployment) bool {
		return md.Status.CurrentStepIndex != nil && *md.Status.CurrentStepIndex == 1
	})
	pauseStart := md.Status.StepStartTime.Time
	if d, ok := deployment(t, c, "iris-1-1-0"); !ok || *d.Spec.Replicas != 1 {
		t.Fatalf("canary Deployment at 50%%: %+v", d)
	}
	if err := c.Client.Get(ctx, client.ObjectKeyFromObject(route), route); err != nil {
		t.Fatal(err)
	}
	refs, _, _ := unstructured.NestedSlice(route.Object, "spec", "rules")
	backends := refs[0].(map[string]any)["backendRefs"].([]any)
	if len(backends) != 2 || backends[0].(map[string]any)["weight"] != int64(50) || backends[1].(map[string]any)["name"] != "iris-canary" {
		t.Fatalf("HTTPRoute backends: %v", backends)
	}

	// Kill the controller 1 s into the 6 s pause and keep it down 2 s: the new one ends the pause 6 s after it began.
	time.Sleep(time.Second)
	stop()
	time.Sleep(2 * time.Second)
	startController(t, c)
	md = waitFor(t, c, "the end of the pause", time.Minute, func(md *v1alpha1.ModelDeployment) bool {
		return md.Status.CurrentStepIndex == nil || *md.Status.CurrentStepIndex != 1
	})
	if md.Status.CurrentStepIndex == nil || *md.Status.CurrentStepIndex != 2 {
		t.Fatalf("the rollout went past the final step before the test saw it: %+v", md.Status)
	}
	if took := md.Status.StepStartTime.Sub(pauseStart); took < 6*time.Second || took > 10*time.Second {
		t.Fatalf("the 6 s pause took %s across the restart", took)
	}
	waitFor(t, c, "promotion", time.Minute, func(md *v1alpha1.ModelDeployment) bool {
		return md.Status.StableVersion == "1.1.0" && ready(md)
	})
	if _, ok := deployment(t, c, "iris-1-0-0"); ok {
		waitGone(t, c, "iris-1-0-0")
	}

	// Pods that never schedule: the progress deadline aborts, stable keeps the traffic.
	update(t, c, func(md *v1alpha1.ModelDeployment) {
		md.Spec.Version = "1.2.0"
		md.Spec.Runtime.NodeSelector = map[string]string{"pool": "nowhere"}
		md.Spec.ProgressDeadlineSeconds = new(int32(3))
	})
	md = waitFor(t, c, "abort", time.Minute, func(md *v1alpha1.ModelDeployment) bool {
		return meta.IsStatusConditionTrue(md.Status.Conditions, v1alpha1.DegradedCondition)
	})
	deg := meta.FindStatusCondition(md.Status.Conditions, v1alpha1.DegradedCondition)
	wb := meta.FindStatusCondition(md.Status.Conditions, controller.WriteBackCondition)
	if deg.Reason != "ProgressDeadlineExceeded" || md.Status.Weights.Stable != 100 || md.Status.StableVersion != "1.1.0" || wb == nil || wb.Reason != "Disabled" {
		t.Fatalf("after the abort: %+v", md.Status)
	}
	if d, ok := deployment(t, c, "iris-1-2-0"); ok && *d.Spec.Replicas != 0 {
		t.Fatalf("aborted canary still has %d replicas", *d.Spec.Replicas)
	}
	var evs eventsv1.EventList
	if err := c.Client.List(ctx, &evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range evs.Items {
		reasons = append(reasons, e.Reason)
		if e.Reason == "ProgressDeadlineExceeded" && e.Type == corev1.EventTypeWarning {
			return
		}
	}
	t.Fatalf("no Warning event ProgressDeadlineExceeded among %v", reasons)
}

func waitGone(t *testing.T, c *testenv.Cluster, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := eventually.Poll(ctx, func(context.Context) (bool, error) {
		_, ok := deployment(t, c, name)
		return !ok, nil
	}); err != nil {
		t.Fatalf("Deployment %s not deleted: %v", name, err)
	}
}
