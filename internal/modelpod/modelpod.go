package modelpod

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Model server conventions: the Open Inference Protocol v2 health endpoints, the container port's name (Services
// and Ingresses target it) and the user the server runs as.
const (
	// PortName names the model server's container port.
	PortName  = "http"
	readyPath = "/v2/health/ready"
	livePath  = "/v2/health/live"
	// loadBytesPerSecond is a conservative speed for fetching and loading a model, to size the startup probe.
	loadBytesPerSecond = 50 << 20
	probePeriodSeconds = 5
	// uid of the non-root user the model server runs as (distroless "nonroot").
	nonRootUID = 65532
)

// StartupSeconds is how long a model of size bytes may take to fetch and load.
func StartupSeconds(size int64) int32 {
	return int32(60 + size/loadBytesPerSecond)
}

// ProgressDeadlineSeconds is the Deployment progress deadline of a model of size bytes: at least ten minutes, and
// twice its startup time, so a large model is not declared failed while it loads.
func ProgressDeadlineSeconds(size int64) int32 {
	return max(600, 2*StartupSeconds(size))
}

// RollingUpdate is the Deployment strategy of a model server. A GPU model never surges: an extra GPU pod may not
// fit the quota or the nodes, so one old pod goes before a new one comes.
func RollingUpdate(gpu bool) appsv1.DeploymentStrategy {
	surge, unavailable := intstr.FromString("25%"), intstr.FromInt32(0)
	if gpu {
		surge, unavailable = intstr.FromInt32(0), intstr.FromInt32(1)
	}
	return appsv1.DeploymentStrategy{
		Type:          appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable},
	}
}

// Pod is what a model server's pod is made from.
type Pod struct {
	// Name is the model's name; Image and Port the server's.
	Name, Image string
	Port        int32
	// Args replace the default `marina serve` arguments when set.
	Args []string
	// Version, URI, Digest, Format and Size describe the artifact the server loads; File is the model file's name
	// in an oci:// artifact (artifact.file).
	Version, URI, Digest, Format, File string
	Size                               int64
	// Artifact says how an oci:// artifact gets into the pod.
	Artifact Artifact
	// ConfigMap and Secrets are loaded into the environment; "" and nil for none.
	ConfigMap    string
	Secrets      []string
	Resources    corev1.ResourceRequirements
	NodeSelector map[string]string
	Tolerations  []corev1.Toleration
}

// Spec is the pod of a model server: marina serve (or Args) on the artifact named in its environment,
// startup/readiness/liveness probes sized by the model, non-root with a read-only root file system. An oci://
// artifact is pulled into /models by an init container, or mounted there as an image volume (p.Artifact); call
// p.Check first.
func Spec(p Pod) corev1.PodSpec {
	startup := StartupSeconds(p.Size)
	args := p.Args
	if len(args) == 0 {
		args = []string{"serve", "--model=$(" + ModelPathEnv + ")", "--digest=$(MARINA_MODEL_DIGEST)", "--name=$(MARINA_MODEL_NAME)", fmt.Sprintf("--addr=:%d", p.Port)}
	}
	var envFrom []corev1.EnvFromSource
	if p.ConfigMap != "" {
		envFrom = append(envFrom, corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: p.ConfigMap}}})
	}
	for _, s := range p.Secrets {
		envFrom = append(envFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: s}}})
	}
	security := ContainerSecurity()
	container := corev1.Container{
		Name:  "model-server",
		Image: p.Image,
		Args:  args,
		Ports: []corev1.ContainerPort{{Name: PortName, ContainerPort: p.Port, Protocol: corev1.ProtocolTCP}},
		// The model server reads which artifact to load and check from these.
		Env: []corev1.EnvVar{
			{Name: "MARINA_MODEL_NAME", Value: p.Name},
			{Name: "MARINA_MODEL_VERSION", Value: p.Version},
			{Name: "MARINA_MODEL_URI", Value: p.URI},
			{Name: "MARINA_MODEL_DIGEST", Value: p.Digest},
			{Name: "MARINA_MODEL_FORMAT", Value: p.Format},
			// The file the server loads: the artifact's path, or where an oci:// artifact lands in /models.
			{Name: ModelPathEnv, Value: p.ModelPath()},
		},
		EnvFrom:   envFrom,
		Resources: p.Resources,
		StartupProbe: &corev1.Probe{
			ProbeHandler:     httpGet(readyPath),
			PeriodSeconds:    probePeriodSeconds,
			FailureThreshold: (startup + probePeriodSeconds - 1) / probePeriodSeconds,
		},
		ReadinessProbe:  &corev1.Probe{ProbeHandler: httpGet(readyPath), PeriodSeconds: 5, FailureThreshold: 3},
		LivenessProbe:   &corev1.Probe{ProbeHandler: httpGet(livePath), PeriodSeconds: 10, FailureThreshold: 3},
		SecurityContext: security,
		VolumeMounts:    []corev1.VolumeMount{{Name: modelsVolume, MountPath: ModelsDir}, {Name: "tmp", MountPath: "/tmp"}},
		// serve writes why it exited to the termination log; anything that dies before (a crash, the runtime)
		// leaves its last log lines there instead, for kubectl describe and marina doctor.
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	spec := corev1.PodSpec{
		Containers:                    []corev1.Container{container},
		NodeSelector:                  p.NodeSelector,
		Tolerations:                   p.Tolerations,
		TerminationGracePeriodSeconds: new(int64(30)),
		SecurityContext:               PodSecurity(),
		Volumes: []corev1.Volume{
			{Name: modelsVolume, VolumeSource: p.modelsVolumeSource()},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
	p.fetch(&spec, security)
	return spec
}

// ContainerSecurity is the security context of every container marina runs: no privilege escalation, a read-only
// root file system, no capabilities.
func ContainerSecurity() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: new(false),
		ReadOnlyRootFilesystem:   new(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

// PodSecurity is the pod security context of every pod marina runs: non-root (distroless "nonroot"), the runtime's
// default seccomp profile.
func PodSecurity() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   new(true),
		RunAsUser:      new(int64(nonRootUID)),
		RunAsGroup:     new(int64(nonRootUID)),
		FSGroup:        new(int64(nonRootUID)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func httpGet(p string) corev1.ProbeHandler {
	return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: p, Port: intstr.FromString(PortName)}}
}
