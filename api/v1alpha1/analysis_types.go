package v1alpha1

import corev1 "k8s.io/api/core/v1"

// Analysis holds the analysis templates a rollout can run.
type Analysis struct {
	// Templates are named sets of metrics; canary analysis steps run them by name.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=20
	Templates []AnalysisTemplate `json:"templates,omitempty"`
}

// AnalysisTemplate is a set of metrics measured together; it fails when any metric fails.
type AnalysisTemplate struct {
	// Name is what canary analysis steps refer to.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`
	Name string `json:"name"`

	// Prometheus is the server the metrics' queries run on.
	// +optional
	Prometheus *PrometheusProvider `json:"prometheus,omitempty"`

	// Metrics are measured independently.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	// +listType=map
	// +listMapKey=name
	Metrics []AnalysisMetric `json:"metrics"`
}

// PrometheusProvider locates a Prometheus server and the credentials it takes.
// +kubebuilder:validation:XValidation:rule="!self.address.matches('^https?://[^/?#]*@')",message="prometheus.address must not hold credentials (user:password@): put them in a Secret (keys username and password, or token) and name it in prometheus.secretRef"
type PrometheusProvider struct {
	// Address is the server's base URL, e.g. http://prometheus.monitoring.svc:9090, without credentials.
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:MaxLength=512
	Address string `json:"address"`

	// SecretRef names a Secret in the ModelDeployment's namespace with the credentials Prometheus takes: keys
	// username and password (basic auth), or token (a bearer token). The controller reads it with a get when it
	// measures and never writes its values to status, events or logs.
	// +optional
	SecretRef *corev1.LocalObjectReference `json:"secretRef,omitempty"`
}

// Keys of the Secret a PrometheusProvider's SecretRef names.
const (
	PrometheusUsernameKey = "username"
	PrometheusPasswordKey = "password"
	PrometheusTokenKey    = "token"
)

// AnalysisMetric is one query, measured Count times every Interval. Each measurement is Successful, Failed,
// Inconclusive (neither condition holds) or Error (the query itself failed); errors are retried, never success.
type AnalysisMetric struct {
	// Name identifies the metric in status.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`
	Name string `json:"name"`

	// Query is the PromQL query; its result is bound to `result` in the conditions.
	// +kubebuilder:validation:MinLength=1
	Query string `json:"query"`

	// SuccessCondition is an expression over result that holds for a successful measurement, e.g. result[0] >= 0.95.
	// +optional
	SuccessCondition string `json:"successCondition,omitempty"`

	// FailureCondition is an expression over result that holds for a failed measurement, e.g. result[0] > 0.01.
	// +optional
	FailureCondition string `json:"failureCondition,omitempty"`

	// Interval is the time between measurements.
	// +optional
	Interval DurationString `json:"interval,omitempty"`

	// Count is the number of measurements; the metric is done after that many.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Count *int32 `json:"count,omitempty"`

	// FailureLimit is how many failed measurements the metric tolerates before it fails.
	// +optional
	// +kubebuilder:validation:Minimum=0
	FailureLimit *int32 `json:"failureLimit,omitempty"`

	// InconclusiveLimit is how many inconclusive measurements the metric tolerates before the rollout pauses.
	// +optional
	// +kubebuilder:validation:Minimum=0
	InconclusiveLimit *int32 `json:"inconclusiveLimit,omitempty"`

	// ConsecutiveErrorLimit is how many measurements in a row may error before the rollout aborts.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ConsecutiveErrorLimit *int32 `json:"consecutiveErrorLimit,omitempty"`
}
