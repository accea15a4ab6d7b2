package v1alpha1

// Well-known labels and annotations: what marina render puts on the objects it writes, what the controller puts on
// the objects it owns, and what marina doctor, marina router and users select by. Like cert-manager's API package,
// they live with the API so every component reads the same keys without importing another's code.
const (
	// LabelManagedBy is Kubernetes' managed-by label, set to ManagedBy on everything marina renders or owns.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy.
	ManagedBy = "marina"
	// LabelModel names the model an object serves.
	LabelModel = "marina.dev/model"
	// LabelEnvironment names the environment of marina.yaml an object belongs to; the controller's write-back
	// reads it from a ModelDeployment to know which environment to revert.
	LabelEnvironment = "marina.dev/environment"
	// LabelVersion is the model version a workload runs.
	LabelVersion = "marina.dev/version"
	// LabelModelDeployment names the ModelDeployment that owns a Deployment or Service.
	LabelModelDeployment = "marina.dev/modeldeployment"
	// LabelRouter names the ModelDeployment whose router a Deployment, its pods or a Service belong to; router
	// objects do not carry LabelModelDeployment, which selects the model servers' pods.
	LabelRouter = "marina.dev/router"

	// AnnotationArtifactURI and AnnotationArtifactDigest pin the exact artifact on the objects that run it.
	AnnotationArtifactURI    = "marina.dev/artifact-uri"
	AnnotationArtifactDigest = "marina.dev/artifact-digest"
	// AnnotationResume on a ModelDeployment asks a paused rollout to go on (marina promote --resume sets it); the controller
	// removes it when it acts on it.
	AnnotationResume = "marina.dev/resume"
	// AnnotationAppliedHash holds a hash of what the controller last applied to an object it owns. A reconcile whose
	// desired object hashes the same, and whose fields nobody else changed since, sends nothing: with a thousand
	// ModelDeployments, unchanged applies would be most of the API server's load.
	AnnotationAppliedHash = "marina.dev/applied-hash"
)
