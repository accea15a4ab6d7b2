package sandbox

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/controller"
	"github.com/marina-dev/marina/internal/controller/rollout"
)

// md is a ModelDeployment rolling out canary over stable with the given status changes applied.
func md(stable, canary string, change func(*v1alpha1.ModelDeploymentStatus)) *v1alpha1.ModelDeployment {
	m := &v1alpha1.ModelDeployment{Spec: v1alpha1.ModelDeploymentSpec{Version: canary},
		Status: v1alpha1.ModelDeploymentStatus{StableVersion: stable, CanaryVersion: canary}}
	if change != nil {
		change(&m.Status)
	}
	return m
}

func agreement(counts v1alpha1.AnalysisMetricStatus) func(*v1alpha1.ModelDeploymentStatus) {
	return func(st *v1alpha1.ModelDeploymentStatus) {
		st.Weights = &v1alpha1.TrafficWeights{Stable: 100, Shadow: 100}
		counts.Name = "shadow-agreement"
		st.AnalysisRuns = []v1alpha1.AnalysisRunStatus{{Name: "shadow", Metrics: []v1alpha1.AnalysisMetricStatus{counts}}}
	}
}

func TestNarratorTellsEachStepOfARolloutOnce(t *testing.T) {
	t.Parallel()
	n := newNarrator("1.2.0")
	steps := []struct {
		md   *v1alpha1.ModelDeployment
		want []string
	}{
		{md("1.1.0", "", nil), nil}, // not rolling out 1.2.0 yet
		{md("1.1.0", "1.2.0", func(st *v1alpha1.ModelDeploymentStatus) { st.Weights = &v1alpha1.TrafficWeights{Stable: 100} }), nil},
		{md("1.1.0", "1.2.0", agreement(v1alpha1.AnalysisMetricStatus{Inconclusive: 1, Message: "12 samples, fewer than 30"})), []string{
			"shadow up: 1.1.0 answers every request; marina router mirrors 100% of them to 1.2.0 and compares the answers",
			"analysis shadow-agreement, inconclusive: 12 samples, fewer than 30"}},
		{md("1.1.0", "1.2.0", agreement(v1alpha1.AnalysisMetricStatus{Inconclusive: 1, Message: "12 samples, fewer than 30"})), nil},
		{md("1.1.0", "1.2.0", agreement(v1alpha1.AnalysisMetricStatus{Inconclusive: 1, Failed: 1})), []string{
			"analysis shadow-agreement, failed: measurement 2"}},
		{md("1.1.0", "1.2.0", func(st *v1alpha1.ModelDeploymentStatus) {
			agreement(v1alpha1.AnalysisMetricStatus{Inconclusive: 1, Failed: 1, Message: "0.55 < 0.9"})(st)
			st.AbortMessage = "analysis shadow-agreement failed: 0.55"
		}), []string{"aborted: analysis shadow-agreement failed: 0.55; 1.1.0 serves all traffic again"}},
		{md("1.1.0", "1.2.0", func(st *v1alpha1.ModelDeploymentStatus) { st.AbortMessage = "analysis shadow-agreement failed: 0.55" }), nil},
	}
	for i, s := range steps {
		if got := n.tell(s.md); !reflect.DeepEqual(got, s.want) {
			t.Errorf("step %d: told %q, want %q", i, got, s.want)
		}
	}
}

func TestWrittenBackIsANewRevertOnly(t *testing.T) {
	t.Parallel()
	written := func(msg string) *v1alpha1.ModelDeployment {
		return md("1.1.0", "1.2.0", func(st *v1alpha1.ModelDeploymentStatus) {
			st.Conditions = []metav1.Condition{{Type: controller.WriteBackCondition, Status: metav1.ConditionTrue, Reason: "Written", Message: msg}}
		})
	}
	for _, tc := range []struct {
		name   string
		md     *v1alpha1.ModelDeployment
		before string
		want   string
	}{
		{"a revert written", written("revert committed as 0123abcd"), "", "0123abcd"},
		{"the revert of an earlier abort", written("revert committed as 0123abcd"), "revert committed as 0123abcd", ""},
		{"no condition", md("1.1.0", "1.2.0", nil), "", ""},
		{"pending", md("1.1.0", "1.2.0", func(st *v1alpha1.ModelDeploymentStatus) {
			st.Conditions = []metav1.Condition{{Type: controller.WriteBackCondition, Status: metav1.ConditionFalse, Reason: "Pending", Message: "the revert is not in Git yet"}}
		}), "", ""},
	} {
		got, ok := writtenBack(tc.md, tc.before)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, ok, tc.want)
		}
	}
}

func TestNextVersionsFollowTheLatestRegisteredOne(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		list, good, bad, err string
	}{
		{list: `[{"version":"1.0.0","state":"active"}]`, good: "1.1.0", bad: "1.2.0"},
		// A second demo: 1.2.0 is blocked but registered.
		{list: `[{"version":"1.0.0"},{"version":"1.2.0","state":"blocked"},{"version":"1.1.0"}]`, good: "1.3.0", bad: "1.4.0"},
		{list: `[{"version":"2.0.0-rc.1"},{"version":"1.9.3"}]`, good: "2.1.0", bad: "2.2.0"},
		{list: `[]`, err: "no registered version"},
		{list: `[{"version":"v1"}]`, err: `version "v1"`},
		{list: `{`, err: "marina model list -o json"},
	} {
		good, bad, err := nextVersions([]byte(tc.list))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.list, err, tc.err)
			}
			continue
		}
		if err != nil || good != tc.good || bad != tc.bad {
			t.Errorf("%s: %q, %q, %v; want %q, %q", tc.list, good, bad, err, tc.good, tc.bad)
		}
	}
}

func TestPausedOnIsAnInconclusivePauseOfThatVersion(t *testing.T) {
	t.Parallel()
	progressing := func(reason string) func(*v1alpha1.ModelDeploymentStatus) {
		return func(st *v1alpha1.ModelDeploymentStatus) {
			st.Conditions = []metav1.Condition{{Type: v1alpha1.ProgressingCondition, Status: metav1.ConditionTrue, Reason: reason,
				Message: "shadow: analysis shadow is inconclusive: result [NaN]; resume to go on, or roll back"}}
		}
	}
	for _, tc := range []struct {
		name string
		md   *v1alpha1.ModelDeployment
		want string
	}{
		{"paused on an inconclusive analysis", md("1.1.0", "1.2.0", progressing(rollout.ReasonInconclusive)),
			"the rollout of 1.2.0 paused for a person to decide: shadow: analysis shadow is inconclusive: result [NaN]; resume to go on, or roll back"},
		{"analysing", md("1.1.0", "1.2.0", progressing(rollout.ReasonAnalysis)), ""},
		{"another version paused", md("1.0.0", "1.1.0", progressing(rollout.ReasonInconclusive)), ""},
		{"no condition", md("1.1.0", "1.2.0", nil), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := pausedOn(tc.md, "1.2.0")
			if got := fmt.Sprint(err); (err == nil) != (tc.want == "") || err != nil && got != tc.want {
				t.Errorf("pausedOn: %v, want %q", err, tc.want)
			}
		})
	}
}
