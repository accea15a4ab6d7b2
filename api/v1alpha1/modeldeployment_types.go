package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ModelDeployment rolls out one version of a registered model in one namespace: marina's controller runs it on its
// runtime, scales it and moves traffic to it with the chosen strategy, aborting on failed analysis.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=md,categories=marina
// +kubebuilder:printcolumn:name="Model",type=string,JSONPath=`.spec.model`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Strategy",type=string,JSONPath=`.status.strategy`
// +kubebuilder:printcolumn:name="Step",type=integer,JSONPath=`.status.currentStepIndex`
// +kubebuilder:printcolumn:name="Weight",type=integer,JSONPath=`.status.weights.canary`,description="Percent of traffic on the canary"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ModelDeployment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ModelDeploymentSpec   `json:"spec"`
	Status ModelDeploymentStatus `json:"status,omitempty"`
}

// ModelDeploymentList is a list of ModelDeployments.
//
// +kubebuilder:object:root=true
type ModelDeploymentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ModelDeployment `json:"items"`
}

// ModelDeploymentSpec is the desired version of a model and how it runs and rolls out. marina render writes it
// from applications/<model>/model.yaml and the version's metadata under models/.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.replicas) && has(self.scaling) && (has(self.scaling.hpa) || has(self.scaling.keda)))",message="replicas must be unset when scaling sets hpa or keda: the autoscaler owns the replica count"
type ModelDeploymentSpec struct {
	// Model is the registered model's name.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`
	Model string `json:"model"`

	// Version is the semantic version of the model to run, as registered under models/<model>/.
	// +kubebuilder:validation:Pattern=`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`
	Version string `json:"version"`

	// Artifact is the model file the runtime loads.
	Artifact Artifact `json:"artifact"`

	// Runtime is the model server that serves the artifact.
	Runtime Runtime `json:"runtime"`

	// Replicas is the fixed number of replicas; it is unset when Scaling sets an autoscaler.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Replicas *int32 `json:"replicas,omitempty"`

	// Config is the model server's configuration.
	// +optional
	Config *Config `json:"config,omitempty"`

	// Scaling chooses an autoscaler; unset means Replicas replicas.
	// +optional
	Scaling *Scaling `json:"scaling,omitempty"`

	// Strategy is how a new version replaces the running one; unset means a rolling update.
	// +optional
	Strategy *Strategy `json:"strategy,omitempty"`

	// Analysis holds the analysis templates canary steps run.
	// +optional
	Analysis *Analysis `json:"analysis,omitempty"`

	// Router puts marina router in front of the versions; unset means it is there (see Router).
	// +optional
	Router *Router `json:"router,omitempty"`

	// GitWriteBack is where the controller writes an aborted rollout's revert, so Git stays the source of truth.
	// +optional
	GitWriteBack *GitWriteBack `json:"gitWriteBack,omitempty"`

	// ProgressDeadlineSeconds is how long a step may take before the rollout is Degraded; the controller extends
	// it for large models, which load slowly.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
}

// Artifact is a model file by URI and content digest.
type Artifact struct {
	// URI locates the file, relative to the repository or absolute (s3://, gs://, https://, oci://).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	URI string `json:"uri"`

	// Digest is the SHA-256 of the file's content; the runtime refuses a file that does not match.
	// +kubebuilder:validation:Pattern=`^sha256:[a-f0-9]{64}$`
	Digest string `json:"digest"`

	// Size is the file's size in bytes.
	// +kubebuilder:validation:Minimum=0
	Size int64 `json:"size"`

	// Format is the model's serialization format.
	// +kubebuilder:validation:Enum=onnx;torchscript;savedmodel;other
	Format string `json:"format"`

	// File is the model file's name inside an oci:// artifact (model/<file> in its layer), as marina model push
	// records it; unset means v<version> and the format's extension.
	// +optional
	// +kubebuilder:validation:Pattern=`^[^./][^/]{0,254}$`
	File string `json:"file,omitempty"`
}

// Runtime is the container that serves the model.
type Runtime struct {
	// Image is the model server's container image.
	// +kubebuilder:validation:MinLength=1
	Image string `json:"image"`

	// Port is the container port the model server listens on.
	// +optional
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// Resources are the compute resources of one replica (nvidia.com/gpu included).
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// NodeSelector constrains the replicas to nodes with these labels.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations let the replicas run on tainted nodes (e.g. GPU nodes).
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// Artifact says how an oci:// artifact gets into the pod; unset means an init container running
	// marina model pull into the /models emptyDir.
	// +optional
	Artifact *RuntimeArtifact `json:"artifact,omitempty"`
}

// RuntimeArtifact says how an oci:// model artifact gets into the model server's pod.
type RuntimeArtifact struct {
	// Via is initContainer (marina model pull into the /models emptyDir; works on every container runtime) or
	// imageVolume (a Kubernetes image volume pinned by digest, read-only at /models; needs containerd 2.1+ or
	// CRI-O 1.31+ and the ImageVolume feature).
	// +optional
	// +kubebuilder:validation:Enum=initContainer;imageVolume
	Via string `json:"via,omitempty"`

	// PullSecret names a Secret of type kubernetes.io/dockerconfigjson with the registry's credentials: the init
	// container's Docker config, or the pod's imagePullSecrets for an image volume.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PullSecret string `json:"pullSecret,omitempty"`

	// PullImage is the init container's image; unset means marina's own image of the release the controller
	// was built for.
	// +optional
	// +kubebuilder:validation:MinLength=1
	PullImage string `json:"pullImage,omitempty"`

	// PlainHTTP has the init container talk HTTP to the registry: an in-cluster registry without TLS.
	// +optional
	PlainHTTP bool `json:"plainHTTP,omitempty"`
}

// Config names the ConfigMap the model server reads its environment from (envFrom).
type Config struct {
	// ConfigMapName is a ConfigMap in the ModelDeployment's namespace.
	// +kubebuilder:validation:MinLength=1
	ConfigMapName string `json:"configMapName"`
}

// Router is marina router in the model's data path: the controller runs it (Deployment NAME-router, its
// ServiceAccount, a Role reading only this ModelDeployment) and points Service NAME, and the HTTPRoute named like
// the ModelDeployment, at it. The router splits traffic by status.weights, mirrors the shadow's share and compares
// its answers, exporting the metrics analysis judges. Off, Service NAME selects every version's pods and the
// HTTPRoute splits and mirrors itself, with nobody comparing the mirrored answers.
type Router struct {
	// Enabled deploys the router; unset means true.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// Replicas is the number of router pods; unset means 2, so one pod restarting never stops traffic.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Replicas *int32 `json:"replicas,omitempty"`

	// Image is marina's static image, which runs marina router; unset means the release the controller was built
	// for.
	// +optional
	// +kubebuilder:validation:MinLength=1
	Image string `json:"image,omitempty"`

	// NodeSelector constrains the router's pods to nodes with these labels (nodes whose pods Prometheus and the
	// clients reach; the router needs no GPU).
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations let the router's pods run on tainted nodes (e.g. nodes dedicated to inference).
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
}

// RouterEnabled reports whether the controller runs marina router in front of md's versions: unless
// spec.router.enabled is false.
func (md *ModelDeployment) RouterEnabled() bool {
	return md.Spec.Router == nil || md.Spec.Router.Enabled == nil || *md.Spec.Router.Enabled
}
