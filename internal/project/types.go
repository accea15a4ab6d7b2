package project

// APIVersion is the apiVersion of every marina file.
const APIVersion = "marina.dev/v1alpha1"

// File names inside a model repository.
const (
	// ProjectFile is the project configuration at the repository root.
	ProjectFile = "marina.yaml"
	// ApplicationsDir holds one directory per deployed model.
	ApplicationsDir = "applications"
	// ApplicationFile is the deployment spec inside applications/<model>/.
	ApplicationFile = "model.yaml"
)

// Meta is the metadata block of marina's files.
type Meta struct {
	Name string `json:"name"`
}

// Project is marina.yaml.
type Project struct {
	APIVersion string      `json:"apiVersion"`
	Kind       string      `json:"kind"`
	Metadata   Meta        `json:"metadata"`
	Spec       ProjectSpec `json:"spec"`
}

// ProjectSpec is what a team configures once for its whole model repository.
type ProjectSpec struct {
	// Repository is where the GitOps engines pull this repository from.
	Repository Repository `json:"repository"`
	// Environments are ordered from the first to receive a version to the last.
	Environments []Environment `json:"environments"`
	// Traffic chooses how rendered applications are exposed: gateway (HTTPRoute) or ingress.
	Traffic string `json:"traffic,omitempty"`
	// Gateway is the parent Gateway of rendered HTTPRoutes.
	Gateway *GatewayRef `json:"gateway,omitempty"`
	// GatewayAPI describes the Gateway API the clusters run, for validate's offline schemas.
	GatewayAPI *GatewayAPI `json:"gatewayAPI,omitempty"`
	// Engines lists the GitOps engines the repository is wired for: argocd, flux.
	Engines []string `json:"engines,omitempty"`
	// Gates are the model quality thresholds a version must pass before it deploys.
	Gates *Gates `json:"gates,omitempty"`
	// Signing names the keys model signatures are verified with.
	Signing *Signing `json:"signing,omitempty"`
	// UI is where the repository's marina ui is served.
	UI *UI `json:"ui,omitempty"`
}

// UI locates the repository's marina ui.
type UI struct {
	// URL is marina ui's base URL, e.g. https://marina.example.com.
	URL string `json:"url"`
}

// Signing is who may sign the models the repository deploys.
type Signing struct {
	// PublicKeys are PEM public keys, paths relative to the repository root.
	PublicKeys []string `json:"publicKeys"`
}

// Repository locates the Git repository for the GitOps engines.
type Repository struct {
	URL    string `json:"url"`
	Branch string `json:"branch,omitempty"`
}

// GatewayAPI describes the Gateway API CRDs installed in the clusters.
type GatewayAPI struct {
	// Channel is the release channel of the installed CRDs: standard (the default) or experimental, whose CRDs
	// have more kinds and fields (validate judges Gateway API objects with that channel's schemas).
	Channel string `json:"channel,omitempty"`
}

// GatewayAPIChannel returns the Gateway API release channel of the project: "standard" unless set.
func (p *Project) GatewayAPIChannel() string {
	if p.Spec.GatewayAPI == nil || p.Spec.GatewayAPI.Channel == "" {
		return "standard"
	}
	return p.Spec.GatewayAPI.Channel
}

// GatewayRef names a Gateway API Gateway.
type GatewayRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// Environment is one deployment target, e.g. staging or prod.
type Environment struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Requires lists environments a version must have been deployed to first.
	Requires []string `json:"requires,omitempty"`
	Policy   *Policy  `json:"policy,omitempty"`
	// Promotion is how marina promote brings a version into the environment.
	Promotion *Promotion `json:"promotion,omitempty"`
}

// Promotion is an environment's promotion policy.
type Promotion struct {
	// PR sends promotions through a pull request.
	PR bool `json:"pr,omitempty"`
	// AutoMerge merges the pull request once its head's commit statuses are all successful.
	AutoMerge bool `json:"autoMerge,omitempty"`
	// Approvals is how many approving reviews the pull request needs before it is merged.
	Approvals int `json:"approvals,omitempty"`
}

// Policy is what validate enforces for an environment.
type Policy struct {
	RequireDigestPinnedImages bool `json:"requireDigestPinnedImages,omitempty"`
	RequireSignedArtifacts    bool `json:"requireSignedArtifacts,omitempty"`
	RequireLimits             bool `json:"requireLimits,omitempty"`
}

// Gates are quality thresholds.
type Gates struct {
	Accuracy     *AccuracyGate `json:"accuracy,omitempty"`
	LatencyP95Ms *MaxGate      `json:"latencyP95Ms,omitempty"`
}

// AccuracyGate is an absolute minimum and a maximum regression against the version live in the last environment.
type AccuracyGate struct {
	Min           *float64 `json:"min,omitempty"`
	MaxRegression *float64 `json:"maxRegression,omitempty"`
}

// MaxGate is an upper bound.
type MaxGate struct {
	Max float64 `json:"max"`
}

// Environment returns the environment named name.
func (p *Project) Environment(name string) (Environment, bool) {
	for _, e := range p.Spec.Environments {
		if e.Name == name {
			return e, true
		}
	}
	return Environment{}, false
}

// EnvironmentNames lists the environments in order.
func (p *Project) EnvironmentNames() []string {
	names := make([]string, len(p.Spec.Environments))
	for i, e := range p.Spec.Environments {
		names[i] = e.Name
	}
	return names
}
