package ui_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/status"
	"github.com/marina-dev/marina/internal/testenv"
	"github.com/marina-dev/marina/internal/ui"
)

// The mid-rollout cluster: iris-classifier in prod mirrors 20% of its requests to 1.1.0 and judges it, 1.0.0
// serving them all.
const (
	rolloutNS      = "models-prod"
	rolloutModel   = "iris-classifier"
	agreementBar   = 0.95
	hostileNS      = "models-staging"
	hostileRollout = "vision-gpu"
)

// rolloutRepo is the example repository with iris-classifier on marina's backend (ModelDeployments, which link
// to their rollout pages) and prod moved to 1.1.0, which the cluster is rolling out.
func rolloutRepo(t *testing.T) string {
	t.Helper()
	meta := repotest.ReadFile(t, repotest.ExamplePath(), "models/iris-classifier/v1.0.0.json")
	app := repotest.ReadFile(t, repotest.ExamplePath(), "applications/iris-classifier/model.yaml")
	app = strings.Replace(app, "backend: plain", "backend: marina", 1)
	app = strings.Replace(app, "    prod:\n      version: 1.0.0", "    prod:\n      version: 1.1.0", 1)
	return repotest.Example(t, map[string]string{
		"models/iris-classifier/v1.1.0.json":      strings.Replace(meta, `"version": "1.0.0"`, `"version": "1.1.0"`, 1),
		"applications/iris-classifier/model.yaml": app,
	})
}

// midRollout starts an API server holding the ModelDeployment iris-classifier in models-prod in the middle of a
// shadow rollout of 1.1.0 (its status set through the status subresource, as the controller sets it), with an
// Event about it, and a ModelDeployment vision-gpu in models-staging whose status and Event hold hostile text. It
// returns a Cluster reading it.
func midRollout(t *testing.T) *status.Cluster {
	t.Helper()
	c := testenv.Start(t, testenv.Options{CRDs: true})
	c.CreateNamespaces(t, rolloutNS, hostileNS)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	templates, err := analysis.BuiltinTemplates("spec.analysis", []analysis.BuiltinMetric{
		{Name: analysis.ShadowAgreement, Min: new(agreementBar)},
		{Name: analysis.ShadowErrorRate, Max: new(0.01)},
	}, analysis.BuiltinOptions{Namespace: rolloutNS, Model: rolloutModel, Version: "1.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	started := metav1.NewTime(time.Now().Add(-4 * time.Minute).Truncate(time.Second))
	measured := metav1.NewMicroTime(time.Now().Add(-30 * time.Second))
	earlier := metav1.NewMicroTime(time.Now().Add(-90 * time.Second))
	md := modelDeployment(rolloutNS, rolloutModel, "prod", "1.1.0")
	md.Spec.Strategy = &v1alpha1.Strategy{Shadow: &v1alpha1.ShadowStrategy{Percent: 20, Duration: "10m",
		Steps: []v1alpha1.CanaryStep{{SetWeight: new(int32(25))}, {Pause: &v1alpha1.PauseStep{Duration: "5m"}}, {SetWeight: new(int32(50))}}}}
	md.Spec.Analysis = &v1alpha1.Analysis{Templates: templates}
	create(ctx, t, c, md, v1alpha1.ModelDeploymentStatus{
		Strategy: v1alpha1.StrategyShadow, CurrentStepIndex: new(int32(1)), StepStartTime: &started,
		StableVersion: "1.0.0", CanaryVersion: "1.1.0", Weights: &v1alpha1.TrafficWeights{Stable: 100, Canary: 0, Shadow: 20},
		AnalysisRuns: []v1alpha1.AnalysisRunStatus{{Name: "shadow-1", Template: "shadow", Phase: v1alpha1.AnalysisRunning,
			Successful: 3, Inconclusive: 1, StartedAt: &started, Message: "shadow-agreement: 0.982 >= 0.95",
			Metrics: []v1alpha1.AnalysisMetricStatus{
				{Name: analysis.ShadowAgreement, Phase: v1alpha1.AnalysisRunning, Successful: 2, Inconclusive: 1, LastMeasuredAt: &measured, Message: "0.982 >= 0.95",
					Measurements: []v1alpha1.AnalysisMeasurement{
						{Phase: v1alpha1.AnalysisInconclusive, MeasuredAt: earlier, Value: "[NaN]"},
						{Phase: v1alpha1.AnalysisSuccessful, MeasuredAt: earlier, Value: "[0.97]"},
						{Phase: v1alpha1.AnalysisSuccessful, MeasuredAt: measured, Value: "[0.982]"},
					}},
				{Name: analysis.ShadowErrorRate, Phase: v1alpha1.AnalysisRunning, Successful: 1, Error: 1, ConsecutiveErrors: 1, LastMeasuredAt: &measured, Message: "query timed out after 10s",
					Measurements: []v1alpha1.AnalysisMeasurement{
						{Phase: v1alpha1.AnalysisSuccessful, MeasuredAt: earlier, Value: "[0]"},
						{Phase: v1alpha1.AnalysisError, MeasuredAt: measured, Message: "query timed out after 10s"},
					}},
			}}},
		Conditions: []metav1.Condition{
			{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Available", Message: "1.0.0 serves every request", LastTransitionTime: started},
			{Type: "Progressing", Status: metav1.ConditionTrue, Reason: "Analyzing", Message: "mirroring 20% of requests to 1.1.0, analysis shadow-1 running", LastTransitionTime: started},
		},
	})
	event(ctx, t, c, md, corev1.EventTypeNormal, "ShadowStarted", "mirroring 20% of requests to 1.1.0", started.Time)

	bad := modelDeployment(hostileNS, hostileRollout, "staging", "2.0.0")
	create(ctx, t, c, bad, v1alpha1.ModelDeploymentStatus{
		StableVersion: "1.0.0", CanaryVersion: "2.0.0", AbortMessage: "aborted: " + hostile,
		Conditions: []metav1.Condition{{Type: "Degraded", Status: metav1.ConditionTrue, Reason: "Aborted", Message: hostile, LastTransitionTime: started}},
	})
	event(ctx, t, c, bad, corev1.EventTypeWarning, "Aborted", "rolled back: "+hostile, started.Time)

	cfg := rest.CopyConfig(c.Config)
	cfg.Timeout = 15 * time.Second
	cluster, err := status.NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cluster
}

// modelDeployment is a ModelDeployment of version as render writes one for model in env, labels included.
func modelDeployment(ns, model, env, version string) *v1alpha1.ModelDeployment {
	return &v1alpha1.ModelDeployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: model, Labels: map[string]string{
			v1alpha1.LabelModel: model, v1alpha1.LabelEnvironment: env, v1alpha1.LabelVersion: version,
		}},
		Spec: v1alpha1.ModelDeploymentSpec{
			Model: model, Version: version,
			Artifact: v1alpha1.Artifact{URI: "models/" + model + "/artifacts/v" + version + ".onnx", Format: "onnx", Size: 350,
				Digest: "sha256:05f6759bd4f24b056f0d290267459d5b63dcc1f451fd702ee5796f4179c78cf5"},
			Runtime: v1alpha1.Runtime{Image: "ghcr.io/marina-dev/marina-serve:0.1.0", Port: 8080},
		},
	}
}

// create creates md, then sets its status through the status subresource.
func create(ctx context.Context, t *testing.T, c *testenv.Cluster, md *v1alpha1.ModelDeployment, st v1alpha1.ModelDeploymentStatus) {
	t.Helper()
	if err := c.Client.Create(ctx, md); err != nil {
		t.Fatalf("creating ModelDeployment %s/%s: %v", md.Namespace, md.Name, err)
	}
	md.Status = st
	if err := c.Client.Status().Update(ctx, md); err != nil {
		t.Fatalf("setting the status of ModelDeployment %s/%s: %v", md.Namespace, md.Name, err)
	}
}

// event records a core/v1 Event about md, as the controller's recorder does.
func event(ctx context.Context, t *testing.T, c *testenv.Cluster, md *v1alpha1.ModelDeployment, typ, reason, message string, at time.Time) {
	t.Helper()
	e := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: md.Namespace, GenerateName: md.Name + "."},
		InvolvedObject: corev1.ObjectReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ModelDeployment",
			Namespace: md.Namespace, Name: md.Name, UID: md.UID},
		Type: typ, Reason: reason, Message: message, Count: 1,
		FirstTimestamp: metav1.NewTime(at), LastTimestamp: metav1.NewTime(at),
		Source: corev1.EventSource{Component: "marina-controller"},
	}
	if err := c.Client.Create(ctx, e); err != nil {
		t.Fatalf("creating an Event about %s/%s: %v", md.Namespace, md.Name, err)
	}
}

func TestARolloutPageShowsTheModelDeploymentMidRollout(t *testing.T) {
	t.Parallel()
	cluster := midRollout(t)
	base := serve(t, ui.Options{Repo: rolloutRepo(t), Cluster: cluster})

	got := request(t, "GET", base+"/rollouts/"+rolloutNS+"/"+rolloutModel)
	if got.code != http.StatusOK {
		t.Fatalf("GET the rollout: %d\n%s", got.code, got.body)
	}
	for _, w := range []string{
		`<meta http-equiv="refresh" content="5">`,
		`<span class="version" id="spec-version">1.1.0</span>`,
		`<span class="version" id="stable-version">1.0.0</span>`,
		`<span class="version" id="canary-version">1.1.0</span>`,
		`<td id="strategy">Shadow</td>`,
		"step 1: mirroring 20% of requests to the new version and judging its answers",
		`<rect class="weight-stable" x="0" y="0" width="100" height="6"/>`,
		`<rect class="weight-shadow" x="0" y="7" width="20" height="3"/>`,
		`<b data-weight="shadow">20%</b>`,
		`<div class="run" data-run="shadow-1">`,
		"3 successful · 0 failed · 1 inconclusive · 0 error",
		`<tr data-metric="shadow-error-rate"><th scope="row">shadow-error-rate</th><td><span class="phase phase-Running">Running</span></td><td>1</td><td>0</td><td>0</td><td>1 (1 in a row)</td>`,
		"query timed out after 10s",
		`<li class="phase-Inconclusive" data-phase="Inconclusive" title="Inconclusive at `,
		`">[NaN]</li><li class="phase-Successful" data-phase="Successful" title="Successful at `,
		`">[0.97]</li><li class="phase-Successful"`,
		`">[0.982]</li></ol>`,
		`">[0]</li><li class="phase-Error" data-phase="Error" title="Error at `,
		`">query timed out after 10s</li></ol>`,
		`<tr data-condition="Progressing" data-status="True"><th scope="row">Progressing</th><td class="status-True">True</td><td>Analyzing</td>`,
		`data-reason="ShadowStarted"`, "mirroring 20% of requests to 1.1.0</td>", "marina-controller",
		`id="no-prometheus"`,
	} {
		if !strings.Contains(got.body, w) {
			t.Errorf("the rollout page lacks %q:\n%s", w, got.body)
		}
	}

	hostilePage := request(t, "GET", base+"/rollouts/"+hostileNS+"/"+hostileRollout).body
	if strings.Contains(hostilePage, "<script>") || strings.Count(hostilePage, "&lt;script&gt;alert(1)&lt;/script&gt;") != 3 {
		t.Errorf("the abort message, the condition's and the Event's are text, escaped:\n%s", hostilePage)
	}

	matrix := request(t, "GET", base+"/").body
	if prod := cell(t, matrix, rolloutModel, "prod"); !strings.Contains(prod, `<a class="rollout" href="/rollouts/models-prod/iris-classifier">ModelDeployment 1.1.0 ready</a>`) {
		t.Errorf("the prod cell links its ModelDeployment to its rollout page:\n%s", prod)
	}
	if model := request(t, "GET", base+"/models/"+rolloutModel).body; !strings.Contains(model, `href="/rollouts/models-prod/iris-classifier"`) {
		t.Errorf("the model page links its ModelDeployment to its rollout page:\n%s", model)
	}

	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/rollouts/models-prod/nothing", http.StatusNotFound, "the cluster has no ModelDeployment nothing in namespace models-prod"},
		{"/rollouts/nowhere/iris-classifier", http.StatusNotFound, "the cluster has no ModelDeployment iris-classifier in namespace nowhere"},
		{"/rollouts/models-prod/iris-classifier?range=1m", http.StatusBadRequest, "range=1m: want a duration from 5m to 7d"},
		{"/rollouts/models-prod/iris-classifier?range=8d", http.StatusBadRequest, "range=8d: want a duration from 5m to 7d"},
		{"/rollouts/models-prod/iris-classifier?range=soon", http.StatusBadRequest, "range=soon: want a duration"},
		{"/rollouts/models-prod/iris-classifier?version=latest", http.StatusBadRequest, "version=latest: want the semantic version of a model"},
	} {
		got := request(t, "GET", base+tc.path)
		if got.code != tc.code || !strings.Contains(got.body, tc.want) {
			t.Errorf("GET %s: %d, want %d with %q:\n%s", tc.path, got.code, tc.code, tc.want, got.body)
		}
	}
}

func TestARolloutPageWithoutAClusterSaysHowToGiveOne(t *testing.T) {
	t.Parallel()
	base := serve(t, ui.Options{Repo: dashboardRepo(t)})
	got := request(t, "GET", base+"/rollouts/models-prod/iris-classifier")
	if got.code != http.StatusNotFound || !strings.Contains(got.body, "this marina ui reads none: start it with --cluster (the current kubeconfig context), --kubeconfig FILE or --context NAME") {
		t.Errorf("GET a rollout without a cluster: %d\n%s", got.code, got.body)
	}
}
