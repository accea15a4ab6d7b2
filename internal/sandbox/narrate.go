package sandbox

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/controller"
	"github.com/marina-dev/marina/internal/controller/rollout"
)

// narrator tells what happens to a rollout of one version, from successive ModelDeployment statuses: each call
// of tell returns the lines for what is new since the last one.
type narrator struct {
	version string
	shadow  bool
	aborted bool
	// measured is what was told of each analysis metric, by run and metric name.
	measured map[string]v1alpha1.AnalysisMetricStatus
}

func newNarrator(version string) *narrator {
	return &narrator{version: version, measured: map[string]v1alpha1.AnalysisMetricStatus{}}
}

// tell returns the lines for what md's status shows that was not told yet: the version's shadow coming up, each
// analysis measurement (its outcome and message, which holds the measured value), the abort and its reason.
func (n *narrator) tell(md *v1alpha1.ModelDeployment) []string {
	st := md.Status
	if st.CanaryVersion != n.version {
		return nil
	}
	var lines []string
	if !n.shadow && st.Weights != nil && st.Weights.Shadow > 0 {
		n.shadow = true
		lines = append(lines, fmt.Sprintf("shadow up: %s answers every request; marina router mirrors %d%% of them to %s and compares the answers",
			st.StableVersion, st.Weights.Shadow, n.version))
	}
	for _, run := range st.AnalysisRuns {
		for _, m := range run.Metrics {
			key := run.Name + "/" + m.Name
			was := n.measured[key]
			if count(m) <= count(was) {
				continue
			}
			n.measured[key] = m
			about := m.Message // "measurement N of M: result [value]: …"
			if about == "" {
				about = fmt.Sprintf("measurement %d", count(m))
			}
			lines = append(lines, fmt.Sprintf("analysis %s, %s: %s", m.Name, outcome(was, m), about))
		}
	}
	if !n.aborted && st.AbortMessage != "" {
		n.aborted = true
		lines = append(lines, fmt.Sprintf("aborted: %s; %s serves all traffic again", st.AbortMessage, st.StableVersion))
	}
	return lines
}

// count is how many measurements a metric has taken.
func count(m v1alpha1.AnalysisMetricStatus) int32 {
	return m.Successful + m.Failed + m.Inconclusive + m.Error
}

// outcome names the counters that grew from was to m: the outcome of the measurements taken in between.
func outcome(was, m v1alpha1.AnalysisMetricStatus) string {
	var grew []string
	for _, c := range []struct {
		name     string
		was, now int32
	}{
		{"successful", was.Successful, m.Successful}, {"failed", was.Failed, m.Failed},
		{"inconclusive", was.Inconclusive, m.Inconclusive}, {"error", was.Error, m.Error},
	} {
		if c.now > c.was {
			grew = append(grew, c.name)
		}
	}
	return strings.Join(grew, ", ")
}

// promoted reports whether version is the stable one, alone and Ready.
func promoted(md *v1alpha1.ModelDeployment, version string) bool {
	return md.Spec.Version == version && md.Status.StableVersion == version && md.Status.CanaryVersion == "" &&
		meta.IsStatusConditionTrue(md.Status.Conditions, v1alpha1.ReadyCondition)
}

// pausedOn returns an error when the rollout of version paused on an inconclusive analysis: it waits for a person
// (marina promote --resume, or a rollback), which the demo is not.
func pausedOn(md *v1alpha1.ModelDeployment, version string) error {
	c := meta.FindStatusCondition(md.Status.Conditions, v1alpha1.ProgressingCondition)
	if md.Status.CanaryVersion != version || c == nil || c.Reason != rollout.ReasonInconclusive {
		return nil
	}
	return fmt.Errorf("the rollout of %s paused for a person to decide: %s", version, c.Message)
}

// writtenBack returns the commit marina controller reports in its write-back condition, when the condition says
// the revert is written and its message differs from before (the condition of an earlier abort stays).
func writtenBack(md *v1alpha1.ModelDeployment, before string) (string, bool) {
	c := writeBackCondition(md)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != "Written" || c.Message == before {
		return "", false
	}
	f := strings.Fields(c.Message)
	return f[len(f)-1], true
}

// writeBackCondition is the condition in which marina controller reports the revert it wrote to Git, or nil.
func writeBackCondition(md *v1alpha1.ModelDeployment) *metav1.Condition {
	return meta.FindStatusCondition(md.Status.Conditions, controller.WriteBackCondition)
}

// readyMessage is the Ready condition's message.
func readyMessage(md *v1alpha1.ModelDeployment) string {
	if c := meta.FindStatusCondition(md.Status.Conditions, v1alpha1.ReadyCondition); c != nil {
		return c.Message
	}
	return "no Ready condition"
}

// summary is a ModelDeployment's status in one line, for what a timed-out step last saw.
func summary(md *v1alpha1.ModelDeployment) string {
	st := md.Status
	s := fmt.Sprintf("spec.version %s, stable %q, canary %q", md.Spec.Version, st.StableVersion, st.CanaryVersion)
	if w := st.Weights; w != nil {
		s += fmt.Sprintf(", weights stable %d canary %d shadow %d", w.Stable, w.Canary, w.Shadow)
	}
	for _, c := range st.Conditions {
		s += fmt.Sprintf(", %s=%s (%s: %s)", c.Type, c.Status, c.Reason, c.Message)
	}
	for _, r := range st.AnalysisRuns {
		s += fmt.Sprintf(", analysis %s %s: %s", r.Name, r.Phase, r.Message)
	}
	if st.AbortMessage != "" {
		s += ", aborted: " + st.AbortMessage
	}
	return s
}
