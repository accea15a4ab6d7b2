package project

import (
	"cmp"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis"
)

// ModelApplication is applications/<model>/model.yaml: how one model is deployed, per environment.
type ModelApplication struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   Meta            `json:"metadata"`
	Spec       ApplicationSpec `json:"spec"`
}

// ApplicationSpec holds the settings shared by every environment and the per-environment overrides.
type ApplicationSpec struct {
	// Model names the directory under models/.
	Model string `json:"model"`
	// Backend is what render emits: plain, kserve or marina.
	Backend string   `json:"backend,omitempty"`
	Runtime *Runtime `json:"runtime,omitempty"`
	// Config is a file beside model.yaml rendered into a ConfigMap.
	Config  string      `json:"config,omitempty"`
	Secrets []SecretRef `json:"secrets,omitempty"`
	Settings
	// Environments maps an environment of marina.yaml to what runs there.
	Environments map[string]EnvironmentSpec `json:"environments,omitempty"`
}

// Runtime is the serving container.
type Runtime struct {
	Image string   `json:"image,omitempty"`
	Port  int      `json:"port,omitempty"`
	Args  []string `json:"args,omitempty"`
	// Artifact says how a version recorded as oci://… gets into the pod; render copies it as it is into the
	// ModelDeployment (backend marina), so it is the API's type.
	Artifact *v1alpha1.RuntimeArtifact `json:"artifact,omitempty"`
}

// SecretRef declares a secret the model server needs, from External Secrets or Sealed Secrets.
type SecretRef struct {
	Name           string          `json:"name"`
	ExternalSecret *ExternalSecret `json:"externalSecret,omitempty"`
	SealedSecret   *SealedSecret   `json:"sealedSecret,omitempty"`
}

// ExternalSecret points at a key in an External Secrets store.
type ExternalSecret struct {
	Store string `json:"store"`
	Key   string `json:"key"`
}

// SealedSecret points at a committed SealedSecret file beside model.yaml.
type SealedSecret struct {
	File string `json:"file"`
}

// Settings are deployment settings that an environment may override field by field.
type Settings struct {
	Replicas     *int32            `json:"replicas,omitempty"`
	Resources    *Resources        `json:"resources,omitempty"`
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	Tolerations  []Toleration      `json:"tolerations,omitempty"`
	// Scaling and Strategy are copied as they are into the ModelDeployment (backend marina), so they are its types.
	Scaling  *v1alpha1.Scaling  `json:"scaling,omitempty"`
	Strategy *v1alpha1.Strategy `json:"strategy,omitempty"`
	// Router is marina router in front of the versions (backend marina); on unless enabled is false.
	Router *Router `json:"router,omitempty"`
	// Analysis turns on marina's built-in analyses of the router's metrics (backend marina).
	Analysis *AnalysisSpec `json:"analysis,omitempty"`
	// WriteBack has marina controller write an aborted rollout's revert to this repository (backend marina).
	WriteBack *WriteBack `json:"writeBack,omitempty"`
}

// Router is the ModelDeployment's spec.router, copied as it is: marina router in the model's data path.
type Router struct {
	Enabled      *bool             `json:"enabled,omitempty"`
	Replicas     *int32            `json:"replicas,omitempty"`
	Image        string            `json:"image,omitempty"`
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	Tolerations  []Toleration      `json:"tolerations,omitempty"`
}

// AnalysisSpec turns on built-in analyses by name with their thresholds; render expands them into the
// ModelDeployment's analysis templates (package analysis).
type AnalysisSpec struct {
	// Prometheus is the server the analyses query; unset means the controller's --prometheus.
	Prometheus *Prometheus `json:"prometheus,omitempty"`
	// Window, Interval, Count and MinSamples tune every analysis (see analysis.BuiltinOptions).
	Window     string `json:"window,omitempty"`
	Interval   string `json:"interval,omitempty"`
	Count      int32  `json:"count,omitempty"`
	MinSamples int32  `json:"minSamples,omitempty"`
	// Builtin are the analyses turned on.
	Builtin []analysis.BuiltinMetric `json:"builtin,omitempty"`
}

// Prometheus locates the Prometheus analyses query, and the Secret with its credentials.
type Prometheus struct {
	Address   string `json:"address"`
	SecretRef string `json:"secretRef,omitempty"`
}

// WriteBack turns on the Git write-back of an aborted rollout: render writes the ModelDeployment's
// spec.gitWriteBack with marina.yaml's spec.repository as the repository and branch.
type WriteBack struct {
	// SecretRef names the Secret, in the environment's namespace, with the Git credentials; unset pushes without.
	SecretRef string `json:"secretRef,omitempty"`
	// Mode is WriteBackCommit or WriteBackPullRequest; unset is WriteBackCommit.
	Mode string `json:"mode,omitempty"`
	// PullRequest, with mode pr, has marina controller open the pull request on the forge (spec.gitWriteBack.pullRequest).
	PullRequest *PullRequest `json:"pullRequest,omitempty"`
}

// PullRequest is the forge that opens a write-back's pull request, and its labels.
type PullRequest struct {
	// Forge is gitea, github or gitlab.
	Forge string `json:"forge"`
	// Labels are put on the pull request.
	Labels []string `json:"labels,omitempty"`
}

// Modes of writeBack.mode, as the ModelDeployment's spec.gitWriteBack.mode takes them.
const (
	// WriteBackCommit pushes the revert to marina.yaml's spec.repository.branch.
	WriteBackCommit = "commit"
	// WriteBackPullRequest pushes the revert to a branch of its own, for a pull request into that branch.
	WriteBackPullRequest = "pr"
)

// EnvironmentSpec is what runs in one environment.
type EnvironmentSpec struct {
	// Version is the registered model version deployed in this environment.
	Version string `json:"version"`
	Settings
}

// Resources are Kubernetes quantities by resource name (cpu, memory, nvidia.com/gpu).
type Resources struct {
	Requests map[string]string `json:"requests,omitempty"`
	Limits   map[string]string `json:"limits,omitempty"`
}

// Toleration mirrors a Pod toleration.
type Toleration struct {
	Key      string `json:"key,omitempty"`
	Operator string `json:"operator,omitempty"`
	Value    string `json:"value,omitempty"`
	Effect   string `json:"effect,omitempty"`
	// TolerationSeconds is how long a NoExecute toleration keeps the Pod on a node tainted after it started.
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// Resolve merges the environment's settings over the shared ones, field by field.
func (s *ApplicationSpec) Resolve(env string) (EnvironmentSpec, bool) {
	e, ok := s.Environments[env]
	if !ok {
		return EnvironmentSpec{}, false
	}
	base := s.Settings
	// cmp.Or keeps the environment's pointer unless it is nil.
	e.Replicas = cmp.Or(e.Replicas, base.Replicas)
	e.Resources = cmp.Or(e.Resources, base.Resources)
	e.Scaling = cmp.Or(e.Scaling, base.Scaling)
	e.Strategy = cmp.Or(e.Strategy, base.Strategy)
	e.Router = cmp.Or(e.Router, base.Router)
	e.Analysis = cmp.Or(e.Analysis, base.Analysis)
	e.WriteBack = cmp.Or(e.WriteBack, base.WriteBack)
	if e.NodeSelector == nil {
		e.NodeSelector = base.NodeSelector
	}
	if e.Tolerations == nil {
		e.Tolerations = base.Tolerations
	}
	return e, true
}

// GPUs is the number of nvidia.com/gpu one replica requests (or is limited to).
func (r *Resources) GPUs() string {
	if r == nil {
		return ""
	}
	if g := r.Limits[GPUResource]; g != "" {
		return g
	}
	return r.Requests[GPUResource]
}

// GPUResource is the extended resource of NVIDIA's device plugin.
const GPUResource = "nvidia.com/gpu"

// StrategyName returns canary, bluegreen, shadow or "" for a plain rolling update.
func StrategyName(s *v1alpha1.Strategy) string {
	switch {
	case s == nil:
		return ""
	case s.Canary != nil:
		return "canary"
	case s.BlueGreen != nil:
		return "bluegreen"
	case s.Shadow != nil:
		return "shadow"
	}
	return ""
}

// Backends of spec.backend: what render emits for a model.
const (
	BackendPlain  = "plain"
	BackendKServe = "kserve"
	BackendMarina = "marina"
)

// BackendName returns spec.backend, plain when it is not set.
func (s *ApplicationSpec) BackendName() string {
	if s.Backend == "" {
		return BackendPlain
	}
	return s.Backend
}

// UnsupportedStrategy describes a strategy env asks for that its backend cannot carry out: only the marina backend,
// whose ModelDeployment marina controller rolls out, runs canary, blueGreen and shadow; plain and kserve would replace
// the version in one rolling update, so such a strategy must be refused rather than ignored. field is where the
// strategy is set (spec.environments.<env>.strategy or spec.strategy); all three are empty when env has no such problem.
func (s *ApplicationSpec) UnsupportedStrategy(env string) (strategy, field, message string) {
	e, ok := s.Resolve(env)
	if !ok || s.BackendName() == BackendMarina {
		return "", "", ""
	}
	strategy = StrategyName(e.Strategy)
	if strategy == "" {
		return "", "", ""
	}
	field = "spec.strategy"
	if s.Environments[env].Strategy != nil {
		field = "spec.environments." + env + ".strategy"
	}
	message = "a " + strategy + " rollout needs spec.backend: marina (marina controller carries out canary, blueGreen and shadow); " +
		"backend " + s.BackendName() + " would replace the version in " + env + " in one rolling update"
	return strategy, field, message
}

// UnsupportedStrategyHint says how to resolve what UnsupportedStrategy reports.
const UnsupportedStrategyHint = "set spec.backend: marina (and install marina controller: kubectl apply -k config/default), or remove the strategy"
