//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/doctor"
	"github.com/marina-dev/marina/internal/testenv"
)

// argoApplications are the Applications of the repository: the root App of Apps, the infrastructure ones it
// holds, and one per applications/<model>/<env> from the ApplicationSet.
var argoApplications = []string{
	"ml-platform-root", "ml-platform-infrastructure", "ml-platform-infra-staging", "ml-platform-infra-prod",
	"iris-classifier-staging", "iris-classifier-prod", "vision-gpu-staging",
}

// argoReconciliation is the test's timeout.reconciliation (Argo CD's default: 3 min).
const argoReconciliation = 5 * time.Second

// TestArgoCD bootstraps Argo CD with what marina init wrote and follows a promotion and a rollback from `git push`
// to the Pods, with real repo-server, application-controller and applicationset-controller processes; nothing
// writes status for them. The ModelDeployment is Healthy through the Lua health check of gitops/argocd/argocd-cm.yaml.
func TestArgoCD(t *testing.T) {
	c, d := gitopsCluster(t)
	c.StartArgoCD(t, testenv.ArgoCD{Reconciliation: argoReconciliation})
	r := newGitOpsRepo(t, "argocd", d, nil)
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range []string{"argocd-repo-server", "argocd-application-controller", "argocd-applicationset-controller"} {
				t.Log(c.Logs(n))
			}
			var ds appsv1.DeploymentList
			_ = c.Client.List(context.Background(), &ds)
			for _, d := range ds.Items {
				t.Logf("Deployment %s/%s generation %d: %+v", d.Namespace, d.Name, d.Generation, d.Status)
			}
		}
	})

	argo := engine{name: "Argo CD", dir: "argocd", applied: argoSynced, setting: "timeout.reconciliation " + argoReconciliation.String()}
	argo.deliver(t, c, r)
	app := func(ctx context.Context) (*unstructured.Unstructured, error) {
		return getUnstructured(ctx, c.Client, "argoproj.io/v1alpha1", "Application", testenv.ArgoCDNamespace, "iris-classifier-staging")
	}
	failurePaths(t, c, r, argo, engineFailure{
		check: doctor.CheckArgoCD, target: "Application argocd/iris-classifier-staging",
		wait: func(ctx context.Context) (bool, string) {
			a, err := app(ctx)
			if err != nil {
				return false, err.Error()
			}
			phase, msg := stringAt(a, "status", "operationState", "phase"), stringAt(a, "status", "operationState", "message")
			failed := phase == "Failed" || phase == "Error" || phase == "Running" && strings.Contains(msg, "Retrying attempt")
			return failed && strings.Contains(msg, "is invalid"), "last sync " + phase + ": " + msg
		},
	}, engineFailure{
		check: doctor.CheckArgoCD, target: "Application argocd/iris-classifier-staging",
		wait: func(ctx context.Context) (bool, string) {
			a, err := app(ctx)
			if err != nil {
				return false, err.Error()
			}
			conds, _, _ := unstructured.NestedSlice(a.Object, "status", "conditions")
			for _, x := range conds {
				if m, _ := x.(map[string]any); m["type"] == "ComparisonError" && strings.Contains(fmt.Sprint(m["message"]), "authentication required") {
					return true, ""
				}
			}
			return false, fmt.Sprintf("conditions %v", conds)
		},
	})
	t.Run("the HPA owns replicas", func(t *testing.T) {
		want := hpaScales(t, c)
		scaled := time.Now()
		// Two comparisons later (selfHeal on) the Application is still Synced and the count is the HPA's.
		testenv.WaitUntil(t, "Argo CD compares prod again", time.Minute, func(ctx context.Context) (bool, string) {
			app, err := getUnstructured(ctx, c.Client, "argoproj.io/v1alpha1", "Application", testenv.ArgoCDNamespace, "iris-classifier-prod")
			if err != nil {
				return false, err.Error()
			}
			at, err := time.Parse(time.RFC3339, stringAt(app, "status", "reconciledAt"))
			if err != nil {
				return false, "status.reconciledAt: " + err.Error()
			}
			return at.After(scaled.Add(2 * argoReconciliation)), "reconciled at " + at.String()
		})
		if ok, why := argoSynced(context.Background(), c.Client, r.head(t)); !ok {
			t.Fatal(why)
		}
		replicasAfter(t, c, want)
	})
}

// argoSynced reports whether exactly the repository's Applications exist and each is Synced to rev and Healthy.
func argoSynced(ctx context.Context, c client.Client, rev string) (bool, string) {
	apps := &unstructured.UnstructuredList{}
	apps.SetAPIVersion("argoproj.io/v1alpha1")
	apps.SetKind("ApplicationList")
	if err := c.List(ctx, apps, client.InNamespace(testenv.ArgoCDNamespace)); err != nil {
		return false, err.Error()
	}
	var names []string
	for i := range apps.Items {
		app := &apps.Items[i]
		names = append(names, app.GetName())
		sync, health := stringAt(app, "status", "sync", "status"), stringAt(app, "status", "health", "status")
		if revision := stringAt(app, "status", "sync", "revision"); sync != "Synced" || health != "Healthy" || revision != rev {
			return false, fmt.Sprintf("Application %s: %s to %s, %s: %s (last sync: %s; resources not Healthy: %v); want Synced to %s, Healthy",
				app.GetName(), sync, revision, health, stringAt(app, "status", "health", "message"),
				stringAt(app, "status", "operationState", "message"), unhealthy(app), rev)
		}
	}
	slices.Sort(names)
	want := slices.Sorted(slices.Values(argoApplications))
	if !slices.Equal(names, want) {
		return false, fmt.Sprintf("Applications %v, want %v", names, want)
	}
	return true, ""
}

// unhealthy lists an Application's resources that are not Healthy, with what Argo CD says of them.
func unhealthy(app *unstructured.Unstructured) []string {
	resources, _, _ := unstructured.NestedSlice(app.Object, "status", "resources")
	var out []string
	for _, r := range resources {
		m, _ := r.(map[string]any)
		h, _ := m["health"].(map[string]any)
		if h == nil || h["status"] == "Healthy" {
			continue
		}
		out = append(out, fmt.Sprintf("%v/%v %v: %v", m["kind"], m["name"], h["status"], h["message"]))
	}
	return out
}
