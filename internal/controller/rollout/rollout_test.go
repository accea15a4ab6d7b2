package rollout_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/controller/rollout"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func md(version string, replicas int32, s *v1alpha1.Strategy) *v1alpha1.ModelDeployment {
	return &v1alpha1.ModelDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "iris", Namespace: "models", Generation: 1},
		Spec:       v1alpha1.ModelDeploymentSpec{Model: "iris", Version: version, Replicas: new(replicas), Strategy: s},
	}
}

func canary(steps ...v1alpha1.CanaryStep) *v1alpha1.Strategy {
	return &v1alpha1.Strategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps}}
}

func weight(w int32) v1alpha1.CanaryStep { return v1alpha1.CanaryStep{SetWeight: new(w)} }
func pause(d string) v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{Pause: &v1alpha1.PauseStep{Duration: v1alpha1.DurationString(d)}}
}
func analysis(t string) v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{Analysis: &v1alpha1.AnalysisStep{Template: t}}
}

// cluster simulates what the reconciler and the cluster do with decisions: Deployments get the decided replicas,
// whose pods (unless held back) are ready by the next reconcile; a ResourceQuota caps GPUs.
type cluster struct {
	t         *testing.T
	md        *v1alpha1.ModelDeployment
	now       time.Time
	workloads map[string]rollout.Workload
	notReady  map[string]bool // versions whose pods never become ready
	gpuPerPod int64
	gpuQuota  int64 // 0: no quota
	analysis  v1alpha1.AnalysisPhase
	resume    bool
	last      rollout.Decision
	writeBack int
	steps     []int32 // the step indices the status went through, in order
}

func newCluster(t *testing.T, m *v1alpha1.ModelDeployment) *cluster {
	return &cluster{t: t, md: m, now: t0, workloads: map[string]rollout.Workload{}, notReady: map[string]bool{}}
}

func (c *cluster) observe() rollout.Observed {
	o := rollout.Observed{Now: c.now, Workloads: map[string]rollout.Workload{}, Analysis: c.analysis, Resume: c.resume}
	for v, w := range c.workloads {
		if !c.notReady[v] {
			w.Ready = w.Replicas
		}
		o.Workloads[v] = w
	}
	if c.gpuPerPod > 0 {
		o.GPU = rollout.GPU{PerPod: c.gpuPerPod, Limited: c.gpuQuota > 0}
		var used int64
		for _, w := range c.workloads {
			used += int64(w.Replicas) * c.gpuPerPod
		}
		o.GPU.Free = c.gpuQuota - used
	}
	return o
}

// reconcile decides and applies the decision, round-tripping the status through JSON as the API server does.
func (c *cluster) reconcile() rollout.Decision {
	c.t.Helper()
	d := rollout.Decide(c.md, c.observe())
	b, err := json.Marshal(d.Status)
	if err != nil {
		c.t.Fatal(err)
	}
	c.md.Status = v1alpha1.ModelDeploymentStatus{}
	if err := json.Unmarshal(b, &c.md.Status); err != nil {
		c.t.Fatal(err)
	}
	next := map[string]rollout.Workload{}
	var used int64
	for v, n := range d.Replicas {
		next[v] = rollout.Workload{Replicas: n, Ready: min(n, c.workloads[v].Ready)}
		used += int64(n) * c.gpuPerPod
	}
	if c.gpuQuota > 0 && used > c.gpuQuota {
		c.t.Fatalf("decision needs %d GPUs, the quota allows %d: %v", used, c.gpuQuota, d.Replicas)
	}
	c.workloads = next
	if d.ConsumeResume {
		c.resume = false
	}
	if d.WriteBack {
		c.writeBack++
	}
	if i := c.md.Status.CurrentStepIndex; i != nil && (len(c.steps) == 0 || c.steps[len(c.steps)-1] != *i) {
		c.steps = append(c.steps, *i)
	}
	c.last = d
	return d
}

func cond(m *v1alpha1.ModelDeployment, t string) metav1.Condition {
	if c := meta.FindStatusCondition(m.Status.Conditions, t); c != nil {
		return *c
	}
	return metav1.Condition{}
}

func TestFirstVersionIsStableAtOnce(t *testing.T) {
	c := newCluster(t, md("1.0.0", 3, canary(weight(50))))
	c.notReady["1.0.0"] = true
	d := c.reconcile()
	if d.Replicas["1.0.0"] != 3 || len(d.Replicas) != 1 || c.md.Status.StableVersion != "1.0.0" || cond(c.md, v1alpha1.ReadyCondition).Status != metav1.ConditionFalse {
		t.Fatalf("first reconcile: %+v, status %+v", d.Replicas, c.md.Status)
	}
	delete(c.notReady, "1.0.0")
	c.reconcile()
	if cond(c.md, v1alpha1.ReadyCondition).Status != metav1.ConditionTrue || cond(c.md, v1alpha1.ProgressingCondition).Status != metav1.ConditionFalse {
		t.Fatalf("not Ready once the pods are: %+v", c.md.Status.Conditions)
	}
}

// TestCanaryWalksEveryStepOnceAndResumesPausesWithTheSameRemainingTime runs a canary to promotion; the status
// goes through JSON on every reconcile, as across a controller restart.
func TestCanaryWalksEveryStepOnceAndResumesPausesWithTheSameRemainingTime(t *testing.T) {
	c := newCluster(t, md("1.0.0", 4, canary(weight(25), pause("1m"), analysis("success-rate"), weight(50), pause(""))))
	c.reconcile()
	c.md.Spec.Version = "1.1.0"

	d := c.reconcile() // step 0: one canary pod
	if c.md.Status.CanaryVersion != "1.1.0" || d.Replicas["1.1.0"] != 1 || d.Replicas["1.0.0"] != 4 || c.md.Status.Weights.Canary != 25 {
		t.Fatalf("setWeight 25: %v, status %+v", d.Replicas, c.md.Status)
	}
	d = c.reconcile()
	if *c.md.Status.CurrentStepIndex != 1 || d.RequeueAfter != time.Minute || cond(c.md, v1alpha1.ProgressingCondition).Reason != rollout.ReasonPaused {
		t.Fatalf("pause: step %d requeue %s", *c.md.Status.CurrentStepIndex, d.RequeueAfter)
	}
	c.now = c.now.Add(20 * time.Second) // a controller restarted 20 s into the pause sees 40 s left
	if d = c.reconcile(); d.RequeueAfter != 40*time.Second || *c.md.Status.CurrentStepIndex != 1 {
		t.Fatalf("after restart: requeue %s at step %d", d.RequeueAfter, *c.md.Status.CurrentStepIndex)
	}
	c.now = c.now.Add(40 * time.Second)
	if d = c.reconcile(); d.Analysis != "success-rate" || *c.md.Status.CurrentStepIndex != 2 {
		t.Fatalf("analysis step: %+v at step %d", d, *c.md.Status.CurrentStepIndex)
	}
	c.analysis = v1alpha1.AnalysisSuccessful
	c.reconcile() // → setWeight 50: two canary pods
	c.analysis = ""
	d = c.reconcile() // ready → pause without duration
	if *c.md.Status.CurrentStepIndex != 4 || d.Replicas["1.1.0"] != 2 || c.md.Status.Weights.Canary != 50 {
		t.Fatalf("setWeight 50: step %d, %v", *c.md.Status.CurrentStepIndex, d.Replicas)
	}
	c.now = c.now.Add(time.Hour)
	if c.reconcile(); *c.md.Status.CurrentStepIndex != 4 {
		t.Fatal("a pause without duration went on without a resume")
	}
	c.resume = true
	d = c.reconcile()
	if !d.ConsumeResume || d.Replicas["1.1.0"] != 4 || c.md.Status.StableVersion != "1.0.0" {
		t.Fatalf("after resume the canary takes every replica: %+v", d)
	}
	d = c.reconcile()
	if c.md.Status.StableVersion != "1.1.0" || c.md.Status.CanaryVersion != "" || len(d.Replicas) != 1 || d.Replicas["1.1.0"] != 4 ||
		cond(c.md, v1alpha1.ReadyCondition).Status != metav1.ConditionTrue {
		t.Fatalf("not promoted: %v, status %+v", d.Replicas, c.md.Status)
	}
	if got := c.steps; len(got) != 6 || got[0] != 0 || got[5] != 5 {
		t.Fatalf("steps went %v, want 0..5 once each", got)
	}
}

func TestAbort(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(c *cluster)
		wantReason string
	}{
		{"analysis fails", func(c *cluster) { c.analysis = v1alpha1.AnalysisFailed }, rollout.ReasonAborted},
		{"analysis keeps erroring", func(c *cluster) { c.analysis = v1alpha1.AnalysisError }, rollout.ReasonAborted},
		{"pods never ready", func(c *cluster) { c.notReady["1.1.0"] = true; c.now = c.now.Add(11 * time.Minute) }, rollout.ReasonDeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, md("1.0.0", 2, canary(analysis("errors"), weight(50))))
			c.reconcile()
			c.md.Spec.Version = "1.1.0"
			if tt.name == "pods never ready" {
				c.md.Spec.Strategy = canary(weight(50))
			}
			c.reconcile()
			tt.setup(c)
			d := c.reconcile()
			if !d.WriteBack || d.Replicas["1.0.0"] != 2 || d.Replicas["1.1.0"] != 0 || c.md.Status.Weights.Stable != 100 ||
				cond(c.md, v1alpha1.DegradedCondition).Reason != tt.wantReason || c.md.Status.AbortMessage == "" ||
				cond(c.md, v1alpha1.StalledCondition).Status != metav1.ConditionTrue {
				t.Fatalf("abort: %+v\nstatus %+v", d, c.md.Status)
			}
			// Later reconciles hold the abort and do not write to Git again.
			c.analysis, c.now = "", c.now.Add(time.Hour)
			delete(c.notReady, "1.1.0")
			if d = c.reconcile(); d.WriteBack || d.Replicas["1.1.0"] != 0 || c.writeBack != 1 || cond(c.md, v1alpha1.ReadyCondition).Status != metav1.ConditionFalse {
				t.Fatalf("after the abort: %+v", d)
			}
			// A new version starts a new rollout.
			c.md.Spec.Version = "1.2.0"
			if c.reconcile(); c.md.Status.CanaryVersion != "1.2.0" || c.md.Status.AbortMessage != "" || cond(c.md, v1alpha1.DegradedCondition).Status == metav1.ConditionTrue ||
				meta.FindStatusCondition(c.md.Status.Conditions, v1alpha1.StalledCondition) != nil {
				t.Fatalf("a new version after an abort: %+v", c.md.Status)
			}
		})
	}
}

// TestAnAbortIsStalledUntilSpecVersionGoesBack: an aborted rollout says Stalled (kstatus' "failed", which ends a
// GitOps engine's health check at once) until the revert sets spec.version back; then the stable version is Ready.
func TestAnAbortIsStalledUntilSpecVersionGoesBack(t *testing.T) {
	c := newCluster(t, md("1.0.0", 2, canary(analysis("errors"), weight(50))))
	c.reconcile()
	c.md.Spec.Version = "1.1.0"
	c.reconcile()
	c.analysis = v1alpha1.AnalysisFailed
	c.reconcile()
	if s := cond(c.md, v1alpha1.StalledCondition); s.Status != metav1.ConditionTrue || s.Reason != rollout.ReasonAborted {
		t.Fatalf("after the abort, Stalled = %+v", s)
	}
	c.md.Spec.Version = "1.0.0"
	c.reconcile()
	if meta.FindStatusCondition(c.md.Status.Conditions, v1alpha1.StalledCondition) != nil || cond(c.md, v1alpha1.ReadyCondition).Status != metav1.ConditionTrue {
		t.Fatalf("after the revert: %+v", c.md.Status.Conditions)
	}
}

// TestGPUModelNeverExceedsTheQuota rolls a 2-replica, 1-GPU-per-pod model out in a namespace whose quota holds
// exactly the GPUs the strategy needs at least (a shadow runs its mirror's pod beside the stable ones): the
// simulated cluster fails the test if any decision needs one more.
func TestGPUModelNeverExceedsTheQuota(t *testing.T) {
	for _, tt := range []struct {
		name  string
		s     *v1alpha1.Strategy
		quota int64
	}{
		{"canary", canary(weight(50), weight(100)), 2},
		{"rolling update", nil, 2},
		{"shadow", shadow(50, ""), 3},
		{"shadow with canary steps", shadow(50, "", weight(50), weight(100)), 3},
	} {
		c := newCluster(t, md("1.0.0", 2, tt.s))
		c.gpuPerPod, c.gpuQuota = 1, tt.quota
		c.reconcile()
		c.md.Spec.Version = "1.1.0"
		for i := 0; i < 20 && c.md.Status.StableVersion != "1.1.0"; i++ {
			c.now = c.now.Add(2 * time.Second)
			c.reconcile()
		}
		if c.md.Status.StableVersion != "1.1.0" || c.workloads["1.1.0"].Replicas != 2 || len(c.workloads) != 1 {
			t.Fatalf("%s: not promoted within the quota: %+v", tt.name, c.md.Status)
		}
	}
}

// TestEachAnalysisStepRunsItsOwnAnalysis: the analysis that passed one step is not the next step's; two analysis
// steps in a row run two analyses.
func TestEachAnalysisStepRunsItsOwnAnalysis(t *testing.T) {
	c := newCluster(t, md("1.0.0", 2, canary(analysis("error-rate"), analysis("latency"))))
	c.reconcile()
	c.md.Spec.Version = "1.1.0"
	if d := c.reconcile(); d.Analysis != "error-rate" {
		t.Fatalf("step 0: analysis %q, want error-rate", d.Analysis)
	}
	c.analysis = v1alpha1.AnalysisSuccessful
	if d := c.reconcile(); d.Analysis != "latency" || *c.md.Status.CurrentStepIndex != 1 {
		t.Fatalf("after error-rate passed: step %d runs analysis %q, want step 1 running latency", *c.md.Status.CurrentStepIndex, d.Analysis)
	}
}

func TestBlueGreen(t *testing.T) {
	c := newCluster(t, md("1.0.0", 3, &v1alpha1.Strategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ScaleDownDelay: "1m"}}))
	c.reconcile()
	c.md.Spec.Version = "2.0.0"
	c.reconcile()
	d := c.reconcile()
	if d.Replicas["2.0.0"] != 3 || d.Replicas["1.0.0"] != 3 || c.md.Status.Weights.Stable != 100 || cond(c.md, v1alpha1.ProgressingCondition).Reason != rollout.ReasonPaused {
		t.Fatalf("preview: %+v %+v", d.Replicas, c.md.Status)
	}
	c.resume = true
	d = c.reconcile()
	if c.md.Status.Weights.Canary != 100 || d.Replicas["1.0.0"] != 3 || d.RequeueAfter != time.Minute {
		t.Fatalf("switch keeps the old version for the delay: %+v %+v", d, c.md.Status.Weights)
	}
	c.now = c.now.Add(time.Minute)
	if d = c.reconcile(); c.md.Status.StableVersion != "2.0.0" || len(d.Replicas) != 1 {
		t.Fatalf("after the delay: %+v", d.Replicas)
	}
}

func TestShadowMirrorsForTheDurationThenPromotes(t *testing.T) {
	m := md("1.0.0", 3, &v1alpha1.Strategy{Shadow: &v1alpha1.ShadowStrategy{Percent: 10, Duration: "5m"}})
	m.Spec.Analysis = &v1alpha1.Analysis{Templates: []v1alpha1.AnalysisTemplate{{Name: "agreement"}}}
	c := newCluster(t, m)
	c.reconcile()
	c.md.Spec.Version = "1.1.0"
	c.reconcile()
	d := c.reconcile()
	if d.Replicas["1.1.0"] != 1 || c.md.Status.Weights.Shadow != 10 || c.md.Status.Weights.Stable != 100 || d.Analysis != "agreement" {
		t.Fatalf("shadow: %+v %+v", d, c.md.Status.Weights)
	}
	c.analysis = v1alpha1.AnalysisSuccessful
	if d = c.reconcile(); d.RequeueAfter != 5*time.Minute || c.md.Status.StableVersion != "1.0.0" {
		t.Fatalf("a passing analysis still mirrors for the duration: %+v", d)
	}
	c.now = c.now.Add(5 * time.Minute)
	c.reconcile()
	c.reconcile()
	if c.md.Status.StableVersion != "1.1.0" || c.workloads["1.1.0"].Replicas != 3 {
		t.Fatalf("not promoted after the duration: %+v", c.md.Status)
	}
	c.md.Spec.Version = "1.2.0"
	c.analysis = ""
	c.reconcile()
	c.reconcile()
	c.analysis = v1alpha1.AnalysisFailed
	c.reconcile()
	if !strings.Contains(c.md.Status.AbortMessage, "agreement failed") || c.workloads["1.2.0"].Replicas != 0 {
		t.Fatalf("a failing shadow analysis aborts: %+v", c.md.Status)
	}
}
