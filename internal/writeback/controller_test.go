package writeback

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/controller"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

// fakeOpener records the pull requests it is asked for, keeps one per head, and fails while fail is set.
type fakeOpener struct {
	mu     sync.Mutex
	forge  string
	creds  Credentials
	asked  []PullRequest
	opened map[string]PullRequest
	fail   error
}

func (f *fakeOpener) open(forge string, c Credentials) (PullRequestOpener, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forge, f.creds = forge, c
	return f, nil
}

func (f *fakeOpener) OpenPullRequest(_ context.Context, pr PullRequest) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, pr)
	if f.fail != nil {
		return "", f.fail
	}
	if f.opened == nil {
		f.opened = map[string]PullRequest{}
	}
	f.opened[pr.Head] = pr
	return fmt.Sprintf("https://git.example.com/ml/models/pulls/%d", len(f.opened)), nil
}

// abortedDeployment is prod's ModelDeployment after 1.1.0 failed its analysis, written back in mode pr.
func abortedDeployment(url string) *v1alpha1.ModelDeployment {
	at := metav1.NewMicroTime(time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC))
	return &v1alpha1.ModelDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: modelName, Namespace: "models-prod", Labels: map[string]string{v1alpha1.LabelEnvironment: "prod"}},
		Spec: v1alpha1.ModelDeploymentSpec{Model: modelName, Version: "1.1.0", GitWriteBack: &v1alpha1.GitWriteBack{
			Repo: url, Mode: v1alpha1.GitWriteBackPullRequest, SecretRef: &corev1.LocalObjectReference{Name: "git"},
			PullRequest: &v1alpha1.GitPullRequest{Forge: v1alpha1.ForgeGitea, Labels: []string{"rollback", "marina"}}}},
		Status: v1alpha1.ModelDeploymentStatus{StableVersion: "1.0.0", CanaryVersion: "1.1.0",
			AbortMessage: "analysis error-rate failed: error-rate: result [0.42] failed result[0] < 0.05",
			AnalysisRuns: []v1alpha1.AnalysisRunStatus{{Name: "1.1.0-step-1", Template: "error-rate", Phase: v1alpha1.AnalysisFailed,
				Metrics: []v1alpha1.AnalysisMetricStatus{
					{Name: "latency", Phase: v1alpha1.AnalysisSuccessful, Successful: 2},
					{Name: "error-rate", Phase: v1alpha1.AnalysisFailed, Successful: 1, Failed: 1, Message: "result [0.42]",
						Measurements: []v1alpha1.AnalysisMeasurement{
							{Phase: v1alpha1.AnalysisSuccessful, MeasuredAt: at, Value: "[0.01]"},
							{Phase: v1alpha1.AnalysisFailed, MeasuredAt: metav1.NewMicroTime(at.Add(time.Second)), Value: "[0.42]"},
						}},
				}}}},
	}
}

func TestWriterOpensThePullRequestWithTheEvidenceAndFindsItAgain(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, "1.1.0@staging", "1.1.0@prod")
	fake := &fakeOpener{}
	w := &Writer{WorkDir: t.TempDir(), PullRequests: fake.open}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git"}, Data: map[string][]byte{"password": []byte(gitToken)}}
	md := abortedDeployment("file://" + bare)
	const branch = "marina/rollback/iris-classifier-prod-v1.1.0"

	out, err := w.WriteBack(context.Background(), md, secret)
	if err != nil || !strings.Contains(out, "on branch "+branch+", pull request https://git.example.com/ml/models/pulls/1 into main") {
		t.Fatalf("WriteBack = %q, %v", out, err)
	}
	if strings.Contains(out, gitToken) {
		t.Fatalf("the token is in %q", out)
	}
	if fake.forge != "gitea" || fake.creds.Password != gitToken {
		t.Fatalf("opener of forge %q with %+v", fake.forge, fake.creds)
	}
	pr := fake.asked[0]
	head := gitLog(t, bare, branch)[0]
	if pr.Head != branch || pr.Base != "main" || pr.RepoURL != "file://"+bare || !slices.Equal(pr.Labels, []string{"rollback", "marina"}) ||
		!strings.HasPrefix(head, hashOf(head)+" "+pr.Title) || pr.Title == "" || pr.Commit != hashOf(head) {
		t.Fatalf("pull request %+v; branch head %s", pr, head)
	}
	for _, want := range []string{
		"**iris-classifier 1.1.0** in **prod**", "back to 1.0.0",
		"**Abort:** analysis error-rate failed: error-rate: result [0.42] failed result[0] < 0.05",
		"### Analysis 1.1.0-step-1 (template error-rate): Failed",
		"**error-rate**: Failed (1 successful, 1 failed, 0 inconclusive, 0 errors): result [0.42]",
		"| 2026-12-07T21:00:00.000Z | Successful | [0.01] |  |",
		"| 2026-12-07T21:00:01.000Z | Failed | [0.42] |  |",
	} {
		if !strings.Contains(pr.Body, want) {
			t.Errorf("the body lacks %q:\n%s", want, pr.Body)
		}
	}
	if strings.Contains(pr.Body, "latency") {
		t.Errorf("the body shows the metric that passed:\n%s", pr.Body)
	}

	// The same abort again: the branch holds the revert, the same pull request is asked for with the same body.
	again, err := w.WriteBack(context.Background(), md, secret)
	if err != nil || !strings.Contains(again, "pull request https://git.example.com/ml/models/pulls/1 into main") || !strings.HasSuffix(again, "(already in Git)") {
		t.Fatalf("again: %q, %v", again, err)
	}
	if len(fake.asked) != 2 || fake.asked[1].Head != branch || fake.asked[1].Body != pr.Body || fake.asked[1].Title != pr.Title || len(fake.opened) != 1 {
		t.Fatalf("asked for %+v", fake.asked)
	}
}

func TestWriterKeepsThePushedBranchWhenTheForgeFails(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, "1.1.0@staging", "1.1.0@prod")
	// An opener whose error quotes the token: WriteBack takes it out.
	fake := &fakeOpener{fail: errors.New("gitea ml/models: opening a pull request with token " + gitToken + ": 502 Bad Gateway")}
	w := &Writer{WorkDir: t.TempDir(), PullRequests: fake.open}
	md := abortedDeployment("file://" + bare)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git"}, Data: map[string][]byte{"password": []byte(gitToken)}}
	const branch = "marina/rollback/iris-classifier-prod-v1.1.0"

	_, err := w.WriteBack(context.Background(), md, secret)
	if err == nil || errors.Is(err, controller.ErrNothingToWrite) || !strings.Contains(err.Error(), "pushed as") ||
		!strings.Contains(err.Error(), "on branch "+branch) || !strings.Contains(err.Error(), "502 Bad Gateway") {
		t.Fatalf("err = %v, want a retried error saying the branch is pushed", err)
	}
	if strings.Contains(err.Error(), gitToken) {
		t.Fatalf("the error carries the token: %v", err)
	}
	if got := readRemote(t, bare, branch); got.prodVersion != "1.0.0" || got.badState != "blocked" {
		t.Fatalf("branch: %+v", got)
	}
	fake.fail = nil
	out, err := w.WriteBack(context.Background(), md, secret)
	if err != nil || !strings.Contains(out, "pull request https://git.example.com/ml/models/pulls/1") {
		t.Fatalf("retry: %q, %v", out, err)
	}
}

func TestWriterRefusesAForgeItCannotTalkToOnceAndPushesNothing(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, "1.1.0@staging", "1.1.0@prod")
	noToken := func(string, Credentials) (PullRequestOpener, error) {
		return nil, errors.New("gitea: the forge's API needs a token: set password (or bearerToken) in the Secret spec.gitWriteBack.secretRef names")
	}
	w := &Writer{WorkDir: t.TempDir(), PullRequests: noToken}
	_, err := w.WriteBack(context.Background(), abortedDeployment("file://"+bare), nil)
	if !errors.Is(err, controller.ErrNothingToWrite) || !strings.Contains(err.Error(), "spec.gitWriteBack.pullRequest: gitea: the forge's API needs a token") {
		t.Fatalf("err = %v, want ErrNothingToWrite naming spec.gitWriteBack.pullRequest and what it lacks", err)
	}
	if refs := repotest.Git(t, bare, "for-each-ref", "--format=%(refname)", "refs/heads/marina/"); refs != "" {
		t.Fatalf("pushed although the forge was refused: %s", refs)
	}
}

func TestWriterWithoutAPullRequestOnlyPushesTheBranch(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, "1.1.0@staging", "1.1.0@prod")
	fake := &fakeOpener{}
	w := &Writer{WorkDir: t.TempDir(), PullRequests: fake.open}
	md := abortedDeployment("file://" + bare)
	md.Spec.GitWriteBack.PullRequest = nil
	out, err := w.WriteBack(context.Background(), md, nil)
	if err != nil || !strings.Contains(out, "(open a pull request into main)") || len(fake.asked) != 0 {
		t.Fatalf("%q, %v; asked %+v", out, err, fake.asked)
	}
}
