package rollout_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/controller/rollout"
)

func shadow(percent int32, dur string, steps ...v1alpha1.CanaryStep) *v1alpha1.Strategy {
	return &v1alpha1.Strategy{Shadow: &v1alpha1.ShadowStrategy{Percent: percent, Duration: v1alpha1.DurationString(dur), Steps: steps}}
}

// shadowThenCanary is iris on 4 replicas of 1.0.0, rolling 1.1.0 out as a 10% shadow for 5 minutes judged by
// template agreement, then as a canary: 50%, a minute's pause, analysis error-rate, 75%.
func shadowThenCanary() *v1alpha1.ModelDeployment {
	m := md("1.0.0", 4, shadow(10, "5m", weight(50), pause("1m"), analysis("error-rate"), weight(75)))
	m.Spec.Analysis = &v1alpha1.Analysis{Templates: []v1alpha1.AnalysisTemplate{{Name: "agreement"}, {Name: "error-rate"}}}
	return m
}

// TestShadowWithStepsGoesOnAsACanaryAfterTheShadowPasses walks a shadow rollout with canary steps to promotion:
// the steps run in order after the shadow's analysis and duration, with the mirror stopped, under status step
// indices that follow the shadow's (0 bring up, 1 mirror, 2.. the steps).
func TestShadowWithStepsGoesOnAsACanaryAfterTheShadowPasses(t *testing.T) {
	c := newCluster(t, shadowThenCanary())
	c.reconcile()
	c.md.Spec.Version = "1.1.0"
	weights := map[int32]v1alpha1.TrafficWeights{}
	analyses := map[int32]string{}
	step := func(what string) rollout.Decision {
		t.Helper()
		d := c.reconcile()
		if c.md.Status.CurrentStepIndex != nil {
			i := *c.md.Status.CurrentStepIndex
			weights[i] = *c.md.Status.Weights
			if d.Analysis != "" {
				analyses[i] = d.Analysis
			}
		}
		t.Logf("%s: step %v, weights %+v, replicas %v, requeue %s", what, c.steps, c.md.Status.Weights, d.Replicas, d.RequeueAfter)
		return d
	}
	step("start: bring the shadow up")
	if d := step("shadow ready: mirror"); d.Analysis != "agreement" || d.Replicas["1.1.0"] != 1 {
		t.Fatalf("mirror: want analysis agreement on one 1.1.0 pod, got %+v", d)
	}
	c.analysis = v1alpha1.AnalysisSuccessful
	if d := step("shadow analysis passed"); d.RequeueAfter != 5*time.Minute || *c.md.Status.CurrentStepIndex != 1 {
		t.Fatalf("a passing shadow still mirrors for its duration: %+v", d)
	}
	c.now = c.now.Add(5 * time.Minute)
	if d := step("shadow over: setWeight 50"); d.Replicas["1.1.0"] != 2 || d.Replicas["1.0.0"] != 4 {
		t.Fatalf("setWeight 50 after the shadow: replicas %v", d.Replicas)
	}
	c.analysis = ""
	if d := step("setWeight 50 ready: pause"); d.RequeueAfter != time.Minute {
		t.Fatalf("pause 1m: requeue %s", d.RequeueAfter)
	}
	c.now = c.now.Add(time.Minute)
	step("pause over: analysis")
	c.analysis = v1alpha1.AnalysisSuccessful
	if d := step("analysis passed: setWeight 75"); d.Replicas["1.1.0"] != 3 {
		t.Fatalf("setWeight 75: replicas %v", d.Replicas)
	}
	c.analysis = ""
	if d := step("setWeight 75 ready: full size"); d.Replicas["1.1.0"] != 4 || c.md.Status.StableVersion != "1.0.0" {
		t.Fatalf("after the last step the new version goes to full size before it is stable: %+v", d)
	}
	if d := step("full size ready: promoted"); c.md.Status.StableVersion != "1.1.0" || len(d.Replicas) != 1 || c.md.Status.Weights.Stable != 100 {
		t.Fatalf("not promoted: %+v, status %+v", d, c.md.Status)
	}
	if got := c.steps; len(got) != 7 || got[0] != 0 || got[6] != 6 {
		t.Fatalf("steps went %v, want 0..6 once each", got)
	}
	want := map[int32]v1alpha1.TrafficWeights{
		0: {Stable: 100}, 1: {Stable: 100, Shadow: 10}, 2: {Stable: 50, Canary: 50}, 3: {Stable: 50, Canary: 50},
		4: {Stable: 50, Canary: 50}, 5: {Stable: 25, Canary: 75}, 6: {Stable: 25, Canary: 75},
	}
	for i, w := range want {
		if weights[i] != w {
			t.Errorf("step %d: weights %+v, want %+v", i, weights[i], w)
		}
	}
	if analyses[1] != "agreement" || analyses[4] != "error-rate" || len(analyses) != 2 {
		t.Errorf("analyses by step %v, want agreement at 1 and error-rate at 4", analyses)
	}
}

// TestAFailureInTheShadowOrInAnyOfItsStepsAbortsAsACanarysDoes, and a shadow that fails never reaches its steps.
func TestAFailureInTheShadowOrInAnyOfItsStepsAbortsAsACanarysDoes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// steps is the shadow's canary steps; failAt is the status step whose analysis fails.
		steps    []v1alpha1.CanaryStep
		failAt   int32
		wantMsg  string
		wantLast int32
	}{
		{"the shadow's analysis fails", []v1alpha1.CanaryStep{weight(50)}, 1, "shadow: analysis agreement failed", 1},
		{"an analysis step after the shadow fails", []v1alpha1.CanaryStep{weight(50), analysis("error-rate"), weight(100)}, 3, "step 3: analysis error-rate failed", 3},
		{"an analysis step right after the shadow fails", []v1alpha1.CanaryStep{analysis("error-rate")}, 2, "step 2: analysis error-rate failed", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := md("1.0.0", 2, shadow(50, "", tt.steps...))
			m.Spec.Analysis = &v1alpha1.Analysis{Templates: []v1alpha1.AnalysisTemplate{{Name: "agreement"}, {Name: "error-rate"}}}
			c := newCluster(t, m)
			c.reconcile()
			c.md.Spec.Version = "1.1.0"
			var d rollout.Decision
			for range 10 {
				if c.md.Status.CurrentStepIndex != nil && *c.md.Status.CurrentStepIndex == tt.failAt && c.last.Analysis != "" {
					c.analysis = v1alpha1.AnalysisFailed
				} else if c.last.Analysis != "" {
					c.analysis = v1alpha1.AnalysisSuccessful
				}
				if d = c.reconcile(); d.WriteBack {
					break
				}
				c.analysis = ""
			}
			if !d.WriteBack || d.Replicas["1.0.0"] != 2 || d.Replicas["1.1.0"] != 0 || *c.md.Status.Weights != (v1alpha1.TrafficWeights{Stable: 100}) ||
				cond(c.md, v1alpha1.DegradedCondition).Reason != rollout.ReasonAborted || !strings.Contains(c.md.Status.AbortMessage, tt.wantMsg) {
				t.Fatalf("want an abort saying %q: %+v\nstatus %+v", tt.wantMsg, d, c.md.Status)
			}
			if last := c.steps[len(c.steps)-1]; last != tt.wantLast {
				t.Fatalf("steps went %v, want the abort at step %d", c.steps, tt.wantLast)
			}
			c.now = c.now.Add(time.Hour)
			if d = c.reconcile(); d.WriteBack || d.Replicas["1.1.0"] != 0 || c.writeBack != 1 {
				t.Fatalf("after the abort: %+v", d)
			}
		})
	}
}

// TestShadowWithStepsRestartsAtTheStepItsStatusNames decides, as a restarted controller does, from the status
// another one wrote at each phase of a shadow with steps: the same step goes on, with the weights and remaining
// time that status holds, and the mirror stays off once the steps have started.
func TestShadowWithStepsRestartsAtTheStepItsStatusNames(t *testing.T) {
	t.Parallel()
	all := map[string]rollout.Workload{"1.0.0": {Replicas: 4, Ready: 4}, "1.1.0": {Replicas: 2, Ready: 2}}
	tests := []struct {
		name      string
		step      int32
		weights   v1alpha1.TrafficWeights
		workloads map[string]rollout.Workload
		analysis  v1alpha1.AnalysisPhase
		// after is how long the step has run when the controller comes back.
		after        time.Duration
		wantStep     int32
		wantWeights  v1alpha1.TrafficWeights
		wantReplicas int32 // of 1.1.0
		wantAnalysis string
		wantRequeue  time.Duration
	}{
		{name: "bringing the shadow up", step: 0, weights: v1alpha1.TrafficWeights{Stable: 100},
			workloads: map[string]rollout.Workload{"1.0.0": {Replicas: 4, Ready: 4}, "1.1.0": {Replicas: 1}}, after: 20 * time.Second,
			wantStep: 0, wantWeights: v1alpha1.TrafficWeights{Stable: 100}, wantReplicas: 1, wantRequeue: 10 * time.Second},
		{name: "mirroring, analysis passed", step: 1, weights: v1alpha1.TrafficWeights{Stable: 100, Shadow: 10},
			workloads: map[string]rollout.Workload{"1.0.0": {Replicas: 4, Ready: 4}, "1.1.0": {Replicas: 1, Ready: 1}},
			analysis:  v1alpha1.AnalysisSuccessful, after: 2 * time.Minute,
			wantStep: 1, wantWeights: v1alpha1.TrafficWeights{Stable: 100, Shadow: 10}, wantReplicas: 1, wantRequeue: 3 * time.Minute},
		{name: "setWeight 50 waiting for pods", step: 2, weights: v1alpha1.TrafficWeights{Stable: 50, Canary: 50},
			workloads: map[string]rollout.Workload{"1.0.0": {Replicas: 4, Ready: 4}, "1.1.0": {Replicas: 2, Ready: 1}}, after: 20 * time.Second,
			wantStep: 2, wantWeights: v1alpha1.TrafficWeights{Stable: 50, Canary: 50}, wantReplicas: 2, wantRequeue: 10 * time.Second},
		{name: "pausing after setWeight 50", step: 3, weights: v1alpha1.TrafficWeights{Stable: 50, Canary: 50}, workloads: all,
			after: 20 * time.Second, wantStep: 3, wantWeights: v1alpha1.TrafficWeights{Stable: 50, Canary: 50}, wantReplicas: 2, wantRequeue: 40 * time.Second},
		{name: "an analysis step running", step: 4, weights: v1alpha1.TrafficWeights{Stable: 50, Canary: 50}, workloads: all,
			analysis: v1alpha1.AnalysisRunning, after: time.Minute,
			wantStep: 4, wantWeights: v1alpha1.TrafficWeights{Stable: 50, Canary: 50}, wantReplicas: 2, wantAnalysis: "error-rate"},
		{name: "full size after the last step", step: 6, weights: v1alpha1.TrafficWeights{Stable: 25, Canary: 75},
			workloads: map[string]rollout.Workload{"1.0.0": {Replicas: 4, Ready: 4}, "1.1.0": {Replicas: 4, Ready: 3}}, after: time.Minute,
			wantStep: 6, wantWeights: v1alpha1.TrafficWeights{Stable: 25, Canary: 75}, wantReplicas: 4, wantRequeue: 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := shadowThenCanary()
			m.Spec.Version = "1.1.0"
			start := metav1.NewTime(t0)
			m.Status = v1alpha1.ModelDeploymentStatus{
				StableVersion: "1.0.0", CanaryVersion: "1.1.0", CurrentStepIndex: &tt.step, StepStartTime: &start,
				Weights: &tt.weights, Strategy: v1alpha1.StrategyShadow,
			}
			m = roundTrip(t, m)
			d := rollout.Decide(m, rollout.Observed{Now: t0.Add(tt.after), Workloads: tt.workloads, Analysis: tt.analysis})
			if got := *d.Status.CurrentStepIndex; got != tt.wantStep || *d.Status.Weights != tt.wantWeights || d.Replicas["1.1.0"] != tt.wantReplicas ||
				d.Replicas["1.0.0"] != 4 || d.Analysis != tt.wantAnalysis || d.RequeueAfter != tt.wantRequeue || d.Status.StableVersion != "1.0.0" {
				t.Fatalf("step %d, weights %+v, replicas %v, analysis %q, requeue %s; want step %d, weights %+v, 1.1.0 on %d, analysis %q, requeue %s",
					got, *d.Status.Weights, d.Replicas, d.Analysis, d.RequeueAfter, tt.wantStep, tt.wantWeights, tt.wantReplicas, tt.wantAnalysis, tt.wantRequeue)
			}
		})
	}
}

// roundTrip is m as the API server stores it.
func roundTrip(t *testing.T, m *v1alpha1.ModelDeployment) *v1alpha1.ModelDeployment {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := &v1alpha1.ModelDeployment{}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}
