//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/testenv"
)

// TestAPromotionPullRequestMergedOnGiteaIsAppliedByFlux closes the pull-request promotion from Git to the
// cluster: the example repository lives on a real Gitea, Flux (real source-controller and kustomize-controller)
// is bootstrapped from its gitops/flux and pulls from Gitea. `marina promote iris-classifier@1.1.0 --env staging
// --pr --auto-merge --approvals 1` waits while the pull request has no approval; once marina ci --post-status has
// passed on it and the admin approves it, the same command merges it, and Flux applies the merge commit: staging's
// Deployment runs 1.1.0. The Pods run on a kwok node, which only makes them Ready: what this test proves is that the
// merge reaches the cluster; the same manifests run on the real node in TestFlux.
func TestAPromotionPullRequestMergedOnGiteaIsAppliedByFlux(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true, Workloads: true, Metrics: true})
	c.AddNode(t, testenv.Node{Name: "cpu-0", CPU: "16", Memory: "64Gi"})
	c.AddNode(t, testenv.Node{Name: "gpu-0", GPUs: 2})
	c.AcceptRoutes(t, render.DefaultGatewayNamespace, render.DefaultGatewayName)
	c.StartFlux(t, 2*time.Second)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.Logs("source-controller"))
			t.Log(c.Logs("kustomize-controller"))
		}
	})

	// The team points marina.yaml and gitops/ at its repository on Gitea, and Flux polls it every fluxPoll.
	m := newGiteaModels(t)
	for _, f := range []string{"marina.yaml", "gitops/flux/gitrepository.yaml"} {
		p := filepath.Join(m.work, f)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), "https://git.example.com/ml-platform.git", m.cloneURL)
		if err := os.WriteFile(p, []byte(strings.Replace(s, "interval: 1m", "interval: "+fluxPoll, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, out, errOut := m.marina(t, nil, "render", "--write"); code != 0 {
		t.Fatalf("render --write: exit %d\n%s%s", code, out, errOut)
	}
	m.git("add", "-A")
	m.git("commit", "-qm", "the repository's address on our Gitea")
	m.git("push", "-q", "origin", "main")
	applyKustomization(t, c.Client, filepath.Join(m.work, "gitops", "flux"))
	appliedAndRunning := func(what, rev, version string) time.Duration {
		t.Helper()
		return testenv.WaitUntil(t, "Flux "+what, 5*time.Minute, func(ctx context.Context) (bool, string) {
			if ok, why := fluxApplied(ctx, c.Client, rev, "ml-platform-apps-staging"); !ok {
				return false, why
			}
			return running(ctx, c.Client, map[string]string{"models-staging/iris-classifier": version})
		})
	}
	took := appliedAndRunning("applies main from Gitea", m.git("rev-parse", "main"), "1.0.0")
	t.Logf("bootstrap from Gitea to staging's iris-classifier 1.0.0 Ready: %s", took.Round(100*time.Millisecond))

	const branch = "marina/promote/iris-classifier-staging-v1.1.0"
	promote := []string{"promote", "iris-classifier@1.1.0", "--env", "staging", "--pr", "--auto-merge", "--approvals", "1"}
	if code, out, errOut := m.marina(t, m.token(), append(promote, "--wait", "0")...); code != 1 || !strings.Contains(errOut, "waits for") {
		t.Fatalf("--auto-merge before ci and an approval: exit %d, want 1 saying what it waits for\n%s%s", code, out, errOut)
	}
	m.git("checkout", "-q", branch)
	if code, out, errOut := m.marina(t, m.token(), "ci", "--base", "main", "--post-status"); code != 0 {
		t.Fatalf("ci --post-status on %s: exit %d\n%s%s", branch, code, out, errOut)
	}
	m.git("checkout", "-q", "main")
	var prs []struct{ Number int64 }
	giteaAPI(t, m.g.URL, m.g.Bot.Token, http.MethodGet, "/repos/"+m.fullName+"/pulls?state=open", nil, http.StatusOK, &prs)
	if len(prs) != 1 {
		t.Fatalf("open pull requests %+v, want the promotion's alone", prs)
	}
	giteaAPI(t, m.g.URL, m.g.Admin.Token, http.MethodPost, "/repos/"+m.fullName+"/pulls/"+strconv.FormatInt(prs[0].Number, 10)+"/reviews",
		map[string]any{"event": "APPROVED", "body": "ship it"}, http.StatusOK, nil)
	code, out, errOut := m.marina(t, m.token(), promote...)
	if code != 0 || !strings.Contains(out, "merged pull request #"+strconv.FormatInt(prs[0].Number, 10)+" into main") {
		t.Fatalf("--auto-merge once approved: exit %d, want the merge\n%s%s", code, out, errOut)
	}
	merged := time.Now()
	m.git("pull", "-q", "--ff-only", "origin", "main")
	appliedAndRunning("applies the merged pull request", m.git("rev-parse", "main"), "1.1.0")
	t.Logf("merge on Gitea to staging's iris-classifier 1.1.0 Ready: %s (GitRepository interval %s)", time.Since(merged).Round(100*time.Millisecond), fluxPoll)
}
