//go:build e2e

package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/doctor"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/sandbox"
	"github.com/marina-dev/marina/internal/testenv"
)

// fluxPoll is the GitRepository interval the test's team sets (marina init writes 1m).
const fluxPoll = "5s"

// TestFlux bootstraps Flux with what marina init wrote and follows a promotion and a rollback from `git push` to
// the Pods, with real source-controller and kustomize-controller processes; nothing writes status for them.
func TestFlux(t *testing.T) {
	c, d := gitopsCluster(t)
	c.StartFlux(t, 2*time.Second)
	r := newGitOpsRepo(t, "flux", d, func(work string) {
		replaceIn(t, filepath.Join(work, "gitops", "flux", "gitrepository.yaml"), "interval: 1m", "interval: "+fluxPoll)
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.Logs("source-controller"))
			t.Log(c.Logs("kustomize-controller"))
		}
	})

	flux := engine{name: "Flux", dir: "flux", applied: func(ctx context.Context, c client.Client, rev string) (bool, string) {
		return fluxApplied(ctx, c, rev)
	}, setting: "GitRepository interval " + fluxPoll}
	flux.deliver(t, c, r)
	// notReady waits until the Flux object kind/name is not Ready for a reason that contains want.
	notReady := func(kind, name, want string) func(context.Context) (bool, string) {
		group := map[string]string{"GitRepository": "source", "Kustomization": "kustomize"}[kind]
		return func(ctx context.Context) (bool, string) {
			o, err := getUnstructured(ctx, c.Client, group+".toolkit.fluxcd.io/v1", kind, testenv.FluxNamespace, name)
			if err != nil {
				return false, err.Error()
			}
			ready, why := conditionTrue(o, "Ready")
			return !ready && strings.Contains(why, want), why
		}
	}
	failurePaths(t, c, r, flux, engineFailure{
		check: doctor.CheckFlux, target: "Kustomization flux-system/ml-platform-apps-staging",
		wait: notReady("Kustomization", "ml-platform-apps-staging", "Deployment/models-staging/iris-classifier"),
	}, engineFailure{
		check: doctor.CheckFlux, target: "GitRepository flux-system/ml-platform",
		wait: notReady("GitRepository", "ml-platform", "authentication required"),
	})
	t.Run("the HPA owns replicas", func(t *testing.T) {
		want := hpaScales(t, c)
		fluxReconcile(t, c, "ml-platform-apps-prod") // Flux applies prod again, with the HPA's count live
		replicasAfter(t, c, want)
	})
	// The seed's recovery path when Git cannot be reached: kubectl rollout undo on the rendered Deployment brings
	// back the previous version's Pods; Flux puts Git's version back at its next reconciliation.
	t.Run("kubectl rollout undo, then Flux corrects the drift", func(t *testing.T) {
		v1, v2 := inferencetest.IrisAnswers(t, r.v1), inferencetest.IrisAnswers(t, r.v2) // Git has staging at 1.0.0 since the rollback
		c.Kubectl(t, "rollout", "undo", "deployment/iris-classifier", "-n", "models-staging")
		c.Kubectl(t, "rollout", "status", "deployment/iris-classifier", "-n", "models-staging", "--timeout=3m")
		answersAre(t, c, "models-staging", "iris-classifier", v2, "the undone Deployment answers with 1.1.0's model")
		fluxReconcile(t, c, "ml-platform-apps-staging")
		answersAre(t, c, "models-staging", "iris-classifier", v1, "Flux restores 1.0.0 from Git")
	})
	t.Run("a killed server is restarted by the kubelet and runs as rendered", func(t *testing.T) {
		killedServerRestarts(t, c, "models-staging", "iris-classifier", inferencetest.IrisAnswers(t, r.v1))
	})
}

// fluxReconcile does what `flux reconcile kustomization NAME` does: it asks kustomize-controller to apply the
// Kustomization again now and waits until it has.
func fluxReconcile(t *testing.T, c *testenv.Cluster, name string) {
	t.Helper()
	ks, err := getUnstructured(context.Background(), c.Client, "kustomize.toolkit.fluxcd.io/v1", "Kustomization", testenv.FluxNamespace, name)
	if err != nil {
		t.Fatal(err)
	}
	requested := time.Now().Format(time.RFC3339Nano)
	ks.SetAnnotations(map[string]string{"reconcile.fluxcd.io/requestedAt": requested})
	if err := c.Client.Update(context.Background(), ks); err != nil {
		t.Fatal(err)
	}
	testenv.WaitUntil(t, "Flux reconciles "+name+" again", time.Minute, func(ctx context.Context) (bool, string) {
		k, err := getUnstructured(ctx, c.Client, "kustomize.toolkit.fluxcd.io/v1", "Kustomization", testenv.FluxNamespace, name)
		if err != nil {
			return false, err.Error()
		}
		ready, why := conditionTrue(k, "Ready")
		return ready && stringAt(k, "status", "lastHandledReconcileAt") == requested, why
	})
}

// fluxApplied reports whether the GitRepository is Ready (it fetches again after a failure) and the
// Kustomizations named (every one when none is) applied rev and are Ready.
func fluxApplied(ctx context.Context, c client.Client, rev string, names ...string) (bool, string) {
	repo, err := getUnstructured(ctx, c, "source.toolkit.fluxcd.io/v1", "GitRepository", testenv.FluxNamespace, "ml-platform")
	if err != nil {
		return false, err.Error()
	}
	if ok, why := conditionTrue(repo, "Ready"); !ok {
		return false, "GitRepository " + why
	}
	return sandbox.FluxApplied(ctx, c, rev, names...)
}
