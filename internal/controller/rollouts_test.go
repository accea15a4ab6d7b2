package controller_test

import (
	"context"
	"fmt"
	"maps"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis/prometheustest"
	"github.com/marina-dev/marina/internal/controller"
	"github.com/marina-dev/marina/internal/controller/rollout"
	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/release"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/router"
	"github.com/marina-dev/marina/internal/testenv"
	"github.com/marina-dev/marina/internal/writeback"
)

// The model of examples/ml-platform the rollouts of these tests run; its staging environment is the one rolled out.
const (
	e2eModel = "iris-classifier"
	e2eEnv   = "staging"
	appFile  = "applications/" + e2eModel + "/model.yaml"
	badFile  = "models/" + e2eModel + "/v1.1.0.json"
	gitUser  = "marina"
	gitToken = "t0ken-e2e-5c4b3a"
)

// TestRolloutsOnARealControlPlane runs rollouts with the reconciler in the test process (test/e2e runs marina
// controller as a process) on one real control plane (kube-controller-manager, kube-scheduler, kwok), each in its
// own namespace, with analyses measured on a real Prometheus scraping numbers the test sets and reverts pushed to a
// bare Git repository served by git http-backend.
func TestRolloutsOnARealControlPlane(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true, Workloads: true})
	c.AddNode(t, testenv.Node{Name: "cpu-e2e"})
	c.AddNode(t, testenv.Node{Name: "gpu-e2e", GPUs: 4})
	prs := &pullRequests{failFirst: true}
	startController(t, c, func(r *controller.Reconciler) {
		r.Analyzer = &controller.PrometheusAnalyzer{}
		r.Writer = &writeback.Writer{WorkDir: t.TempDir(), Author: "marina-e2e <e2e@marina.test>", PullRequests: prs.opener}
	})

	t.Run("a canary that passes its analysis is promoted step by step", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "e2e-pass")
		prom := startPrometheus(t, 0.01)
		h := c.WatchStatus(t, ns)
		md := e2eDeployment(ns, "1.0.0", prom.Address(), errorRate(2, nil), canarySteps()...)
		rollOut(t, c, md)
		got := waitOn(t, c, ns, "promotion of 1.1.0", 2*time.Minute, func(md *v1alpha1.ModelDeployment) bool {
			return md.Status.StableVersion == "1.1.0" && ready(md)
		})
		if got.Status.CanaryVersion != "" || got.Status.Weights.Stable != 100 || got.Status.CurrentStepIndex != nil {
			t.Fatalf("after promotion: %+v", got.Status)
		}
		h.Through(t, got)
		if steps := h.Steps("1.1.0"); !slices.Equal(steps, []int32{0, 1, 2}) {
			t.Fatalf("steps seen in status %v, want [0 1 2]", steps)
		}
		if w := weightsAt(h, "1.1.0", 0); w != (v1alpha1.TrafficWeights{Stable: 50, Canary: 50}) {
			t.Fatalf("weights at step 0: %+v", w)
		}
		if w := weightsAt(h, "1.1.0", 2); w != (v1alpha1.TrafficWeights{Stable: 0, Canary: 100}) {
			t.Fatalf("weights at step 2: %+v", w)
		}
		run := h.LastRun("1.1.0-step-1")
		if run.Phase != v1alpha1.AnalysisSuccessful || run.Successful != 2 || run.Failed != 0 || run.Error != 0 {
			t.Fatalf("analysis run of step 1: %+v", run)
		}
		waitReplicas(t, c, ns, "iris-classifier-1-1-0", 2)
		waitGoneIn(t, c, ns, "iris-classifier-1-0-0")
	})

	t.Run("a canary whose error rate fails its analysis aborts and the revert reaches Git", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "e2e-abort")
		prom := startPrometheus(t, 0.5)
		bare := newRemote(t)
		before := git(t, bare, "rev-parse", "HEAD")
		if v, _ := readRemote(t, bare, "HEAD"); v != "1.1.0" {
			t.Fatalf("fixture: %s runs %s, want 1.1.0", e2eEnv, v)
		}
		url := repotest.ServeGit(t, filepath.Dir(bare), repotest.GitAuth{Username: gitUser, Password: gitToken}).RepoURL(bare)
		h := c.WatchStatus(t, ns)
		if err := c.Client.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git", Namespace: ns},
			StringData: map[string]string{"username": gitUser, "password": gitToken}}); err != nil {
			t.Fatal(err)
		}
		md := e2eDeployment(ns, "1.0.0", prom.Address(), errorRate(2, nil), canarySteps()...)
		md.Spec.GitWriteBack = &v1alpha1.GitWriteBack{Repo: url, Mode: v1alpha1.GitWriteBackCommit, SecretRef: &corev1.LocalObjectReference{Name: "git"}}
		rollOut(t, c, md)
		got := waitOn(t, c, ns, "the revert written to Git", 2*time.Minute, func(md *v1alpha1.ModelDeployment) bool {
			return meta.IsStatusConditionTrue(md.Status.Conditions, controller.WriteBackCondition)
		})
		deg := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.DegradedCondition)
		wb := meta.FindStatusCondition(got.Status.Conditions, controller.WriteBackCondition)
		if deg == nil || deg.Status != metav1.ConditionTrue || deg.Reason != rollout.ReasonAborted ||
			!strings.Contains(got.Status.AbortMessage, "analysis error-rate failed") || !strings.Contains(got.Status.AbortMessage, "0.5") {
			t.Fatalf("Degraded %+v, abort message %q", deg, got.Status.AbortMessage)
		}
		if wb.Reason != "Written" || got.Status.Weights == nil || *got.Status.Weights != (v1alpha1.TrafficWeights{Stable: 100}) ||
			got.Status.StableVersion != "1.0.0" || ready(got) {
			t.Fatalf("after the abort: weights %+v, status %+v", got.Status.Weights, got.Status)
		}
		h.Through(t, got)
		if steps := h.Steps("1.1.0"); !slices.Equal(steps, []int32{0, 1}) {
			t.Fatalf("steps seen %v, want [0 1]: the abort happened in the analysis step; statuses seen:%s", steps, h)
		}
		waitReplicas(t, c, ns, "iris-classifier-1-1-0", 0)
		waitReplicas(t, c, ns, "iris-classifier-1-0-0", 2)

		after := git(t, bare, "rev-parse", "HEAD")
		if after == before || git(t, bare, "rev-parse", "HEAD~1") != before {
			t.Fatalf("the remote's branch went from %s to %s, want one new commit", before, after)
		}
		if !strings.Contains(wb.Message, after[:7]) {
			t.Fatalf("GitWriteBack condition %q does not name the commit %s", wb.Message, after)
		}
		v, bad := readRemote(t, bare, "HEAD")
		if v != "1.0.0" || bad.State != model.StateBlocked {
			t.Fatalf("in Git: %s runs %s, 1.1.0 is %q (%s); want 1.0.0 and blocked", e2eEnv, v, bad.State, bad.StateReason)
		}
		if author := git(t, bare, "log", "-1", "--format=%an <%ae>"); author != "marina-e2e <e2e@marina.test>" {
			t.Fatalf("revert authored by %q", author)
		}
		// The controller keeps reconciling the aborted rollout: the revert is not written twice.
		time.Sleep(3 * time.Second)
		if now := git(t, bare, "rev-parse", "HEAD"); now != after {
			t.Fatalf("a second write-back moved the branch to %s", now)
		}
	})

	t.Run("a canary that aborts in mode pr pushes a branch and opens its pull request with the evidence, retried when the forge fails", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "e2e-pr")
		prom := startPrometheus(t, 0.5)
		bare := newRemote(t)
		before := git(t, bare, "rev-parse", "HEAD")
		url := repotest.ServeGit(t, filepath.Dir(bare), repotest.GitAuth{Username: gitUser, Password: gitToken}).RepoURL(bare)
		if err := c.Client.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git", Namespace: ns},
			StringData: map[string]string{"username": gitUser, "password": gitToken}}); err != nil {
			t.Fatal(err)
		}
		md := e2eDeployment(ns, "1.0.0", prom.Address(), errorRate(2, nil), canarySteps()...)
		md.Spec.GitWriteBack = &v1alpha1.GitWriteBack{Repo: url, Mode: v1alpha1.GitWriteBackPullRequest, SecretRef: &corev1.LocalObjectReference{Name: "git"},
			PullRequest: &v1alpha1.GitPullRequest{Forge: v1alpha1.ForgeGitea, Labels: []string{"rollback"}}}
		rollOut(t, c, md)
		got := waitOn(t, c, ns, "the pull request opened", 2*time.Minute, func(md *v1alpha1.ModelDeployment) bool {
			return meta.IsStatusConditionTrue(md.Status.Conditions, controller.WriteBackCondition)
		})
		const branch = "marina/rollback/iris-classifier-staging-v1.1.0"
		head := git(t, bare, "rev-parse", "refs/heads/"+branch)
		if now := git(t, bare, "rev-parse", "HEAD"); now != before {
			t.Fatalf("the base branch moved from %s to %s", before, now)
		}
		calls, opened := prs.seen()
		if len(calls) < 2 || len(opened) != 1 {
			t.Fatalf("asked for %d pull requests (the first failing), %d opened; want 2 or more, 1", len(calls), len(opened))
		}
		pr := opened[branch]
		wb := meta.FindStatusCondition(got.Status.Conditions, controller.WriteBackCondition)
		if pr.Base != "master" && pr.Base != "main" || pr.RepoURL != url || !slices.Equal(pr.Labels, []string{"rollback"}) ||
			!strings.HasPrefix(pr.Title, "rollback: ") || wb.Reason != "Written" ||
			!strings.Contains(wb.Message, head+" on branch "+branch+", pull request https://forge.test/pulls/1 into "+pr.Base) {
			t.Fatalf("pull request %+v; GitWriteBack %+v", pr, wb)
		}
		for _, want := range []string{"**Abort:** " + strings.Join(strings.Fields(got.Status.AbortMessage), " "),
			"### Analysis 1.1.0-step-1 (template error-rate): Failed", "**error-rate**: Failed", "| Failed | [0.5] |"} {
			if !strings.Contains(pr.Body, want) {
				t.Errorf("the description lacks %q:\n%s", want, pr.Body)
			}
		}
		var evs eventsv1.EventList
		if err := c.Client.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var reasons []string
		for _, e := range evs.Items {
			if strings.Contains(e.Note, gitToken) {
				t.Errorf("event %s carries the token", e.Reason)
			}
			switch {
			case e.Reason == "WriteBackFailed" && strings.Contains(e.Note, "pushed as "+head+" on branch "+branch) && strings.Contains(e.Note, "forge down"):
				reasons = append(reasons, e.Reason)
			case e.Reason == "WrittenBack" && strings.Contains(e.Note, "https://forge.test/pulls/1"):
				reasons = append(reasons, e.Reason)
			}
		}
		if slices.Sort(reasons); !slices.Equal(slices.Compact(reasons), []string{"WriteBackFailed", "WrittenBack"}) {
			t.Fatalf("events %v, want the forge's failure with the pushed branch, then the pull request", reasons)
		}
	})

	t.Run("an analysis waits with AnalysisError while Prometheus is down and goes on when it is back", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "e2e-outage")
		prom := startPrometheus(t, 0.01)
		h := c.WatchStatus(t, ns)
		// Enough errors in a row allowed that the outage pauses the rollout instead of aborting it.
		md := e2eDeployment(ns, "1.0.0", prom.Address(), errorRate(3, new(int32(30))), canarySteps()...)
		rollOut(t, c, md)
		waitOn(t, c, ns, "the first measurement", time.Minute, func(md *v1alpha1.ModelDeployment) bool {
			run := md.Status.AnalysisRun("1.1.0-step-1")
			return run != nil && run.Successful == 1
		})
		prom.Stop(t)
		got := waitOn(t, c, ns, "AnalysisError", 30*time.Second, func(md *v1alpha1.ModelDeployment) bool {
			p := meta.FindStatusCondition(md.Status.Conditions, v1alpha1.ProgressingCondition)
			return p != nil && p.Reason == rollout.ReasonAnalysisError
		})
		if p := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ProgressingCondition); p.Status != metav1.ConditionTrue ||
			!strings.Contains(p.Message, "connection refused") {
			t.Fatalf("Progressing while Prometheus is down: %+v", p)
		}
		// Several intervals without Prometheus: the rollout stays on the analysis step, neither promoted nor aborted.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			md := get(t, c, ns)
			if md.Status.CurrentStepIndex == nil || *md.Status.CurrentStepIndex != 1 || md.Status.StableVersion != "1.0.0" ||
				meta.IsStatusConditionTrue(md.Status.Conditions, v1alpha1.DegradedCondition) {
				t.Fatalf("while Prometheus is down: %+v", md.Status)
			}
			time.Sleep(200 * time.Millisecond)
		}
		errorsSeen := get(t, c, ns).Status.AnalysisRun("1.1.0-step-1").Error
		if errorsSeen < 3 {
			t.Fatalf("%d measurement errors in 5 s at a 1 s interval, want at least 3", errorsSeen)
		}
		prom.Start(t)
		h.Through(t, waitOn(t, c, ns, "promotion of 1.1.0 after the outage", 2*time.Minute, func(md *v1alpha1.ModelDeployment) bool {
			return md.Status.StableVersion == "1.1.0" && ready(md)
		}))
		run := h.LastRun("1.1.0-step-1")
		if run.Phase != v1alpha1.AnalysisSuccessful || run.Successful != 3 || run.Failed != 0 || run.Error < errorsSeen {
			t.Fatalf("analysis run after the outage: %+v", run)
		}
		if steps := h.Steps("1.1.0"); !slices.Equal(steps, []int32{0, 1, 2}) {
			t.Fatalf("steps seen in status %v, want [0 1 2]", steps)
		}
	})

	t.Run("a shadow with steps mirrors, then moves live traffic 50/50 and 0/100, and is promoted", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "e2e-shadow-steps")
		route := httpRoute(ns, e2eModel)
		if err := c.Client.Create(context.Background(), route); err != nil {
			t.Fatal(err)
		}
		// 4 replicas and a 25% shadow: the shadow's one pod is short of the 50% step's two, so every step waits for
		// pods and shows in status and in the route. Without the router the HTTPRoute splits and mirrors.
		md := e2eDeployment(ns, "1.0.0", "", nil)
		md.Spec.Replicas = new(int32(4))
		md.Spec.Router = &v1alpha1.Router{Enabled: new(false)}
		md.Spec.Strategy = &v1alpha1.Strategy{Shadow: &v1alpha1.ShadowStrategy{Percent: 25, Duration: "2s",
			Steps: []v1alpha1.CanaryStep{{SetWeight: new(int32(50))}, {SetWeight: new(int32(100))}}}}
		create(t, c, md)
		waitOn(t, c, ns, "1.0.0 Ready", time.Minute, ready)
		h := c.WatchStatus(t, ns)
		splits := watchRoute(t, c, route)
		updateIn(t, c, ns, func(md *v1alpha1.ModelDeployment) { md.Spec.Version = "1.1.0" })
		got := waitOn(t, c, ns, "promotion of 1.1.0", 2*time.Minute, func(md *v1alpha1.ModelDeployment) bool {
			return md.Status.StableVersion == "1.1.0" && ready(md)
		})
		h.Through(t, got)
		if steps := h.Steps("1.1.0"); !slices.Equal(steps, []int32{0, 1, 2, 3}) {
			t.Fatalf("steps seen in status %v, want [0 1 2 3] (bring up, mirror, 50%%, 100%%); statuses seen:%s", steps, h)
		}
		for i, want := range map[int32]v1alpha1.TrafficWeights{1: {Stable: 100, Shadow: 25}, 2: {Stable: 50, Canary: 50}, 3: {Canary: 100}} {
			if w := weightsAt(h, "1.1.0", i); w != want {
				t.Errorf("status weights at step %d: %+v, want %+v", i, w, want)
			}
		}
		wantRoute := []v1alpha1.TrafficWeights{{Stable: 100}, {Stable: 100, Shadow: 25}, {Stable: 50, Canary: 50}, {Canary: 100}, {Stable: 100}}
		if seen := splits(t); !slices.Equal(seen, wantRoute) {
			t.Errorf("the HTTPRoute went %+v, want %+v", seen, wantRoute)
		}
		// What marina router loads from each status: never a mirror beside a live canary, which it refuses.
		src := &router.ModelDeploymentSource{Namespace: ns, Name: e2eModel, Base: router.Config{Listen: "127.0.0.1:0"}}
		var routed []string
		for _, st := range h.Statuses() {
			cfg, err := src.Config(&v1alpha1.ModelDeployment{Spec: got.Spec, Status: st})
			if err != nil {
				t.Fatalf("the router refuses a status the rollout wrote: %v", err)
			}
			r := ""
			for _, u := range cfg.Upstreams {
				r += fmt.Sprintf("%s=%d ", u.Version, u.Weight)
			}
			if s := cfg.Shadow; s != nil {
				r += fmt.Sprintf("shadow %s=%g", s.Version, s.Percent)
			}
			if r = strings.TrimSpace(r); len(routed) == 0 || routed[len(routed)-1] != r {
				routed = append(routed, r)
			}
		}
		if want := []string{"1.0.0=100", "1.0.0=100 1.1.0=0", "1.0.0=100 shadow 1.1.0=25", "1.0.0=50 1.1.0=50", "1.0.0=0 1.1.0=100", "1.1.0=100"}; !slices.Equal(routed, want) {
			t.Errorf("the router routed %q, want %q", routed, want)
		}
		waitReplicas(t, c, ns, "iris-classifier-1-1-0", 4)
		waitGoneIn(t, c, ns, "iris-classifier-1-0-0")
	})

	t.Run("a GPU model rolls out within a quota of 2 GPUs without a Pod refused or left Pending", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, c, "e2e-gpu")
		ctx := context.Background()
		quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "gpus", Namespace: ns},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.nvidia.com/gpu": resource.MustParse("2")}}}
		if err := c.Client.Create(ctx, quota); err != nil {
			t.Fatal(err)
		}
		// The quota controller's first count of a new quota comes from its informers and can miss pods admitted a
		// moment before, leaving status.used low (and admission trusting it): start once the quota is counted, as
		// a namespace set up before its models is.
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := eventually.Poll(qctx, func(ctx context.Context) (bool, error) {
			err := c.Client.Get(ctx, client.ObjectKeyFromObject(quota), quota)
			_, counted := quota.Status.Used["requests.nvidia.com/gpu"]
			return err == nil && counted, err
		}); err != nil {
			t.Fatalf("ResourceQuota status: %v", err)
		}
		mon := monitorGPUPods(t, c, ns)
		md := e2eDeployment(ns, "1.0.0", "", nil, v1alpha1.CanaryStep{SetWeight: new(int32(50))})
		gpu := corev1.ResourceList{testenv.GPUResource: resource.MustParse("1")}
		md.Spec.Runtime.Resources = &corev1.ResourceRequirements{Requests: gpu, Limits: gpu}
		md.Spec.Runtime.Tolerations = []corev1.Toleration{{Key: string(testenv.GPUResource), Operator: corev1.TolerationOpExists}}
		md.Spec.Runtime.NodeSelector = map[string]string{"nvidia.com/gpu.present": "true"}
		h := c.WatchStatus(t, ns)
		rollOut(t, c, md)
		h.Through(t, waitOn(t, c, ns, "promotion of 1.1.0", 2*time.Minute, func(md *v1alpha1.ModelDeployment) bool {
			return md.Status.StableVersion == "1.1.0" && ready(md)
		}))
		waitReplicas(t, c, ns, "iris-classifier-1-1-0", 2)
		waitGoneIn(t, c, ns, "iris-classifier-1-0-0")
		// Step 1 is past the last step: the canary grows to full size as the quota lets it, stable shrinking first.
		if steps := h.Steps("1.1.0"); !slices.Equal(steps, []int32{0, 1}) {
			t.Fatalf("steps seen in status %v, want [0 1]", steps)
		}
		mon.check(t)
		var evs eventsv1.EventList
		if err := c.Client.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, e := range evs.Items {
			if e.Reason == "FailedCreate" || e.Reason == "FailedScheduling" {
				t.Fatalf("event %s %s: %s", e.Reason, e.Regarding.Name, e.Note)
			}
		}
	})
}

// pullRequests is a forge for the write-back: it fails its first request (failFirst), then opens one pull
// request per head branch.
type pullRequests struct {
	mu        sync.Mutex
	failFirst bool
	calls     []writeback.PullRequest
	opened    map[string]writeback.PullRequest
}

func (p *pullRequests) opener(forge string, c writeback.Credentials) (writeback.PullRequestOpener, error) {
	if forge != "gitea" || c.Password != gitToken {
		return nil, fmt.Errorf("forge %q with the wrong credentials", forge)
	}
	return p, nil
}

func (p *pullRequests) OpenPullRequest(_ context.Context, pr writeback.PullRequest) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, pr)
	if p.failFirst && len(p.calls) == 1 {
		return "", fmt.Errorf("forge down")
	}
	if p.opened == nil {
		p.opened = map[string]writeback.PullRequest{}
	}
	p.opened[pr.Head] = pr
	return fmt.Sprintf("https://forge.test/pulls/%d", len(p.opened)), nil
}

func (p *pullRequests) seen() ([]writeback.PullRequest, map[string]writeback.PullRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls), maps.Clone(p.opened)
}

func namespace(t *testing.T, c *testenv.Cluster, name string) string {
	t.Helper()
	c.CreateNamespaces(t, name)
	return name
}

// canarySteps are setWeight 50, analysis error-rate, setWeight 100: each step changes the replicas or measures,
// so each one shows in status.
func canarySteps() []v1alpha1.CanaryStep {
	return []v1alpha1.CanaryStep{
		{SetWeight: new(int32(50))},
		{Analysis: &v1alpha1.AnalysisStep{Template: "error-rate"}},
		{SetWeight: new(int32(100))},
	}
}

// errorRate is the template error-rate: the canary's error rate below 5 %, measured count times a second apart.
func errorRate(count int32, consecutiveErrorLimit *int32) *v1alpha1.Analysis {
	return &v1alpha1.Analysis{Templates: []v1alpha1.AnalysisTemplate{{Name: "error-rate", Metrics: []v1alpha1.AnalysisMetric{{
		Name: "error-rate", Query: `marina_test_error_rate{version="1.1.0"}`, SuccessCondition: "result[0] < 0.05",
		Interval: "1s", Count: &count, ConsecutiveErrorLimit: consecutiveErrorLimit,
	}}}}}
}

// e2eDeployment is iris-classifier in staging at version with 2 replicas, analysed on the Prometheus at prom.
func e2eDeployment(ns, version, prom string, a *v1alpha1.Analysis, steps ...v1alpha1.CanaryStep) *v1alpha1.ModelDeployment {
	md := modelDeployment(version, steps...)
	md.Name, md.Namespace, md.Spec.Model = e2eModel, ns, e2eModel
	md.Labels = map[string]string{"marina.dev/environment": e2eEnv}
	md.Spec.Analysis = a
	if a != nil {
		for i := range a.Templates {
			a.Templates[i].Prometheus = &v1alpha1.PrometheusProvider{Address: prom}
		}
	}
	return md
}

// rollOut creates md at 1.0.0, waits until it is Ready and starts the rollout of 1.1.0.
func rollOut(t *testing.T, c *testenv.Cluster, md *v1alpha1.ModelDeployment) {
	t.Helper()
	create(t, c, md)
	waitOn(t, c, md.Namespace, "1.0.0 Ready", time.Minute, ready)
	updateIn(t, c, md.Namespace, func(md *v1alpha1.ModelDeployment) { md.Spec.Version = "1.1.0" })
}

func create(t *testing.T, c *testenv.Cluster, md *v1alpha1.ModelDeployment) {
	t.Helper()
	if err := c.Client.Create(context.Background(), md); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, c *testenv.Cluster, ns string) *v1alpha1.ModelDeployment {
	t.Helper()
	md := &v1alpha1.ModelDeployment{}
	if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: e2eModel}, md); err != nil {
		t.Fatal(err)
	}
	return md
}

// waitOn polls the ModelDeployment of ns until cond holds; on a timeout the log shows what ns holds.
func waitOn(t *testing.T, c *testenv.Cluster, ns, what string, timeout time.Duration, cond func(*v1alpha1.ModelDeployment) bool) *v1alpha1.ModelDeployment {
	t.Helper()
	defer func() {
		if t.Failed() {
			dumpNamespace(t, c, ns)
		}
	}()
	return c.WaitForModelDeployment(t, client.ObjectKey{Namespace: ns, Name: e2eModel}, what+" in "+ns, timeout, cond)
}

// dumpNamespace logs the Deployments, Pods, ResourceQuotas and Events of ns, for a failure message.
func dumpNamespace(t *testing.T, c *testenv.Cluster, ns string) {
	t.Helper()
	ctx := context.Background()
	var deps appsv1.DeploymentList
	var pods corev1.PodList
	var quotas corev1.ResourceQuotaList
	var evs eventsv1.EventList
	for _, l := range []client.ObjectList{&deps, &pods, &quotas, &evs} {
		if err := c.Client.List(ctx, l, client.InNamespace(ns)); err != nil {
			t.Log(err)
		}
	}
	for _, d := range deps.Items {
		t.Logf("deployment %s: replicas %d, status %+v", d.Name, *d.Spec.Replicas, d.Status)
	}
	for _, p := range pods.Items {
		t.Logf("pod %s on %q: %s deleting=%v %+v", p.Name, p.Spec.NodeName, p.Status.Phase, p.DeletionTimestamp != nil, p.Status.Conditions)
	}
	for _, q := range quotas.Items {
		t.Logf("quota %s: hard %v used %v", q.Name, q.Status.Hard, q.Status.Used)
	}
	for _, e := range evs.Items {
		t.Logf("event %s %s %s: %s", e.Type, e.Reason, e.Regarding.Name, e.Note)
	}
}

// updateIn changes the ModelDeployment of ns as a user's edit does: read, change, update, again on a conflict with
// the controller's own writes.
func updateIn(t *testing.T, c *testenv.Cluster, ns string, change func(*v1alpha1.ModelDeployment)) {
	t.Helper()
	modify(t, c, client.ObjectKey{Namespace: ns, Name: e2eModel}, change)
}

// modify changes the ModelDeployment key as the controller's status writes allow: read, change, update, again on a
// conflict.
func modify(t *testing.T, c *testenv.Cluster, key client.ObjectKey, change func(*v1alpha1.ModelDeployment)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		md := &v1alpha1.ModelDeployment{}
		if err := c.Client.Get(context.Background(), key, md); err != nil {
			return err
		}
		change(md)
		return c.Client.Update(context.Background(), md)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitReplicas waits until Deployment name wants n replicas and has n ready.
func waitReplicas(t *testing.T, c *testenv.Cluster, ns, name string, n int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := &appsv1.Deployment{}
	err := eventually.Poll(ctx, func(ctx context.Context) (bool, error) {
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return d.Spec.Replicas != nil && *d.Spec.Replicas == n && d.Status.ReadyReplicas == n && d.Status.Replicas == n, nil
	})
	if err != nil {
		t.Fatalf("Deployment %s/%s with %d ready replicas: %v\n%+v %+v", ns, name, n, err, d.Spec.Replicas, d.Status)
	}
}

func waitGoneIn(t *testing.T, c *testenv.Cluster, ns, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := eventually.Poll(ctx, func(ctx context.Context) (bool, error) {
		err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &appsv1.Deployment{})
		return err != nil, client.IgnoreNotFound(err)
	}); err != nil {
		t.Fatalf("Deployment %s/%s not deleted: %v", ns, name, err)
	}
}

// errorRateApp serves the gauge marina_test_error_rate{version} for Prometheus to scrape.
type errorRateApp struct {
	rate *prometheus.GaugeVec
	addr string
}

func newErrorRateApp(t *testing.T) *errorRateApp {
	t.Helper()
	rate := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "marina_test_error_rate", Help: "Error rate by version."}, []string{"version"})
	reg := prometheus.NewRegistry()
	reg.MustRegister(rate)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return &errorRateApp{rate: rate, addr: srv.Listener.Addr().String()}
}

func (a *errorRateApp) set(version string, v float64) { a.rate.WithLabelValues(version).Set(v) }

// startPrometheus serves canaryRate as the error rate of 1.1.0 and starts a Prometheus scraping it, returning once
// Prometheus has the series.
func startPrometheus(t *testing.T, canaryRate float64) *prometheustest.Server {
	t.Helper()
	app := newErrorRateApp(t)
	app.set("1.1.0", canaryRate)
	p := prometheustest.Start(t, app.addr)
	p.WaitForData(context.Background(), t, "marina_test_error_rate", 1)
	return p
}

// weightsAt is the split of the last status at step i of version's rollout.
func weightsAt(h *testenv.StatusHistory, version string, i int32) v1alpha1.TrafficWeights {
	var w v1alpha1.TrafficWeights
	for _, st := range h.Statuses() {
		if st.CanaryVersion == version && st.CurrentStepIndex != nil && *st.CurrentStepIndex == i && st.Weights != nil {
			w = *st.Weights
		}
	}
	return w
}

// watchRoute records the splits of route's first rule (Stable and Canary the weights of NAME-stable and
// NAME-canary, Shadow the percent its RequestMirror sends) from now on, each change once. The function it returns
// waits until the watch has delivered the route as it is now and lists them.
func watchRoute(t *testing.T, c *testenv.Cluster, route *unstructured.Unstructured) func(*testing.T) []v1alpha1.TrafficWeights {
	t.Helper()
	wc, err := client.NewWithWatch(c.Config, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(route.GroupVersionKind().GroupVersion().WithKind("HTTPRouteList"))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := wc.Watch(ctx, list, client.InNamespace(route.GetNamespace()), client.MatchingFields{"metadata.name": route.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var splits []v1alpha1.TrafficWeights
	seen := map[string]bool{}
	go func() {
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			s := routeSplit(u)
			mu.Lock()
			if len(splits) == 0 || splits[len(splits)-1] != s {
				splits = append(splits, s)
			}
			seen[u.GetResourceVersion()] = true
			mu.Unlock()
		}
	}()
	return func(t *testing.T) []v1alpha1.TrafficWeights {
		t.Helper()
		now := route.DeepCopy()
		if err := c.Client.Get(context.Background(), client.ObjectKeyFromObject(now), now); err != nil {
			t.Fatal(err)
		}
		wctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
		defer stop()
		if err := eventually.Poll(wctx, func(context.Context) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return seen[now.GetResourceVersion()], nil
		}); err != nil {
			t.Fatalf("the watch did not deliver the HTTPRoute at resourceVersion %s: %v", now.GetResourceVersion(), err)
		}
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(splits)
	}
}

// routeSplit is the split of the first rule of an HTTPRoute for model e2eModel.
func routeSplit(route *unstructured.Unstructured) v1alpha1.TrafficWeights {
	var w v1alpha1.TrafficWeights
	rules, _, _ := unstructured.NestedSlice(route.Object, "spec", "rules")
	if len(rules) == 0 {
		return w
	}
	rule, _ := rules[0].(map[string]any)
	refs, _ := rule["backendRefs"].([]any)
	for _, r := range refs {
		ref, _ := r.(map[string]any)
		weight, _ := ref["weight"].(int64)
		switch ref["name"] {
		case e2eModel + "-stable":
			w.Stable = int32(weight)
		case e2eModel + "-canary":
			w.Canary = int32(weight)
		}
	}
	filters, _ := rule["filters"].([]any)
	for _, f := range filters {
		percent, _, _ := unstructured.NestedInt64(f.(map[string]any), "requestMirror", "percent")
		w.Shadow += int32(percent)
	}
	return w
}

// newRemote is a bare repository made from examples/ml-platform where 1.1.0 of iris-classifier is registered and
// promoted to staging, which runs 1.0.0 before: the state Git is in while the controller rolls 1.1.0 out.
func newRemote(t *testing.T) string {
	t.Helper()
	dir := repotest.Example(t, nil)
	r := repotest.Open(t, dir)
	onnx := filepath.Join(repotest.ExamplePath(), "models", e2eModel, "artifacts", "v1.0.0.onnx")
	if _, err := (&registry.Registry{Repo: r}).Register(registry.Registration{Name: e2eModel, Version: "1.1.0", File: onnx, URI: "s3://models/iris/1.1.0.onnx"}); err != nil {
		t.Fatal(err)
	}
	if _, err := release.Promote(r, release.Promotion{Model: e2eModel, Version: "1.1.0", Environment: e2eEnv}); err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(t.TempDir(), "models.git")
	repotest.Git(t, dir, "clone", "-q", "--bare", dir, bare)
	repotest.Git(t, bare, "config", "http.receivepack", "true")
	return bare
}

// git runs the git CLI in dir and returns its trimmed output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// readRemote reads, with git show, the version staging runs at rev of bare and the metadata of 1.1.0.
func readRemote(t *testing.T, bare, rev string) (string, *model.Version) {
	t.Helper()
	app, _, err := project.ParseApplication(appFile, []byte(git(t, bare, "show", rev+":"+appFile)))
	if err != nil {
		t.Fatal(err)
	}
	v, err := model.Parse(badFile, []byte(git(t, bare, "show", rev+":"+badFile)))
	if err != nil {
		t.Fatal(err)
	}
	return app.Spec.Environments[e2eEnv].Version, v
}

// gpuMonitor polls a namespace's Pods and ReplicaSets for what a quota-aware rollout must never cause.
type gpuMonitor struct {
	mu       sync.Mutex
	maxPods  int
	atMax    string
	problems []string
}

func monitorGPUPods(t *testing.T, c *testenv.Cluster, ns string) *gpuMonitor {
	t.Helper()
	m := &gpuMonitor{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	pendingSince := map[string]time.Time{}
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			var pods corev1.PodList
			var rss appsv1.ReplicaSetList
			// The model servers' pods: the router's request no GPU.
			if err := c.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{v1alpha1.LabelModelDeployment: e2eModel}); err == nil {
				n, desc := 0, []string{}
				for _, p := range pods.Items {
					if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
						continue
					}
					n++
					desc = append(desc, fmt.Sprintf("%s %s deleting=%v", p.Name, p.Status.Phase, p.DeletionTimestamp != nil))
					if p.Status.Phase != corev1.PodPending {
						continue
					}
					if _, ok := pendingSince[string(p.UID)]; !ok {
						pendingSince[string(p.UID)] = time.Now()
					} else if time.Since(pendingSince[string(p.UID)]) > 5*time.Second {
						m.problem(fmt.Sprintf("pod %s Pending for more than 5 s: %+v", p.Name, p.Status.Conditions))
					}
				}
				m.mu.Lock()
				if n > m.maxPods {
					m.maxPods, m.atMax = n, strings.Join(desc, ", ")
				}
				m.mu.Unlock()
			}
			if err := c.Client.List(ctx, &rss, client.InNamespace(ns)); err == nil {
				for _, rs := range rss.Items {
					for _, cond := range rs.Status.Conditions {
						if cond.Type == appsv1.ReplicaSetReplicaFailure && cond.Status == corev1.ConditionTrue {
							m.problem(fmt.Sprintf("ReplicaSet %s: %s %s", rs.Name, cond.Reason, cond.Message))
						}
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return m
}

func (m *gpuMonitor) problem(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !slices.Contains(m.problems, s) {
		m.problems = append(m.problems, s)
	}
}

// check fails the test when a Pod was refused or stuck, or more than 2 GPU pods ran at once.
func (m *gpuMonitor) check(t *testing.T) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.problems) > 0 {
		t.Fatalf("during the rollout:\n%s", strings.Join(m.problems, "\n"))
	}
	if m.maxPods != 2 {
		t.Fatalf("at most %d GPU pods at once, want 2 (the quota): %s", m.maxPods, m.atMax)
	}
}
