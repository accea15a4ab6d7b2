package project

// Values of marina.yaml's spec.engines.
const (
	EngineArgoCD = "argocd"
	EngineFlux   = "flux"
)

// Names of the cluster objects a repository made by marina init installs and wires, for the commands that look
// them up in a live cluster (marina doctor) and for marina init, which writes them.
const (
	// SystemNamespace holds the marina controller.
	SystemNamespace = "marina-system"
	// ControllerName names the marina controller's ServiceAccount, RBAC and Deployment.
	ControllerName = "marina-controller"
	// DevicePluginName is the NVIDIA device plugin DaemonSet in DevicePluginNamespace.
	DevicePluginName = "nvidia-device-plugin"
	// DevicePluginNamespace is the namespace of the NVIDIA device plugin DaemonSet.
	DevicePluginNamespace = "kube-system"
	// GPUNodeLabel marks GPU nodes (set to "true" by NVIDIA's GPU feature discovery); the device plugin runs on
	// them only.
	GPUNodeLabel = "nvidia.com/gpu.present"
	// ArgoCDNamespace is where Argo CD runs and the repository's Applications live.
	ArgoCDNamespace = "argocd"
	// FluxNamespace is where Flux runs and the repository's GitRepository and Kustomizations live.
	FluxNamespace = "flux-system"
)
