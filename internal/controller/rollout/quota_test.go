package rollout_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/controller/rollout"
)

// halfwayGPUCanary is a canary of 1.1.0 over 1.0.0 (2 replicas, one step: 50%) at step, with half the traffic on
// each version since t0.
func halfwayGPUCanary(step int32) *v1alpha1.ModelDeployment {
	m := md("1.1.0", 2, canary(weight(50)))
	start := metav1.NewTime(t0)
	m.Status = v1alpha1.ModelDeploymentStatus{
		StableVersion: "1.0.0", CanaryVersion: "1.1.0", CurrentStepIndex: &step, StepStartTime: &start,
		Weights: &v1alpha1.TrafficWeights{Stable: 50, Canary: 50}, Strategy: v1alpha1.StrategyCanary,
	}
	return m
}

// TestGPUCanaryWhosePodWasRefusedMakesRoomByScalingStableDown: a canary replica the quota refused (another pod
// took the free GPU first) holds no GPU; stable gives one up so the canary's pod can be created, instead of both
// waiting for each other until the progress deadline aborts the rollout.
func TestGPUCanaryWhosePodWasRefusedMakesRoomByScalingStableDown(t *testing.T) {
	m := halfwayGPUCanary(0)
	o := rollout.Observed{Now: t0.Add(5 * time.Second), Workloads: map[string]rollout.Workload{
		"1.0.0": {Replicas: 2, Ready: 2},
		"1.1.0": {Replicas: 1, Refused: 1},
	}, GPU: rollout.GPU{PerPod: 1, Limited: true, Free: 0}}
	d := rollout.Decide(m, o)
	if d.Replicas["1.0.0"] != 1 || d.Replicas["1.1.0"] != 1 || d.RequeueAfter == 0 {
		t.Fatalf("replicas %v, requeue %s: want stable 1 and canary 1, looking again soon", d.Replicas, d.RequeueAfter)
	}
	// Without the refusal the canary's replica holds its GPU: stable keeps both of its own.
	o.Workloads["1.1.0"] = rollout.Workload{Replicas: 1}
	if d := rollout.Decide(m, o); d.Replicas["1.0.0"] != 2 || d.Replicas["1.1.0"] != 1 {
		t.Fatalf("replicas %v with the canary's pod created: want stable 2 and canary 1", d.Replicas)
	}
}

// TestGPUCanaryHeldBackAfterItsLastStepLooksAgain: growing the canary to full size waits for stable's pods to free
// their GPUs, which the controller does not watch; it must come back by itself rather than wait for an unrelated
// event.
func TestGPUCanaryHeldBackAfterItsLastStepLooksAgain(t *testing.T) {
	m := halfwayGPUCanary(1)
	d := rollout.Decide(m, rollout.Observed{Now: t0.Add(time.Second), Workloads: map[string]rollout.Workload{
		"1.0.0": {Replicas: 1, Ready: 1},
		"1.1.0": {Replicas: 1, Ready: 1},
	}, GPU: rollout.GPU{PerPod: 1, Limited: true, Free: 0}})
	if d.Replicas["1.0.0"] != 0 || d.Replicas["1.1.0"] != 1 || d.RequeueAfter == 0 || d.RequeueAfter > 10*time.Second {
		t.Fatalf("replicas %v, requeue %s: want stable 0, canary 1 until stable's GPU is free, and a requeue", d.Replicas, d.RequeueAfter)
	}
}
