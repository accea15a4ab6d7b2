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
// +kubebuilder:validation:XValidation:rule="!has(self.pullRequest) || (has(self.mode) && self.mode == 'pr')",message="pullRequest goes with mode pr: set mode: pr, or remove pullRequest"
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

	// PullRequest, with mode pr, has the controller open the pull request from the pushed branch on the forge
	// hosting Repo (or find the open one and update its description, when the same version aborts again), with the
	// analysis evidence as its description. The forge's API takes the Secret's password (a token) or bearerToken.
	// Unset, mode pr only pushes the branch.
	// +optional
	PullRequest *GitPullRequest `json:"pullRequest,omitempty"`
}

// GitWriteBackForge is the forge whose API opens a write-back's pull request.
// +kubebuilder:validation:Enum=gitea;github;gitlab
type GitWriteBackForge string

// The forges a write-back's pull request is opened on.
const (
	// ForgeGitea is Gitea (and Forgejo), through its API.
	ForgeGitea GitWriteBackForge = "gitea"
	// ForgeGitHub is GitHub, or a GitHub Enterprise Server (its API at /api/v3 of the repository's host).
	ForgeGitHub GitWriteBackForge = "github"
	// ForgeGitLab is GitLab (gitlab.com or self-managed; the merge request is GitLab's pull request).
	ForgeGitLab GitWriteBackForge = "gitlab"
)

// GitPullRequest is how the controller opens a write-back's pull request.
type GitPullRequest struct {
	// Forge is the forge hosting the repository: gitea, github or gitlab.
	Forge GitWriteBackForge `json:"forge"`

	// Labels are put on the pull request when it is opened; a missing label is created.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=50
	Labels []string `json:"labels,omitempty"`
}
