package v1alpha1

import corev1 "k8s.io/api/core/v1"

// GitWriteBackMode is how the controller writes to Git.
// +kubebuilder:validation:Enum=commit;pr
type GitWriteBackMode string

// Git write-back modes.
const (
	// GitWriteBackCommit pushes a commit to the branch.
	GitWriteBackCommit GitWriteBackMode = "commit"
	// GitWriteBackPullRequest opens a pull request against the branch.
	GitWriteBackPullRequest GitWriteBackMode = "pr"
)

// GitWriteBack is the model GitOps repository the controller writes a revert (and the blocked version) to after an
// abort.
type GitWriteBack struct {
	// Repo is the repository's clone URL.
	// +kubebuilder:validation:MinLength=1
	Repo string `json:"repo"`

	// Branch is the branch written to, or the base of the pull request; unset means the repository's default.
	// +optional
	Branch string `json:"branch,omitempty"`

	// SecretRef names a Secret in the ModelDeployment's namespace with the credentials (username/password or
	// identity for SSH).
	// +optional
	SecretRef *corev1.LocalObjectReference `json:"secretRef,omitempty"`

	// Mode is commit or pr.
	// +optional
	// +kubebuilder:default=commit
	Mode GitWriteBackMode `json:"mode,omitempty"`
}
