package v1alpha1

// Condition types of a ModelDeployment. Ready and the observedGeneration make it kstatus-compatible, so Argo CD and
// Flux show its health without a custom check.
const (
	// ReadyCondition is True when the desired version serves all the traffic it should and the rollout is done.
	ReadyCondition = "Ready"
	// ProgressingCondition is True while a rollout moves through its steps (including paused ones).
	ProgressingCondition = "Progressing"
	// DegradedCondition is True when a rollout was aborted or missed its progress deadline.
	DegradedCondition = "Degraded"
)
