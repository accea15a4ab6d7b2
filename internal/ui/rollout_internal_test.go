package ui

import (
	"testing"

	"github.com/marina-dev/marina/api/v1alpha1"
)

func TestStepSaysWhatTheCurrentStepDoes(t *testing.T) {
	t.Parallel()
	steps := []v1alpha1.CanaryStep{{SetWeight: new(int32(25))}, {Pause: &v1alpha1.PauseStep{Duration: "5m"}}, {Pause: &v1alpha1.PauseStep{}}, {Analysis: &v1alpha1.AnalysisStep{Template: "error-rate"}}}
	canary := &v1alpha1.Strategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps}}
	shadow := &v1alpha1.Strategy{Shadow: &v1alpha1.ShadowStrategy{Percent: 10, Steps: steps[:1]}}
	for _, tc := range []struct {
		strategy *v1alpha1.Strategy
		index    *int32
		want     string
	}{
		{canary, nil, "no step in progress"},
		{canary, new(int32(0)), "step 0 (1 of 4): set the new version's weight to 25%"},
		{canary, new(int32(1)), "step 1 (2 of 4): pause for 5m"},
		{canary, new(int32(2)), "step 2 (3 of 4): pause until resumed"},
		{canary, new(int32(3)), "step 3 (4 of 4): run analysis error-rate"},
		{canary, new(int32(4)), "step 4: all steps done, the new version goes to full size"},
		{shadow, new(int32(0)), "step 0: bringing the new version up"},
		{shadow, new(int32(1)), "step 1: mirroring 10% of requests to the new version and judging its answers"},
		{shadow, new(int32(2)), "step 2 (1 of 1): set the new version's weight to 25%"},
		{shadow, new(int32(3)), "step 3: all steps done, the new version goes to full size"},
		{&v1alpha1.Strategy{BlueGreen: &v1alpha1.BlueGreenStrategy{}}, new(int32(1)), "step 1"},
		{nil, new(int32(0)), "step 0"},
	} {
		md := &v1alpha1.ModelDeployment{Spec: v1alpha1.ModelDeploymentSpec{Strategy: tc.strategy}, Status: v1alpha1.ModelDeploymentStatus{CurrentStepIndex: tc.index}}
		if got := step(md); got != tc.want {
			t.Errorf("step %v of %+v: %q, want %q", tc.index, tc.strategy, got, tc.want)
		}
	}
}
