package rollout

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
)

// Condition reasons the decisions set.
const (
	ReasonStable           = "Stable"
	ReasonAvailable        = "Available"
	ReasonUnavailable      = "Unavailable"
	ReasonProgressing      = "RollingOut"
	ReasonPaused           = "Paused"
	ReasonAnalysis         = "Analyzing"
	ReasonInconclusive     = "AnalysisInconclusive"
	ReasonAnalysisError    = "AnalysisError"
	ReasonAborted          = "Aborted"
	ReasonDeadlineExceeded = "ProgressDeadlineExceeded"
	ReasonPromoted         = "Promoted"
)

// DefaultProgressDeadline is how long a step may wait for its pods when neither the spec nor the model size says
// otherwise.
const DefaultProgressDeadline = 10 * time.Minute

// Workload is what the cluster runs for one version.
type Workload struct {
	// Replicas is the Deployment's spec.replicas; Ready its ready replicas.
	Replicas, Ready int32
	// Refused is how many of Replicas have no pod because creating one failed (FailedCreate, e.g. refused by a
	// ResourceQuota): they hold no quota.
	Refused int32
}

// GPU is the namespace's GPU budget for a model that requests GPUs.
type GPU struct {
	// PerPod is the GPUs one pod requests; 0 for a CPU model.
	PerPod int64
	// Limited is set when a ResourceQuota caps GPUs in the namespace; Free is what it still allows.
	Limited bool
	Free    int64
}

// Observed is the world a decision is made in.
type Observed struct {
	Now time.Time
	// Workloads are the versions that have a Deployment.
	Workloads map[string]Workload
	// Analysis is the phase of the analysis the current step runs ("" before its first measurement).
	Analysis v1alpha1.AnalysisPhase
	// AnalysisMessage explains a failed or erroring analysis.
	AnalysisMessage string
	// AnalysisErroring is set while the analysis is running but its last measurement could not be taken
	// (Prometheus down, a query error): the rollout waits and never goes on.
	AnalysisErroring bool
	// Resume is set when a user asked a paused rollout to go on (marina promote --resume, or the annotation).
	Resume bool
	GPU    GPU
}

// Event is a Kubernetes Event the reconciler records.
type Event struct {
	Warning         bool
	Reason, Message string
}

// Decision is what the reconciler does.
type Decision struct {
	Status v1alpha1.ModelDeploymentStatus
	// Replicas has every version that must have a Deployment, with its replicas; the others are deleted.
	Replicas map[string]int32
	// Analysis is the template to measure now; "" for none.
	Analysis string
	// ConsumeResume asks the reconciler to clear the resume request it acted on.
	ConsumeResume bool
	// WriteBack is set on the reconcile that aborts: the revert must be written to Git.
	WriteBack bool
	// RequeueAfter is when to look again even if nothing changes (a pause ending); 0 for no timer.
	RequeueAfter time.Duration
	Events       []Event
}

// Decide computes the next step of md's rollout.
func Decide(md *v1alpha1.ModelDeployment, o Observed) Decision {
	d := &decider{md: md, o: o, st: *md.Status.DeepCopy(), replicas: map[string]int32{}}
	d.st.ObservedGeneration = md.Generation
	d.st.Strategy = strategyType(md.Spec.Strategy)
	d.decide()
	return Decision{
		Status: d.st, Replicas: d.replicas, Analysis: d.analysis, ConsumeResume: d.consumeResume,
		WriteBack: d.writeBack, RequeueAfter: d.requeue, Events: d.events,
	}
}

type decider struct {
	md       *v1alpha1.ModelDeployment
	o        Observed
	st       v1alpha1.ModelDeploymentStatus
	replicas map[string]int32

	analysis      string
	consumeResume bool
	writeBack     bool
	requeue       time.Duration
	events        []Event
}

func strategyType(s *v1alpha1.Strategy) v1alpha1.StrategyType {
	switch {
	case s == nil:
		return v1alpha1.StrategyRollingUpdate
	case s.Canary != nil:
		return v1alpha1.StrategyCanary
	case s.BlueGreen != nil:
		return v1alpha1.StrategyBlueGreen
	case s.Shadow != nil:
		return v1alpha1.StrategyShadow
	}
	return v1alpha1.StrategyRollingUpdate
}

// total is the number of replicas the model runs with: spec.replicas, the autoscaler's minimum, or 1.
func (d *decider) total() int32 {
	s := d.md.Spec
	switch {
	case s.Replicas != nil:
		return *s.Replicas
	case s.Scaling != nil && s.Scaling.HPA != nil:
		return s.Scaling.HPA.Min
	case s.Scaling != nil && s.Scaling.KEDA != nil && s.Scaling.KEDA.Min > 0:
		return s.Scaling.KEDA.Min
	}
	return 1
}

func (d *decider) decide() {
	want := d.md.Spec.Version
	if d.st.StableVersion == "" {
		d.st.StableVersion = want // the first version is stable from the start: there is nothing to protect
	}
	if want == d.st.StableVersion {
		if d.st.CanaryVersion != "" && !d.aborted() {
			d.event(false, "RolloutAbandoned", fmt.Sprintf("spec.version is back at %s: the rollout of %s stops", want, d.st.CanaryVersion))
		}
		d.steady()
		return
	}
	if d.st.CanaryVersion != want {
		d.start(want)
	}
	if d.aborted() {
		d.holdAborted()
		return
	}
	switch d.st.Strategy {
	case v1alpha1.StrategyCanary:
		d.canary(d.md.Spec.Strategy.Canary.Steps, 0)
	case v1alpha1.StrategyBlueGreen:
		d.blueGreen(d.md.Spec.Strategy.BlueGreen)
	case v1alpha1.StrategyShadow:
		d.shadow(d.md.Spec.Strategy.Shadow)
	default:
		d.canary(nil, 0) // a rolling update is a canary without steps
	}
}

// steady runs the stable version alone.
func (d *decider) steady() {
	stable := d.st.StableVersion
	d.replicas[stable] = d.total()
	d.st.CanaryVersion, d.st.CurrentStepIndex, d.st.StepStartTime, d.st.AbortMessage = "", nil, nil, ""
	d.st.AnalysisRuns = nil
	d.st.Weights = &v1alpha1.TrafficWeights{Stable: 100}
	ready := d.o.Workloads[stable].Ready >= d.total()
	d.setProgressing(metav1.ConditionFalse, ReasonStable, fmt.Sprintf("version %s is stable", stable))
	d.setCondition(v1alpha1.DegradedCondition, metav1.ConditionFalse, ReasonStable, "")
	meta.RemoveStatusCondition(&d.st.Conditions, v1alpha1.StalledCondition)
	if ready {
		d.setCondition(v1alpha1.ReadyCondition, metav1.ConditionTrue, ReasonAvailable, fmt.Sprintf("version %s: %d/%d replicas ready", stable, d.o.Workloads[stable].Ready, d.total()))
	} else {
		d.setCondition(v1alpha1.ReadyCondition, metav1.ConditionFalse, ReasonUnavailable, fmt.Sprintf("version %s: %d/%d replicas ready", stable, d.o.Workloads[stable].Ready, d.total()))
	}
}

// start begins a rollout of version v, replacing any unfinished one.
func (d *decider) start(v string) {
	if d.st.CanaryVersion != "" {
		d.event(false, "RolloutReplaced", fmt.Sprintf("rollout of %s replaced by %s", d.st.CanaryVersion, v))
	}
	zero := int32(0)
	now := metav1.NewTime(d.o.Now)
	d.st.CanaryVersion, d.st.CurrentStepIndex, d.st.StepStartTime = v, &zero, &now
	d.st.AbortMessage, d.st.AnalysisRuns = "", nil
	d.st.Weights = &v1alpha1.TrafficWeights{Stable: 100}
	meta.RemoveStatusCondition(&d.st.Conditions, v1alpha1.DegradedCondition)
	meta.RemoveStatusCondition(&d.st.Conditions, v1alpha1.StalledCondition)
	d.event(false, "RolloutStarted", fmt.Sprintf("rolling out %s over %s (%s)", v, d.st.StableVersion, d.st.Strategy))
}

func (d *decider) aborted() bool {
	c := meta.FindStatusCondition(d.st.Conditions, v1alpha1.DegradedCondition)
	return d.st.AbortMessage != "" && c != nil && c.Status == metav1.ConditionTrue
}

// abort routes everything to stable and removes the canary's pods.
func (d *decider) abort(reason, msg string) {
	d.st.AbortMessage = msg
	d.setCondition(v1alpha1.DegradedCondition, metav1.ConditionTrue, reason, msg)
	d.writeBack = true
	d.event(true, reason, fmt.Sprintf("rollout of %s aborted: %s", d.st.CanaryVersion, msg))
	d.holdAborted()
}

// holdAborted keeps an aborted rollout on stable until spec.version changes.
func (d *decider) holdAborted() {
	d.replicas = map[string]int32{d.st.StableVersion: d.total(), d.st.CanaryVersion: 0}
	d.st.Weights = &v1alpha1.TrafficWeights{Stable: 100}
	d.analysis = ""
	c := meta.FindStatusCondition(d.st.Conditions, v1alpha1.DegradedCondition)
	d.setProgressing(metav1.ConditionFalse, c.Reason, d.st.AbortMessage)
	d.setCondition(v1alpha1.StalledCondition, metav1.ConditionTrue, c.Reason,
		fmt.Sprintf("rollout of %s aborted: set spec.version to another version (marina rollback, or the controller's write-back)", d.st.CanaryVersion))
	d.setCondition(v1alpha1.ReadyCondition, metav1.ConditionFalse, c.Reason,
		fmt.Sprintf("rollout of %s aborted, %s serves: %s", d.st.CanaryVersion, d.st.StableVersion, d.st.AbortMessage))
}

// promote makes the canary stable; the old stable version's Deployment goes.
func (d *decider) promote() {
	v := d.st.CanaryVersion
	d.event(false, ReasonPromoted, fmt.Sprintf("%s is stable (was %s)", v, d.st.StableVersion))
	d.st.StableVersion = v
	d.replicas = map[string]int32{}
	d.steady()
}

func (d *decider) event(warning bool, reason, msg string) {
	d.events = append(d.events, Event{Warning: warning, Reason: reason, Message: msg})
}

func (d *decider) setCondition(t string, s metav1.ConditionStatus, reason, msg string) {
	if reason == "" {
		reason = t
	}
	meta.SetStatusCondition(&d.st.Conditions, metav1.Condition{
		Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: d.md.Generation,
		LastTransitionTime: metav1.NewTime(d.o.Now),
	})
}

func (d *decider) setProgressing(s metav1.ConditionStatus, reason, msg string) {
	d.setCondition(v1alpha1.ProgressingCondition, s, reason, msg)
}

// rolling marks the rollout in progress and not Ready.
func (d *decider) rolling(reason, msg string) {
	d.setProgressing(metav1.ConditionTrue, reason, msg)
	d.setCondition(v1alpha1.ReadyCondition, metav1.ConditionFalse, reason, msg)
}

// advance moves to the next step now. The analysis observed was the run of the step it leaves, and a resume it
// consumed is spent: neither may also pass the next step (two analysis steps in a row, or a shadow's analysis and
// an analysis step right after it).
func (d *decider) advance() {
	i := *d.st.CurrentStepIndex + 1
	now := metav1.NewTime(d.o.Now)
	d.st.CurrentStepIndex, d.st.StepStartTime = &i, &now
	d.o.Analysis, d.o.AnalysisMessage, d.o.AnalysisErroring = "", "", false
	if d.consumeResume {
		d.o.Resume = false
	}
}

// elapsed is the time spent in the current step.
func (d *decider) elapsed() time.Duration {
	if d.st.StepStartTime == nil {
		return 0
	}
	return d.o.Now.Sub(d.st.StepStartTime.Time)
}

// deadline is how long a step may wait for pods: spec.progressDeadlineSeconds, else DefaultProgressDeadline plus
// a minute per GiB of model (large models take long to pull and load).
func (d *decider) deadline() time.Duration {
	if s := d.md.Spec.ProgressDeadlineSeconds; s != nil {
		return time.Duration(*s) * time.Second
	}
	return DefaultProgressDeadline + time.Duration(d.md.Spec.Artifact.Size>>30)*time.Minute
}

// waitReady reports whether version v has ready replicas, aborting when the deadline passes.
func (d *decider) waitReady(v string, want int32) bool {
	if d.o.Workloads[v].Ready >= want {
		return true
	}
	if d.overdue(v, want) {
		return false
	}
	d.rolling(ReasonProgressing, fmt.Sprintf("waiting for %s: %d/%d replicas ready", v, d.o.Workloads[v].Ready, want))
	d.requeueIn(10 * time.Second)
	return false
}

// overdue aborts the rollout when the current step has waited longer than the progress deadline for v's pods.
func (d *decider) overdue(v string, want int32) bool {
	if d.elapsed() <= d.deadline() {
		return false
	}
	d.abort(ReasonDeadlineExceeded, fmt.Sprintf("%s has %d/%d replicas ready after %s (deadline %s)",
		v, d.o.Workloads[v].Ready, want, d.elapsed().Round(time.Second), d.deadline()))
	return true
}

func (d *decider) requeueIn(t time.Duration) {
	if t <= 0 {
		t = time.Second
	}
	if d.requeue == 0 || t < d.requeue {
		d.requeue = t
	}
}

// ceilPercent is the replicas that carry w percent of total, at least one when w > 0.
func ceilPercent(total, w int32) int32 {
	if w <= 0 {
		return 0
	}
	n := (total*w + 99) / 100
	return max(n, 1)
}
