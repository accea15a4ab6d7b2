package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// StrategyType names the strategy of a rollout, for kubectl get.
// +kubebuilder:validation:Enum=RollingUpdate;Canary;BlueGreen;Shadow
type StrategyType string

// Strategy types.
const (
	// StrategyRollingUpdate is a rollout without spec.strategy.
	StrategyRollingUpdate StrategyType = "RollingUpdate"
	// StrategyCanary is spec.strategy.canary.
	StrategyCanary StrategyType = "Canary"
	// StrategyBlueGreen is spec.strategy.blueGreen.
	StrategyBlueGreen StrategyType = "BlueGreen"
	// StrategyShadow is spec.strategy.shadow.
	StrategyShadow StrategyType = "Shadow"
)

// AnalysisPhase is the state of an analysis run.
// +kubebuilder:validation:Enum=Pending;Running;Successful;Failed;Error;Inconclusive
type AnalysisPhase string

// Analysis phases.
const (
	// AnalysisPending has not measured yet.
	AnalysisPending AnalysisPhase = "Pending"
	// AnalysisRunning is measuring.
	AnalysisRunning AnalysisPhase = "Running"
	// AnalysisSuccessful passed every metric.
	AnalysisSuccessful AnalysisPhase = "Successful"
	// AnalysisFailed failed a metric: the rollout aborts.
	AnalysisFailed AnalysisPhase = "Failed"
	// AnalysisError could not measure past the error limit: the rollout aborts, though the model may be fine.
	AnalysisError AnalysisPhase = "Error"
	// AnalysisInconclusive neither passed nor failed: the rollout pauses for a person to decide.
	AnalysisInconclusive AnalysisPhase = "Inconclusive"
)

// ModelDeploymentStatus is what the controller observed and decided. All rollout timing lives here, so a restarted
// controller resumes the same step.
type ModelDeploymentStatus struct {
	// ObservedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions are Ready, Progressing, Degraded and, while an aborted rollout waits for spec.version to change, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// Strategy is the strategy of the current or last rollout.
	// +optional
	Strategy StrategyType `json:"strategy,omitempty"`

	// CurrentStepIndex is the step in progress. For a canary it is the index in spec.strategy.canary.steps, and
	// the number of steps when all are done. For a shadow, 0 brings the new version up, 1 mirrors and judges it,
	// 2+i is spec.strategy.shadow.steps[i], and 2 plus the number of steps brings it to full size.
	// +optional
	// +kubebuilder:validation:Minimum=0
	CurrentStepIndex *int32 `json:"currentStepIndex,omitempty"`

	// StepStartTime is when the current step started, for pauses and progress deadlines.
	// +optional
	StepStartTime *metav1.Time `json:"stepStartTime,omitempty"`

	// StableVersion is the version serving the traffic the rollout has not moved.
	// +optional
	StableVersion string `json:"stableVersion,omitempty"`

	// CanaryVersion is the version being rolled out; empty when no rollout is in progress.
	// +optional
	CanaryVersion string `json:"canaryVersion,omitempty"`

	// Weights is the traffic split in effect.
	// +optional
	Weights *TrafficWeights `json:"weights,omitempty"`

	// AnalysisRuns are the analysis runs of the current rollout, in the order they started.
	// +optional
	// +listType=map
	// +listMapKey=name
	AnalysisRuns []AnalysisRunStatus `json:"analysisRuns,omitempty"`

	// AbortMessage says why the rollout was aborted; empty unless it was.
	// +optional
	AbortMessage string `json:"abortMessage,omitempty"`
}

// TrafficWeights is a traffic split in percent: Stable and Canary add up to 100; Shadow is mirrored on top.
type TrafficWeights struct {
	// Stable is the percent of requests served by the stable version.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Stable int32 `json:"stable"`

	// Canary is the percent of requests served by the canary version.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Canary int32 `json:"canary"`

	// Shadow is the percent of requests mirrored to the new version, whose answers are compared and dropped.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Shadow int32 `json:"shadow,omitempty"`
}

// AnalysisRun is the run named name in st.AnalysisRuns (not a copy: changes to it are changes to st), or nil.
func (st *ModelDeploymentStatus) AnalysisRun(name string) *AnalysisRunStatus {
	for i := range st.AnalysisRuns {
		if st.AnalysisRuns[i].Name == name {
			return &st.AnalysisRuns[i]
		}
	}
	return nil
}

// AnalysisRunStatus is the progress of one run of an analysis template.
type AnalysisRunStatus struct {
	// Name identifies the run, e.g. <template>-<step index>.
	Name string `json:"name"`

	// Template is the spec.analysis template it runs.
	// +optional
	Template string `json:"template,omitempty"`

	// Phase is the run's state.
	Phase AnalysisPhase `json:"phase"`

	// Successful counts successful measurements.
	// +optional
	Successful int32 `json:"successful,omitempty"`

	// Failed counts failed measurements.
	// +optional
	Failed int32 `json:"failed,omitempty"`

	// Error counts measurements whose query failed.
	// +optional
	Error int32 `json:"error,omitempty"`

	// Inconclusive counts measurements that neither succeeded nor failed.
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`

	// Message is the last measurement's message (an error, or the value that failed).
	// +optional
	Message string `json:"message,omitempty"`

	// StartedAt is when the run started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// Metrics is the progress of each metric, in the template's order: what a restarted controller resumes from.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=20
	Metrics []AnalysisMetricStatus `json:"metrics,omitempty"`
}

// AnalysisMetricStatus is the progress of one metric of an analysis run.
type AnalysisMetricStatus struct {
	// Name is the metric's name.
	Name string `json:"name"`
	// Phase is Pending, Running, Successful, Failed, Error or Inconclusive.
	Phase AnalysisPhase `json:"phase"`
	// Successful counts successful measurements.
	// +optional
	Successful int32 `json:"successful,omitempty"`
	// Failed counts failed measurements.
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// Inconclusive counts inconclusive measurements.
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`
	// Error counts measurements that errored.
	// +optional
	Error int32 `json:"error,omitempty"`
	// ConsecutiveErrors counts the errors since the last measurement that was not one.
	// +optional
	ConsecutiveErrors int32 `json:"consecutiveErrors,omitempty"`
	// LastMeasuredAt is when the metric was last measured (microseconds: the next measurement is due an interval
	// later, also after a restart).
	// +optional
	LastMeasuredAt *metav1.MicroTime `json:"lastMeasuredAt,omitempty"`
	// Message is about the last measurement.
	// +optional
	Message string `json:"message,omitempty"`
	// Measurements are the last measurements, oldest first: at most MaxMeasurements, the older ones only counted.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	Measurements []AnalysisMeasurement `json:"measurements,omitempty"`
}

// MaxMeasurements is how many of a metric's measurements its status keeps (Argo Rollouts keeps 10 too).
const MaxMeasurements = 10

// AnalysisMeasurement is one measurement of a metric.
type AnalysisMeasurement struct {
	// Phase is Successful, Failed, Inconclusive or Error.
	Phase AnalysisPhase `json:"phase"`
	// MeasuredAt is the query's evaluation time.
	MeasuredAt metav1.MicroTime `json:"measuredAt"`
	// Value is the query's result as the conditions saw it, e.g. [0.97]; empty when the query failed.
	// +optional
	Value string `json:"value,omitempty"`
	// Message is the error, for a measurement in phase Error.
	// +optional
	Message string `json:"message,omitempty"`
}
