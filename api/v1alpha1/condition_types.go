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
	// StalledCondition is kstatus' abnormal-true condition, True while an aborted rollout waits for spec.version to
	// change: without it a GitOps engine's health check (Flux's wait, kstatus) reads Ready=False as still in
	// progress and holds back the next revision — the revert — until its timeout.
	StalledCondition = "Stalled"
)

// Reasons of a Ready=False condition the controller sets when a reconcile fails before the rollout could move; the
// message carries the API server's answer. Status is patched with them on every failed reconcile, so Ready always
// says why and observedGeneration stays current.
const (
	// ObserveFailedReason: reading what the cluster runs for the model (Deployments, ResourceQuotas) failed.
	ObserveFailedReason = "ObserveFailed"
	// ApplyFailedReason: the API server refused a Deployment, Service or HTTPRoute the rollout needs (admission,
	// a quota, a schema), or writing it failed.
	ApplyFailedReason = "ApplyFailed"
	// ReconcileFailedReason: any other failure of a reconcile.
	ReconcileFailedReason = "ReconcileFailed"
)
