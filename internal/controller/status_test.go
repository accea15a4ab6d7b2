package controller_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/controller"
	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/testenv"
)

// refuseDeployments makes the API server's admission refuse every Deployment created or updated in ns, through a
// ValidatingAdmissionPolicy, and returns a function that lifts the refusal.
func refuseDeployments(t *testing.T, c *testenv.Cluster, ns, message string) (lift func()) {
	t.Helper()
	ctx := context.Background()
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "freeze-" + ns},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: message}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "freeze-" + ns},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}},
		},
	}
	for _, o := range []client.Object{policy, binding} {
		if err := c.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// The API server loads policies through an informer: wait until a dry run is refused.
	probe := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "probe"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "probe"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}},
		}}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := eventually.Poll(wctx, func(ctx context.Context) (bool, error) {
		err := c.Client.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), message), nil
	}); err != nil {
		t.Fatalf("the ValidatingAdmissionPolicy never refused a Deployment: %v", err)
	}
	return func() {
		if err := c.Client.Delete(ctx, binding); err != nil {
			t.Fatal(err)
		}
	}
}

func readyCondition(md *v1alpha1.ModelDeployment) *metav1.Condition {
	return meta.FindStatusCondition(md.Status.Conditions, v1alpha1.ReadyCondition)
}

// TestADeploymentTheAPIServerRefusesShowsInReadyWithTheServersMessage: admission refuses the model's Deployment;
// the status says so (Ready=False, ApplyFailed, the policy's message) for every generation, and the rollout goes on
// once the refusal is lifted.
func TestADeploymentTheAPIServerRefusesShowsInReadyWithTheServersMessage(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true})
	ns := namespace(t, c, "refused")
	const why = "deployments are frozen in this namespace"
	lift := refuseDeployments(t, c, ns, why)
	startController(t, c)

	create(t, c, e2eDeployment(ns, "1.0.0", "", nil))
	refused := func(generation int64) func(*v1alpha1.ModelDeployment) bool {
		return func(md *v1alpha1.ModelDeployment) bool {
			r := readyCondition(md)
			return md.Generation == generation && md.Status.ObservedGeneration == generation &&
				r != nil && r.Reason == v1alpha1.ApplyFailedReason && r.ObservedGeneration == generation
		}
	}
	md := waitOn(t, c, ns, "Ready=False ApplyFailed at generation 1", 30*time.Second, refused(1))
	if r := readyCondition(md); r.Status != metav1.ConditionFalse || !strings.Contains(r.Message, why) ||
		!strings.Contains(r.Message, "iris-classifier-1-0-0") {
		t.Fatalf("Ready: %+v, want False naming the Deployment and the server's message %q", r, why)
	}

	updateIn(t, c, ns, func(md *v1alpha1.ModelDeployment) { md.Spec.Replicas = new(int32(3)) })
	waitOn(t, c, ns, "Ready=False ApplyFailed at generation 2", 30*time.Second, refused(2))

	lift()
	md = waitOn(t, c, ns, "the rollout going on once admission allows it", time.Minute, func(md *v1alpha1.ModelDeployment) bool {
		r := readyCondition(md)
		return r != nil && r.Reason != v1alpha1.ApplyFailedReason && md.Status.ObservedGeneration == 2
	})
	if d, ok := deploymentIn(t, c, ns, "iris-classifier-1-0-0"); !ok || *d.Spec.Replicas != 3 {
		t.Fatalf("Deployment after the refusal was lifted: %+v (status %+v)", d, md.Status)
	}
}

// TestStatusIsWrittenWhenTheObjectChangedSinceItWasRead: another writer changes the ModelDeployment between the
// reconciler's read and its status write (here: right after every read); the status still lands, because it is a
// patch without a resourceVersion, not an update that conflicts.
func TestStatusIsWrittenWhenTheObjectChangedSinceItWasRead(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true})
	ns := namespace(t, c, "concurrent")
	create(t, c, e2eDeployment(ns, "1.0.0", "", nil))
	direct, err := client.NewWithWatch(c.Config, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	writes := 0
	stale := interceptor.NewClient(direct, interceptor.Funcs{
		Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if err := cl.Get(ctx, key, obj, opts...); err != nil {
				return err
			}
			if _, ok := obj.(*v1alpha1.ModelDeployment); ok {
				writes++
				touch := []byte(`{"metadata":{"labels":{"touched-by-someone-else":"` + strconv.Itoa(writes) + `"}}}`)
				return c.Client.Patch(ctx, obj.DeepCopyObject().(client.Object), client.RawPatch(types.MergePatchType, touch))
			}
			return nil
		},
	})
	r := &controller.Reconciler{Client: stale, APIReader: stale, Scheme: testScheme(t), Recorder: recorder(t, c)}
	reconcile(t, r, ns)
	md := get(t, c, ns)
	if md.Labels["touched-by-someone-else"] == "" || md.Status.ObservedGeneration != md.Generation || readyCondition(md) == nil {
		t.Fatalf("after a reconcile racing another writer: labels %v, status %+v", md.Labels, md.Status)
	}
}

// TestAReconcileOnAStaleCacheDecidesFromTheAPIServer: the cache still holds the ModelDeployment as it was before
// the controller's last status write (and before a new version was asked for). The reconcile must not decide from
// it: that replayed an aborted canary step and left the aborted rollout's status at 50/50 weights.
func TestAReconcileOnAStaleCacheDecidesFromTheAPIServer(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true})
	ns := namespace(t, c, "stale")
	create(t, c, e2eDeployment(ns, "1.0.0", "", nil, canarySteps()...))
	old := get(t, c, ns)
	direct, err := client.NewWithWatch(c.Config, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	cacheIsStale := false
	cache := interceptor.NewClient(direct, interceptor.Funcs{
		Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if md, ok := obj.(*v1alpha1.ModelDeployment); ok && cacheIsStale {
				old.DeepCopyInto(md)
				return nil
			}
			return cl.Get(ctx, key, obj, opts...)
		},
	})
	r := &controller.Reconciler{Client: cache, APIReader: direct, Scheme: testScheme(t), Recorder: recorder(t, c)}
	reconcile(t, r, ns)
	if md := get(t, c, ns); md.Status.StableVersion != "1.0.0" || md.ResourceVersion == old.ResourceVersion {
		t.Fatalf("first reconcile: resourceVersion %s, status %+v", md.ResourceVersion, md.Status)
	}
	updateIn(t, c, ns, func(md *v1alpha1.ModelDeployment) { md.Spec.Version = "1.1.0" })
	cacheIsStale = true
	reconcile(t, r, ns)
	md := get(t, c, ns)
	if md.Status.CanaryVersion != "1.1.0" || md.Status.Weights == nil || md.Status.Weights.Canary != 50 || md.Status.ObservedGeneration != md.Generation {
		t.Fatalf("a reconcile on the cache's old object decided from it: status %+v", md.Status)
	}
}

// recorder records c's Events as marina controller does.
func recorder(t *testing.T, c *testenv.Cluster) events.EventRecorder {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	stop := make(chan struct{})
	broadcaster.StartRecordingToSink(stop)
	t.Cleanup(func() { close(stop); broadcaster.Shutdown() })
	return broadcaster.NewRecorder(testScheme(t), "marina-controller")
}

func reconcile(t *testing.T, r *controller.Reconciler, ns string) {
	t.Helper()
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: e2eModel}}
	if _, err := r.Reconcile(context.Background(), req); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
}
