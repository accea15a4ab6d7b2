package doctor_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/doctor"
	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/testenv"
)

// TestDoctorJudgesWhatControllersWrite runs the checks against a real API server where the test plays the
// controllers: it creates Argo CD, Flux, Deployment, HPA and Pod objects and writes the status their controllers
// would. Subtests share one cluster and use their own namespaces and repository URLs.
func TestDoctorJudgesWhatControllersWrite(t *testing.T) {
	t.Parallel()
	c := testenv.Start(t, testenv.Options{CRDs: true})
	cl := c.Client
	ctx := context.Background()
	for _, ns := range []string{project.ArgoCDNamespace, project.FluxNamespace, doctor.ControllerNamespace} {
		createNamespace(t, cl, ns)
	}

	t.Run("checks", func(t *testing.T) {
		t.Run("api passes with the server version and crd with the Established CRD", func(t *testing.T) {
			t.Parallel()
			checks := doctor.Run(ctx, input(t, c, newProject("https://git.example.com/api.git", nil, "staging", "api-staging")))
			expect(t, checks, doctor.CheckAPI, c.Config.Host, doctor.Pass, []string{"server version v1.", "1.30 or newer"})
			expect(t, checks, doctor.CheckCRD, doctor.CRDName, doctor.Pass, []string{"is Established"})
			expect(t, checks, doctor.CheckController, doctor.ControllerNamespace+"/"+doctor.ControllerName, doctor.Skip, []string{"no application uses backend: marina"})
			expect(t, checks, doctor.CheckGPU, "", doctor.Skip, []string{"no application requests nvidia.com/gpu"})
			expect(t, checks, doctor.CheckArgoCD, "", doctor.Skip, []string{"marina.yaml does not list argocd in spec.engines"})
			expect(t, checks, doctor.CheckFlux, "", doctor.Skip, []string{"does not list flux"})
		})

		t.Run("an unreachable API server fails api and skips every other check", func(t *testing.T) {
			t.Parallel()
			in := input(t, c, newProject("https://git.example.com/down.git", []string{"argocd"}, "staging", "down-staging"), exampleApp(t, "vision-gpu"))
			d, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: "https://127.0.0.1:1", Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			in.Discovery, in.Server = d, "https://127.0.0.1:1"
			checks := doctor.Run(ctx, in)
			expect(t, checks, doctor.CheckAPI, "https://127.0.0.1:1", doctor.Fail, []string{"GET /version", "connection refused"}, "kubeconfig")
			if len(checks) != 11 {
				t.Fatalf("want api and 10 skipped checks:\n%s", dump(checks))
			}
			for _, ch := range checks[1:] {
				if ch.Status != doctor.Skip || !strings.Contains(ch.Evidence, "unreachable") {
					t.Errorf("%s: %s %q, want skip because the API server is unreachable", ch.Name, ch.Status, ch.Evidence)
				}
			}
		})

		t.Run("controller fails while its Deployment is missing and passes once it is Available", func(t *testing.T) {
			t.Parallel()
			app := exampleApp(t, "iris-classifier")
			app.Spec.Backend = project.BackendMarina
			in := input(t, c, newProject("https://git.example.com/ctl.git", nil, "staging", "ctl-staging"), app)
			target := doctor.ControllerNamespace + "/" + doctor.ControllerName
			expect(t, doctor.Run(ctx, in), doctor.CheckController, target, doctor.Fail,
				[]string{"Deployment marina-system/marina-controller not found", "iris-classifier/staging use backend: marina"}, "install the marina controller")

			dep := controllerDeployment()
			if err := cl.Create(ctx, dep); err != nil {
				t.Fatal(err)
			}
			expect(t, doctor.Run(ctx, in), doctor.CheckController, target, doctor.Fail, []string{"is not Available (0/0 ready)"}, "logs deployment/marina-controller")
			dep.Status = appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, Conditions: []appsv1.DeploymentCondition{{
				Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable", Message: "Deployment has minimum availability.",
			}}}
			if err := cl.Status().Update(ctx, dep); err != nil {
				t.Fatal(err)
			}
			expect(t, doctor.Run(ctx, in), doctor.CheckController, target, doctor.Pass, []string{"is Available (1/1 ready)"})
		})

		t.Run("argocd passes Synced Healthy Applications and fails others with the last sync error", func(t *testing.T) {
			t.Parallel()
			url := "https://git.example.com/argo.git"
			createWithStatus(t, cl, argoApp("argo-healthy", url+"/"), map[string]any{
				"sync":   map[string]any{"status": "Synced", "revision": "abc"},
				"health": map[string]any{"status": "Healthy"},
			})
			createWithStatus(t, cl, argoApp("argo-broken", strings.TrimSuffix(url, ".git")), map[string]any{
				"sync":       map[string]any{"status": "OutOfSync"},
				"health":     map[string]any{"status": "Degraded"},
				"conditions": []any{map[string]any{"type": "SyncError", "message": "Failed sync attempt to abc: one or more objects failed to apply"}},
				"operationState": map[string]any{
					"operation": map[string]any{"sync": map[string]any{"revision": "abc"}},
					"phase":     "Failed",
					"message":   `one or more objects failed to apply, reason: Deployment.apps "iris-classifier" is invalid: spec.template.spec.containers[0].image: Required value`,
					"startedAt": time.Now().UTC().Format(time.RFC3339),
				},
			})
			createWithStatus(t, cl, argoApp("argo-retrying", url), map[string]any{
				"sync":   map[string]any{"status": "OutOfSync"},
				"health": map[string]any{"status": "Healthy"},
				"operationState": map[string]any{
					"operation": map[string]any{"sync": map[string]any{"revision": "def"}},
					"phase":     "Running",
					"message":   `one or more synchronization tasks completed unsuccessfully, reason: Deployment.apps "iris-classifier" is invalid. Retrying attempt #2 at 2026-11-25T22:16:24Z.`,
					"startedAt": time.Now().UTC().Format(time.RFC3339),
					"syncResult": map[string]any{"revision": "def", "resources": []any{map[string]any{
						"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "models-staging", "name": "iris-classifier",
						"status": "SyncFailed", "message": `Deployment.apps "iris-classifier" is invalid`,
					}}},
				},
			})
			// As Argo CD v3.6 showed it once the Git server refused its credentials, a sync of the commit before still
			// retrying (test/e2e's failure paths).
			createWithStatus(t, cl, argoApp("argo-refused", url), map[string]any{
				"sync":   map[string]any{"status": "Unknown"},
				"health": map[string]any{"status": "Healthy"},
				"conditions": []any{map[string]any{"type": "ComparisonError", "message": "Failed to load target state: failed to generate manifest for source 1 of 1: " +
					"rpc error: code = Unknown desc = failed to list refs: authentication required: authentication required"}},
				"operationState": map[string]any{
					"operation": map[string]any{"sync": map[string]any{"revision": "def"}},
					"phase":     "Running",
					"message":   "Retrying operation. Attempt #2",
					"startedAt": time.Now().UTC().Format(time.RFC3339),
				},
			})
			createWithStatus(t, cl, argoApp("argo-rerunning", url), map[string]any{
				"sync":   map[string]any{"status": "OutOfSync"},
				"health": map[string]any{"status": "Healthy"},
				"operationState": map[string]any{
					"operation": map[string]any{"sync": map[string]any{"revision": "def"}},
					"phase":     "Running",
					"message":   "Retrying operation. Attempt #3",
					"startedAt": time.Now().UTC().Format(time.RFC3339),
				},
			})
			createWithStatus(t, cl, argoApp("argo-other-repo", "https://git.example.com/other.git"), map[string]any{
				"sync": map[string]any{"status": "OutOfSync"}, "health": map[string]any{"status": "Missing"},
			})
			in := input(t, c, newProject(url, []string{project.EngineArgoCD}, "staging", "argo-staging"))
			checks := doctor.Run(ctx, in)
			expect(t, checks, doctor.CheckArgoCD, "Application argocd/argo-healthy", doctor.Pass, []string{"sync Synced, health Healthy"})
			expect(t, checks, doctor.CheckArgoCD, "Application argocd/argo-broken", doctor.Fail,
				[]string{"sync OutOfSync, health Degraded", "SyncError: Failed sync attempt", `last sync (Failed): one or more objects failed to apply, reason: Deployment.apps "iris-classifier" is invalid`},
				"argocd app sync argo-broken")
			// Knowing where the repository's objects come from, the fix names the file of the object in the message.
			in.Sources = map[string]string{"Deployment/models-staging/iris-classifier": "applications/iris-classifier/staging/deployment.yaml"}
			expect(t, doctor.Run(ctx, in), doctor.CheckArgoCD, "Application argocd/argo-broken", doctor.Fail, nil,
				"fix applications/iris-classifier/staging/deployment.yaml")
			// A failed sync being retried is a failure, not progress: no newer commit is synced until it ends.
			expect(t, doctor.Run(ctx, in), doctor.CheckArgoCD, "Application argocd/argo-retrying", doctor.Fail,
				[]string{"Retrying attempt #2"}, "fix applications/iris-classifier/staging/deployment.yaml", "argocd app terminate-op argo-retrying")
			// A repository Argo CD cannot read is a failure, also while a sync runs, and the fix says where to look.
			expect(t, doctor.Run(ctx, in), doctor.CheckArgoCD, "Application argocd/argo-refused", doctor.Fail,
				[]string{"authentication required", "last sync (Running): Retrying operation. Attempt #2"}, "argocd repo list", "argocd app get argo-refused --refresh")
			// A failed sync running again is as much a failure as one waiting for its retry.
			expect(t, doctor.Run(ctx, in), doctor.CheckArgoCD, "Application argocd/argo-rerunning", doctor.Fail,
				[]string{"Retrying operation. Attempt #3"}, "argocd app terminate-op argo-rerunning")
			// The same name in two namespaces: the message does not say which file.
			in.Sources["Deployment/models-prod/iris-classifier"] = "applications/iris-classifier/prod/deployment.yaml"
			expect(t, doctor.Run(ctx, in), doctor.CheckArgoCD, "Application argocd/argo-broken", doctor.Fail, nil,
				"fix them in Git")
			for _, ch := range checks {
				if ch.Target == "Application argocd/argo-other-repo" {
					t.Errorf("an Application of another repository was checked: %+v", ch)
				}
			}

			checks = doctor.Run(ctx, input(t, c, newProject("https://git.example.com/unsynced.git", []string{project.EngineArgoCD}, "staging", "argo-staging")))
			expect(t, checks, doctor.CheckArgoCD, "", doctor.Fail, []string{"no Argo CD Application pulls https://git.example.com/unsynced.git"}, "kubectl apply -k gitops/argocd")
		})

		t.Run("flux passes Ready objects of the repository and fails the rest with the Ready message", func(t *testing.T) {
			t.Parallel()
			url := "https://git.example.com/flux.git"
			createWithStatus(t, cl, fluxObject("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-repo", map[string]any{
				"interval": "1m", "url": url, "ref": map[string]any{"branch": "main"},
			}), map[string]any{"conditions": []any{condition("Ready", "True", "Succeeded", "stored artifact for revision 'main@sha1:abc'")}})
			createWithStatus(t, cl, fluxKustomization("flux-infra", "flux-repo"), map[string]any{
				"conditions": []any{condition("Ready", "True", "ReconciliationSucceeded", "Applied revision: main@sha1:abc")}})
			createWithStatus(t, cl, fluxKustomization("flux-apps", "flux-repo"), map[string]any{
				"conditions": []any{condition("Ready", "False", "ReconciliationFailed",
					`Deployment/models-staging/iris-classifier dry-run failed: Deployment.apps "iris-classifier" is invalid`)}})
			createWithStatus(t, cl, fluxKustomization("flux-elsewhere", "other-repo"), map[string]any{
				"conditions": []any{condition("Ready", "False", "ArtifactFailed", "Source 'GitRepository/flux-system/other-repo' not found")}})
			createWithStatus(t, cl, fluxObject("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-private", map[string]any{
				"interval": "1m", "url": "https://git.example.com/private.git", "ref": map[string]any{"branch": "main"},
			}), map[string]any{"conditions": []any{condition("Ready", "False", "GitOperationFailed",
				"failed to checkout and determine revision: unable to clone 'https://git.example.com/private.git': authentication required")}})

			in := input(t, c, newProject(url, []string{project.EngineFlux}, "staging", "flux-staging"))
			in.Sources = map[string]string{"Deployment/models-staging/iris-classifier": "applications/iris-classifier/staging/deployment.yaml"}
			checks := doctor.Run(ctx, in)
			expect(t, checks, doctor.CheckFlux, "GitRepository flux-system/flux-repo", doctor.Pass, []string{"Ready", "stored artifact"})
			expect(t, checks, doctor.CheckFlux, "Kustomization flux-system/flux-infra", doctor.Pass, []string{"Applied revision"})
			expect(t, checks, doctor.CheckFlux, "Kustomization flux-system/flux-apps", doctor.Fail,
				[]string{"not Ready", "ReconciliationFailed", "dry-run failed"},
				"fix applications/iris-classifier/staging/deployment.yaml (marina validate --server shows the server's complaint), push, then flux reconcile kustomization flux-apps -n flux-system --with-source")
			for _, ch := range checks {
				if strings.Contains(ch.Target, "flux-elsewhere") || strings.Contains(ch.Target, "flux-private") {
					t.Errorf("an object of another repository was checked: %+v", ch)
				}
			}

			checks = doctor.Run(ctx, input(t, c, newProject("https://git.example.com/private.git", []string{project.EngineFlux}, "staging", "flux-staging")))
			expect(t, checks, doctor.CheckFlux, "GitRepository flux-system/flux-private", doctor.Fail, []string{"GitOperationFailed", "authentication required"}, "flux reconcile source git flux-private")
		})

		t.Run("hpa judges AbleToScale and ScalingActive", func(t *testing.T) {
			t.Parallel()
			ns := "hpa-status"
			createNamespace(t, cl, ns)
			cases := []struct {
				name     string
				conds    []autoscalingv2.HorizontalPodAutoscalerCondition
				status   doctor.Status
				evidence string
				fix      string
			}{
				{"healthy", []autoscalingv2.HorizontalPodAutoscalerCondition{
					{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ReadyForNewScale"},
					{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionTrue, Reason: "ValidMetricFound"},
				}, doctor.Pass, "AbleToScale=True, ScalingActive=True; 2 current, 2 desired replicas of Deployment healthy", ""},
				{"no-metrics", []autoscalingv2.HorizontalPodAutoscalerCondition{
					{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "SucceededGetScale"},
					{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "FailedGetResourceMetric",
						Message: "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API"},
				}, doctor.Fail, "ScalingActive=False (FailedGetResourceMetric): the HPA was unable to compute the replica count", "install metrics-server"},
				{"no-target", []autoscalingv2.HorizontalPodAutoscalerCondition{
					{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionFalse, Reason: "FailedGetScale", Message: `deployments/scale.apps "no-target" not found`},
				}, doctor.Fail, `AbleToScale=False (FailedGetScale): deployments/scale.apps "no-target" not found`, "scaleTargetRef Deployment no-target exists"},
				{"scaled-to-zero", []autoscalingv2.HorizontalPodAutoscalerCondition{
					{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "SucceededGetScale"},
					{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "ScalingDisabled", Message: "scaling is disabled since the replica count of the target is zero"},
				}, doctor.Warn, "ScalingDisabled", "above 0 replicas"},
				{"not-evaluated", nil, doctor.Warn, "has not evaluated it", "horizontalpodautoscaling controller"},
			}
			for _, tc := range cases {
				h := &autoscalingv2.HorizontalPodAutoscaler{
					ObjectMeta: metav1.ObjectMeta{Name: tc.name, Namespace: ns},
					Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
						ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: tc.name},
						MaxReplicas:    4,
					},
				}
				if err := cl.Create(ctx, h); err != nil {
					t.Fatal(err)
				}
				if tc.conds != nil {
					h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, DesiredReplicas: 2, Conditions: tc.conds}
					if err := cl.Status().Update(ctx, h); err != nil {
						t.Fatal(err)
					}
				}
			}
			checks := doctor.Run(ctx, input(t, c, newProject("https://git.example.com/hpa.git", nil, "staging", ns)))
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					var fix []string
					if tc.fix != "" {
						fix = append(fix, tc.fix)
					}
					expect(t, checks, doctor.CheckHPA, "HorizontalPodAutoscaler "+ns+"/"+tc.name, tc.status, []string{tc.evidence}, fix...)
				})
			}
		})

		t.Run("pods fails on image pull and crash loops and passes running pods", func(t *testing.T) {
			t.Parallel()
			bad, good := "pods-bad", "pods-good"
			for _, ns := range []string{bad, good} {
				createNamespace(t, cl, ns)
				if err := cl.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
					t.Fatal(err)
				}
			}
			waiting := func(reason, msg string) corev1.ContainerState {
				return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
			}
			modelPod(t, cl, bad, "iris-pull", waiting("ImagePullBackOff", `Back-off pulling image "ghcr.io/marina-dev/marina-serve:9.9.9"`))
			modelPod(t, cl, bad, "iris-crash", waiting("CrashLoopBackOff", "back-off 40s restarting failed container=model-server"))
			modelPod(t, cl, good, "iris-ok", corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}})

			checks := doctor.Run(ctx, input(t, c, newProject("https://git.example.com/pods.git", nil, "staging", bad, "prod", good), exampleApp(t, "iris-classifier")))
			expect(t, checks, doctor.CheckPods, "iris-classifier/staging", doctor.Fail, []string{
				`pod iris-pull container model-server: ImagePullBackOff: Back-off pulling image "ghcr.io/marina-dev/marina-serve:9.9.9"`,
				"pod iris-crash container model-server: CrashLoopBackOff, restarted 0 times: back-off 40s",
			}, "runtime.image", "--previous")
			expect(t, checks, doctor.CheckPods, "iris-classifier/prod", doctor.Pass, []string{"1 model pod", "none failing"})
		})

		t.Run("routes passes accepted HTTPRoutes and fails those no Gateway controller accepts", func(t *testing.T) {
			t.Parallel()
			ns := "routes-staging"
			createNamespace(t, cl, ns)
			c.AcceptRoutes(t, "gateway-system", "models") // testenv's stand-in for a Gateway implementation
			if err := cl.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "iris", Namespace: ns},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}); err != nil {
				t.Fatal(err)
			}
			route := func(name, gateway, backend string) {
				t.Helper()
				r := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
					"metadata": map[string]any{"name": name, "namespace": ns},
					"spec": map[string]any{
						"parentRefs": []any{map[string]any{"name": gateway, "namespace": "gateway-system"}},
						"rules":      []any{map[string]any{"backendRefs": []any{map[string]any{"name": backend, "port": int64(80)}}}},
					},
				}}
				if err := cl.Create(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			route("accepted", "models", "iris")
			route("no-backend", "models", "missing")
			route("no-gateway", "nowhere", "iris")
			in := input(t, c, newProject("https://git.example.com/routes.git", nil, "staging", ns))
			var checks []doctor.Check
			waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			_ = eventually.Poll(waitCtx, func(ctx context.Context) (bool, error) {
				checks = doctor.Run(ctx, in)
				// Until the stand-in has written both routes' status (no-backend fails before it, for having none).
				return find(t, checks, doctor.CheckRoutes, "HTTPRoute "+ns+"/accepted").Status == doctor.Pass &&
					strings.Contains(find(t, checks, doctor.CheckRoutes, "HTTPRoute "+ns+"/no-backend").Evidence, "ResolvedRefs=False"), nil
			})
			expect(t, checks, doctor.CheckRoutes, "HTTPRoute "+ns+"/accepted", doctor.Pass, []string{"accepted by Gateway gateway-system/models"})
			expect(t, checks, doctor.CheckRoutes, "HTTPRoute "+ns+"/no-backend", doctor.Fail,
				[]string{"Gateway gateway-system/models: ResolvedRefs=False (BackendNotFound): Service routes-staging/missing not found"}, "backendRef")
			expect(t, checks, doctor.CheckRoutes, "HTTPRoute "+ns+"/no-gateway", doctor.Fail,
				[]string{"no Gateway controller has accepted it", "Gateway gateway-system/nowhere does not exist"}, "create Gateway gateway-system/nowhere")
		})
	})

	// These remove CRDs, so they run after every check above.
	t.Run("crd, argocd and flux fail when their CRDs are not installed", func(t *testing.T) {
		for _, name := range []string{doctor.CRDName, "applications.argoproj.io", "gitrepositories.source.toolkit.fluxcd.io"} {
			crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: name}}
			if err := cl.Delete(ctx, crd); err != nil {
				t.Fatal(err)
			}
			wait(t, name+" to go", func(ctx context.Context) (bool, error) {
				err := cl.Get(ctx, client.ObjectKey{Name: name}, crd)
				return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
			})
		}
		// A new client, as a new marina doctor process has: it learns the served kinds afresh.
		fresh, err := client.New(c.Config, client.Options{Scheme: testenv.Scheme()})
		if err != nil {
			t.Fatal(err)
		}
		in := input(t, c, newProject("https://git.example.com/argo.git", []string{project.EngineArgoCD, project.EngineFlux}, "staging", "gone-staging"))
		in.Client = fresh
		checks := doctor.Run(ctx, in)
		expect(t, checks, doctor.CheckCRD, doctor.CRDName, doctor.Fail, []string{"CustomResourceDefinition modeldeployments.marina.dev not found"}, "config/crd")
		expect(t, checks, doctor.CheckArgoCD, "", doctor.Fail, []string{"Argo CD is not installed"}, "install Argo CD")
		expect(t, checks, doctor.CheckFlux, "", doctor.Fail, []string{"Flux is not installed"}, "flux install")

		// The long-lived client still maps the kind, and gets NotFound from the server instead.
		in.Client = cl
		expect(t, doctor.Run(ctx, in), doctor.CheckArgoCD, "", doctor.Fail, []string{"Argo CD is not installed"}, "install Argo CD")
	})
}

func controllerDeployment() *appsv1.Deployment {
	labels := map[string]string{"app.kubernetes.io/name": doctor.ControllerName}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: doctor.ControllerName, Namespace: doctor.ControllerNamespace},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "ghcr.io/marina-dev/marina:0.1.0"}}},
			},
		},
	}
}

func argoApp(name, repoURL string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Application",
		"metadata":   map[string]any{"name": name, "namespace": project.ArgoCDNamespace},
		"spec": map[string]any{
			"project":     "default",
			"source":      map[string]any{"repoURL": repoURL, "path": "applications/iris-classifier/staging", "targetRevision": "main"},
			"destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": "models-staging"},
		},
	}}
}

func fluxObject(apiVersion, kind, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion,
		"kind":       kind,
		"metadata":   map[string]any{"name": name, "namespace": project.FluxNamespace},
		"spec":       spec,
	}}
}

func fluxKustomization(name, source string) *unstructured.Unstructured {
	return fluxObject("kustomize.toolkit.fluxcd.io/v1", "Kustomization", name, map[string]any{
		"interval": "10m", "path": "./gitops/flux/apps/staging", "prune": true,
		"sourceRef": map[string]any{"kind": "GitRepository", "name": source},
	})
}

// modelPod creates a pod of iris-classifier as the rendered Deployment labels it, bound to a node, and writes the
// container state the kubelet would report.
func modelPod(t *testing.T, cl client.Client, ns, name string, state corev1.ContainerState) {
	t.Helper()
	ctx := context.Background()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			v1alpha1.LabelManagedBy: v1alpha1.ManagedBy, v1alpha1.LabelModel: "iris-classifier", v1alpha1.LabelEnvironment: "staging",
		}},
		Spec: corev1.PodSpec{NodeName: "node-0", Containers: []corev1.Container{{Name: "model-server", Image: "ghcr.io/marina-dev/marina-serve:9.9.9"}}},
	}
	if err := cl.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "model-server", Image: p.Spec.Containers[0].Image, State: state,
	}}}
	if state.Running != nil {
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses[0].Ready = true
	}
	if err := cl.Status().Update(ctx, p); err != nil {
		t.Fatal(fmt.Errorf("pod %s status: %w", name, err))
	}
}
