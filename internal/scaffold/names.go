package scaffold

// Names of cluster objects marina init writes, for the commands that look them up in a live cluster (marina doctor).
const (
	// SystemNamespace holds the marina controller.
	SystemNamespace = systemNamespace
	// ControllerName names the marina controller's ServiceAccount, RBAC and Deployment.
	ControllerName = controllerName
	// DevicePluginName is the NVIDIA device plugin DaemonSet in DevicePluginNamespace.
	DevicePluginName = devicePluginName
	// DevicePluginNamespace is the namespace of the NVIDIA device plugin DaemonSet.
	DevicePluginNamespace = devicePluginNS
	// GPUNodeLabel marks GPU nodes (set to "true"); the device plugin runs on them only.
	GPUNodeLabel = gpuNodeLabel
	// ArgoCDNamespace is where Argo CD runs and the scaffold's Applications live.
	ArgoCDNamespace = argoNamespace
	// FluxNamespace is where Flux runs and the scaffold's GitRepository and Kustomizations live.
	FluxNamespace = fluxNamespace
)
