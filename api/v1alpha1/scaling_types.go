package v1alpha1

// Scaling chooses an autoscaler; at most one is set.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.hpa) && has(self.keda))",message="set at most one of hpa and keda"
type Scaling struct {
	// HPA scales on CPU utilisation with a HorizontalPodAutoscaler.
	// +optional
	HPA *HPAScaling `json:"hpa,omitempty"`

	// KEDA scales on a Prometheus query with a KEDA ScaledObject.
	// +optional
	KEDA *KEDAScaling `json:"keda,omitempty"`
}

// HPAScaling is a HorizontalPodAutoscaler on CPU utilisation.
//
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="min must not exceed max"
type HPAScaling struct {
	// Min is the fewest replicas.
	// +kubebuilder:validation:Minimum=1
	Min int32 `json:"min"`

	// Max is the most replicas.
	// +kubebuilder:validation:Minimum=1
	Max int32 `json:"max"`

	// CPUUtilization is the target average CPU utilisation, in percent of the request.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	CPUUtilization int32 `json:"cpuUtilization,omitempty"`
}

// KEDAScaling is a KEDA ScaledObject on a Prometheus query.
//
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="min must not exceed max"
type KEDAScaling struct {
	// Min is the fewest replicas; 0 scales to zero when idle.
	// +kubebuilder:validation:Minimum=0
	Min int32 `json:"min"`

	// Max is the most replicas.
	// +kubebuilder:validation:Minimum=1
	Max int32 `json:"max"`

	// Query is the PromQL query whose value is compared with Threshold.
	// +kubebuilder:validation:MinLength=1
	Query string `json:"query"`

	// Threshold is the query value per replica, as KEDA's Prometheus scaler takes it.
	// +kubebuilder:validation:MinLength=1
	Threshold string `json:"threshold"`

	// ServerAddress is the Prometheus KEDA queries.
	// +optional
	// +kubebuilder:validation:Pattern=`^https?://`
	ServerAddress string `json:"serverAddress,omitempty"`
}
