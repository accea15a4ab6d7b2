//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/controller"
	"github.com/marina-dev/marina/internal/testenv"
)

// TestWriteBackPROpensOnePullRequestOnGitea: the example repository, pushed to a real Gitea by its bot, runs
// iris-classifier 1.1.0 in staging. marina controller (a process) rolls 1.1.0 out over 1.0.0 with an analysis
// whose error rate fails, aborts, and in gitWriteBack mode pr with pullRequest {forge: gitea} and a Secret holding
// the bot's token pushes marina/rollback/iris-classifier-staging-v1.1.0 and opens one pull request from it into
// main, titled by the revert, described by the abort and the failed metric's measurements, labelled. The same
// version aborting again finds that pull request and writes its description again (edited by hand meanwhile)
// rather than opening a second. While pull requests are off on the repository the forge fails: the branch stays
// pushed, the condition says so and the write-back is retried. The token is in no Event, condition or line of the
// controller's log (-vv).
func TestWriteBackPROpensOnePullRequestOnGitea(t *testing.T) {
	m := newGiteaRepo(t)
	g, git := m.g, m.git
	m.register(t, "1.1.0", "0.985")
	if code, out, errOut := m.marina(t, nil, "promote", "iris-classifier@1.1.0", "--env", "staging"); code != 0 {
		t.Fatalf("promote: exit %d\n%s%s", code, out, errOut)
	}
	m.push()
	mainHead := git("rev-parse", "main")

	c := testenv.Start(t, testenv.Options{CRDs: true, Workloads: true})
	c.AddNode(t, testenv.Node{Name: "cpu-0"})
	ctx := context.Background()
	c.CreateNamespaces(t, ns)
	prom := startPrometheus(t, 0.5)
	ctl := runController(t, c.Kubeconfig, ns, "-vv")
	if err := c.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git", Namespace: ns},
		StringData: map[string]string{"username": g.Bot.Name, "password": g.Bot.Token}}); err != nil {
		t.Fatal(err)
	}

	count := int32(2)
	replicas := int32(1)
	md := &v1alpha1.ModelDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{v1alpha1.LabelEnvironment: "staging"}},
		Spec: v1alpha1.ModelDeploymentSpec{
			Model: name, Version: "1.0.0", Replicas: &replicas,
			Artifact: v1alpha1.Artifact{URI: "models/iris-classifier/artifacts/v1.0.0.onnx",
				Digest: "sha256:1e3fa9ff4412f893618f6767cdecb4b0ad04754682bd48f47dbf51e78e3b4318", Size: 1024, Format: "onnx"},
			Runtime: v1alpha1.Runtime{Image: "ghcr.io/marina-dev/marina-serve:0.1.0", Port: 8080},
			Strategy: &v1alpha1.Strategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
				{SetWeight: new(int32(50))},
				{Analysis: &v1alpha1.AnalysisStep{Template: "error-rate"}},
				{SetWeight: new(int32(100))},
			}}},
			Analysis: &v1alpha1.Analysis{Templates: []v1alpha1.AnalysisTemplate{{
				Name: "error-rate", Prometheus: &v1alpha1.PrometheusProvider{Address: prom.Address()},
				Metrics: []v1alpha1.AnalysisMetric{{Name: "error-rate", Query: `marina_test_error_rate{version="1.1.0"}`,
					SuccessCondition: "result[0] < 0.05", Interval: "1s", Count: &count}},
			}}},
			GitWriteBack: &v1alpha1.GitWriteBack{Repo: m.cloneURL, Branch: "main", Mode: v1alpha1.GitWriteBackPullRequest,
				SecretRef:   &corev1.LocalObjectReference{Name: "git"},
				PullRequest: &v1alpha1.GitPullRequest{Forge: v1alpha1.ForgeGitea, Labels: []string{"rollback", "staging"}}},
		},
	}
	if err := c.Client.Create(ctx, md); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, "1.0.0 Ready", time.Minute, func(md *v1alpha1.ModelDeployment) bool {
		return md.Status.StableVersion == "1.0.0" && ready(md)
	})
	setVersion := func(v string) {
		t.Helper()
		md := get(t, c)
		patch := client.MergeFrom(md.DeepCopy())
		md.Spec.Version = v
		if err := c.Client.Patch(ctx, md, patch); err != nil {
			t.Fatal(err)
		}
	}
	const branch = "marina/rollback/iris-classifier-staging-v1.1.0"
	written := func(md *v1alpha1.ModelDeployment) bool {
		wb := meta.FindStatusCondition(md.Status.Conditions, controller.WriteBackCondition)
		return md.Status.AbortMessage != "" && wb != nil && wb.Status == metav1.ConditionTrue
	}
	type giteaPR struct {
		Number int64
		Title  string
		Body   string
		URL    string `json:"html_url"`
		Head   struct{ Ref, Sha string }
		Base   struct{ Ref string }
		Labels []struct{ Name string }
	}
	openPRs := func() []giteaPR {
		t.Helper()
		var prs []giteaPR
		giteaAPI(t, g.URL, g.Bot.Token, http.MethodGet, "/repos/"+m.fullName+"/pulls?state=open", nil, http.StatusOK, &prs)
		return prs
	}
	// Pull requests are off on the repository at first: the forge fails, the branch stays pushed, the write-back is
	// retried; it opens the pull request once they are on.
	repoPath := "/repos/" + m.fullName
	giteaAPI(t, g.URL, g.Bot.Token, http.MethodPatch, repoPath, map[string]any{"has_pull_requests": false}, http.StatusOK, nil)
	setVersion("1.1.0")
	failed := waitFor(t, c, "1.1.0 aborted and its pull request failing", 2*time.Minute, func(md *v1alpha1.ModelDeployment) bool {
		wb := meta.FindStatusCondition(md.Status.Conditions, controller.WriteBackCondition)
		return md.Status.AbortMessage != "" && wb != nil && wb.Status == metav1.ConditionFalse && strings.Contains(wb.Message, "pull request")
	})
	if wb := meta.FindStatusCondition(failed.Status.Conditions, controller.WriteBackCondition); wb.Reason != "Pending" ||
		!strings.Contains(wb.Message, "pushed as") || !strings.Contains(wb.Message, "on branch "+branch) {
		t.Fatalf("GitWriteBack condition while the forge fails: %+v", wb)
	}
	if h := strings.Fields(git("ls-remote", "origin", "refs/heads/"+branch)); len(h) == 0 {
		t.Fatalf("%s is not on Gitea while the forge fails", branch)
	}
	giteaAPI(t, g.URL, g.Bot.Token, http.MethodPatch, repoPath, map[string]any{"has_pull_requests": true}, http.StatusOK, nil)
	got := waitFor(t, c, "1.1.0's pull request open", 2*time.Minute, written)
	wb := meta.FindStatusCondition(got.Status.Conditions, controller.WriteBackCondition)
	if wb.Reason != "Written" || !strings.Contains(wb.Message, "on branch "+branch+", pull request "+g.URL+"/"+m.fullName+"/pulls/") ||
		!strings.Contains(wb.Message, " into main") {
		t.Fatalf("GitWriteBack condition: %+v", wb)
	}

	head := strings.Fields(git("ls-remote", "origin", "refs/heads/"+branch))
	if len(head) == 0 {
		t.Fatalf("%s is not on Gitea", branch)
	}
	if remoteMain := strings.Fields(git("ls-remote", "origin", "refs/heads/main")); len(remoteMain) == 0 || remoteMain[0] != mainHead {
		t.Errorf("main moved on Gitea: %v, want %s", remoteMain, mainHead)
	}
	git("fetch", "-q", "origin", branch)
	subject := git("log", "-1", "--format=%s", head[0])

	prs := openPRs()
	if len(prs) != 1 {
		t.Fatalf("%d open pull requests, want 1: %+v", len(prs), prs)
	}
	pr := prs[0]
	if pr.Head.Ref != branch || pr.Head.Sha != head[0] || pr.Base.Ref != "main" || pr.Title != subject || !strings.Contains(wb.Message, pr.URL) {
		t.Errorf("pull request #%d %q from %s (%s) into %s at %s; want %q from %s (%s) into main, as %s says",
			pr.Number, pr.Title, pr.Head.Ref, pr.Head.Sha, pr.Base.Ref, pr.URL, subject, branch, head[0], wb.Message)
	}
	run := got.Status.AnalysisRun("1.1.0-step-1")
	if run == nil || len(run.Metrics) != 1 || len(run.Metrics[0].Measurements) == 0 {
		t.Fatalf("analysis run: %+v", run)
	}
	last := run.Metrics[0].Measurements[len(run.Metrics[0].Measurements)-1]
	for _, want := range []string{
		"**iris-classifier 1.1.0** in **staging**", "**Abort:** " + strings.Join(strings.Fields(got.Status.AbortMessage), " "),
		"### Analysis 1.1.0-step-1 (template error-rate): Failed", "**error-rate**: Failed",
		fmt.Sprintf("| %s | Failed | %s |", last.MeasuredAt.UTC().Format("2006-01-02T15:04:05.000Z"), last.Value),
	} {
		if !strings.Contains(pr.Body, want) {
			t.Errorf("pull request #%d's description lacks %q:\n%s", pr.Number, want, pr.Body)
		}
	}
	var labels []string
	for _, l := range pr.Labels {
		labels = append(labels, l.Name)
	}
	slices.Sort(labels)
	if !slices.Equal(labels, []string{"rollback", "staging"}) {
		t.Errorf("labels %v, want rollback and staging", labels)
	}

	// The same version aborts again: the same pull request, its description (edited meanwhile) the evidence again.
	prPath := fmt.Sprintf("/repos/%s/pulls/%d", m.fullName, pr.Number)
	giteaAPI(t, g.URL, g.Bot.Token, http.MethodPatch, prPath, map[string]any{"body": "edited by hand"}, http.StatusCreated, nil)
	setVersion("1.0.0")
	waitFor(t, c, "back on 1.0.0", time.Minute, func(md *v1alpha1.ModelDeployment) bool {
		return md.Status.StableVersion == "1.0.0" && md.Status.AbortMessage == "" && ready(md)
	})
	setVersion("1.1.0")
	again := waitFor(t, c, "1.1.0 aborted again", 2*time.Minute, func(md *v1alpha1.ModelDeployment) bool {
		return written(md) && md.Status.AnalysisRun("1.1.0-step-1") != nil &&
			md.Status.AnalysisRun("1.1.0-step-1").StartedAt != nil && run.StartedAt != nil &&
			md.Status.AnalysisRun("1.1.0-step-1").StartedAt.After(run.StartedAt.Time)
	})
	wbAgain := meta.FindStatusCondition(again.Status.Conditions, controller.WriteBackCondition)
	if wbAgain.Reason != "Written" || !strings.Contains(wbAgain.Message, pr.URL) || !strings.Contains(wbAgain.Message, "(already in Git)") {
		t.Errorf("GitWriteBack condition after the second abort: %+v, want %s found again", wbAgain, pr.URL)
	}
	prs = openPRs()
	if len(prs) != 1 || prs[0].Number != pr.Number {
		t.Fatalf("after the second abort: %+v, want #%d alone", prs, pr.Number)
	}
	if body := prs[0].Body; body == "edited by hand" || !strings.Contains(body, "**Abort:** ") || !strings.Contains(body, "**error-rate**: Failed") {
		t.Errorf("after the second abort, #%d's description is\n%s", pr.Number, body)
	}
	if h := strings.Fields(git("ls-remote", "origin", "refs/heads/"+branch)); len(h) == 0 || h[0] != head[0] {
		t.Errorf("the second abort moved %s: %v, want %s", branch, h, head[0])
	}

	// The token: in no Event, condition or line of the controller's log.
	var evs eventsv1.EventList
	if err := c.Client.List(ctx, &evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	sawWritten, sawFailed := false, false
	for _, e := range evs.Items {
		if strings.Contains(e.Note, g.Bot.Token) {
			t.Errorf("Event %s %s carries the token", e.Reason, e.Name)
		}
		sawWritten = sawWritten || (e.Reason == "WrittenBack" && strings.Contains(e.Note, pr.URL))
		sawFailed = sawFailed || (e.Reason == "WriteBackFailed" && strings.Contains(e.Note, "on branch "+branch))
	}
	if !sawFailed {
		t.Errorf("no WriteBackFailed Event names %s", branch)
	}
	if !sawWritten {
		t.Errorf("no WrittenBack Event names %s", pr.URL)
	}
	for _, cond := range get(t, c).Status.Conditions {
		if strings.Contains(cond.Message, g.Bot.Token) {
			t.Errorf("condition %s carries the token", cond.Type)
		}
	}
	logged, err := os.ReadFile(ctl.log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logged), "writing the revert to Git") || strings.Contains(string(logged), g.Bot.Token) {
		t.Errorf("the controller's log (%d bytes) has not the failed write-back, or carries the token", len(logged))
	}
}
