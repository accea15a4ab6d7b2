package v1alpha1

// Strategy is how a new version replaces the running one; at most one is set.
//
// +kubebuilder:validation:XValidation:rule="(has(self.canary) ? 1 : 0) + (has(self.blueGreen) ? 1 : 0) + (has(self.shadow) ? 1 : 0) <= 1",message="set at most one of canary, blueGreen and shadow"
type Strategy struct {
	// Canary shifts traffic to the new version in steps.
	// +optional
	Canary *CanaryStrategy `json:"canary,omitempty"`

	// BlueGreen runs the new version beside the old behind a preview Service, then switches all traffic at once.
	// +optional
	BlueGreen *BlueGreenStrategy `json:"blueGreen,omitempty"`

	// Shadow mirrors a share of traffic to the new version and compares its answers, serving only the old one's,
	// then brings the new version in at once or in canary steps.
	// +optional
	Shadow *ShadowStrategy `json:"shadow,omitempty"`
}

// CanaryStrategy runs its steps in order; after the last one the new version takes all traffic.
type CanaryStrategy struct {
	// Steps are run in order.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	Steps []CanaryStep `json:"steps,omitempty"`
}

// CanaryStep sets exactly one of its fields.
//
// +kubebuilder:validation:XValidation:rule="(has(self.setWeight) ? 1 : 0) + (has(self.pause) ? 1 : 0) + (has(self.analysis) ? 1 : 0) == 1",message="set exactly one of setWeight, pause and analysis"
type CanaryStep struct {
	// SetWeight routes this percent of traffic to the new version.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	SetWeight *int32 `json:"setWeight,omitempty"`

	// Pause waits for a duration, or until resumed.
	// +optional
	Pause *PauseStep `json:"pause,omitempty"`

	// Analysis runs an analysis template and aborts the rollout when it fails.
	// +optional
	Analysis *AnalysisStep `json:"analysis,omitempty"`
}

// PauseStep waits for Duration, or until the rollout is resumed when Duration is unset.
type PauseStep struct {
	// Duration is how long to wait, e.g. 10m.
	// +optional
	Duration DurationString `json:"duration,omitempty"`
}

// AnalysisStep runs one template of spec.analysis.
type AnalysisStep struct {
	// Template names a template in spec.analysis.templates.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`
	Template string `json:"template"`
}

// BlueGreenStrategy runs the new version at full size beside the old one, then switches.
type BlueGreenStrategy struct {
	// AutoPromote switches traffic as soon as the new version is ready; otherwise the rollout waits to be promoted.
	// +optional
	AutoPromote bool `json:"autoPromote,omitempty"`

	// ScaleDownDelay is how long the old version keeps running after the switch, for a fast rollback.
	// +optional
	ScaleDownDelay DurationString `json:"scaleDownDelay,omitempty"`
}

// ShadowStrategy mirrors traffic to the new version for a while before it replaces the old one: at once, or as a
// canary in steps.
type ShadowStrategy struct {
	// Percent is the share of requests mirrored to the new version.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Percent int32 `json:"percent"`

	// Duration is how long to mirror before going on (to the steps, or to full size); unset goes on as soon as the
	// analysis (spec.analysis.templates[0]) passes, or at once when there is none.
	// +optional
	Duration DurationString `json:"duration,omitempty"`

	// Steps run after the shadow has passed (its analysis and duration): they shift live traffic to the new
	// version as a canary's steps do, with mirroring stopped, and the new version takes all traffic after the
	// last one. None brings it to full size at once.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	Steps []CanaryStep `json:"steps,omitempty"`
}
