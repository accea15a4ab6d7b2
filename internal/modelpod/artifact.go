package modelpod

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// marina's own images, by their release tag. The model server runs the cgo build with ONNX Runtime; the init
// container that fetches a model runs the static build (marina model pull), the controller's image.
const (
	// ImageTag is the release of marina the defaults point at; CI pins the server image by digest per version
	// (marina model set-image) where an environment's policy requires it.
	ImageTag = "0.1.0"
	// ServerImage is the model server, marina serve with ONNX Runtime.
	ServerImage = "ghcr.io/marina-dev/marina-serve:" + ImageTag
	// PullImage is marina's static image, which runs marina model pull in the init container.
	PullImage = "ghcr.io/marina-dev/marina:" + ImageTag
)

// Ways an oci:// artifact gets into the pod.
const (
	// ViaInitContainer runs marina model pull in an init container into the /models emptyDir: it works on every
	// container runtime, which is why it is the default.
	ViaInitContainer = "initContainer"
	// ViaImageVolume mounts the artifact as a Kubernetes image volume (volumes[].image), read-only at /models:
	// nothing runs, but the node's runtime must support it (containerd 2.1+, CRI-O 1.31+, the ImageVolume feature).
	ViaImageVolume = "imageVolume"
)

const (
	// ModelPathEnv names the server's environment variable holding the file it loads (--model=$(MARINA_MODEL_PATH)).
	ModelPathEnv = "MARINA_MODEL_PATH"
	// ModelsDir is where the model server finds its model.
	ModelsDir = "/models"
	// artifactModelDir is the directory of the model file inside the artifact's layer, so an image volume
	// holds the file at /models/model/<file>.
	artifactModelDir = "model"
	ociScheme        = "oci://"
	// registryConfigDir holds the Docker config of the artifact's registry (DOCKER_CONFIG) when the pod names
	// a pull secret.
	registryConfigDir = "/var/run/secrets/marina.dev/registry"
	// PullContainer names the init container that pulls an oci:// artifact (marina doctor reports on it by name).
	PullContainer  = "model-pull"
	modelsVolume   = "models"
	registryVolume = "registry-config"
	// keysDir holds the public keys the init container verifies the artifact's signature with.
	keysDir    = "/etc/marina/keys"
	keysVolume = "signing-keys"
)

// Artifact says how an oci:// artifact gets into the pod; the zero value is the default, an init container
// pulling with marina's own image and the node's credentials only.
type Artifact struct {
	// Via is ViaInitContainer ("" too) or ViaImageVolume.
	Via string
	// PullSecret names a Secret of type kubernetes.io/dockerconfigjson with the registry's credentials: mounted
	// as the init container's Docker config, or the pod's imagePullSecrets for an image volume.
	PullSecret string
	// PullImage replaces PullImage as the init container's image (a mirror, or marina's image pinned by digest).
	PullImage string
	// PlainHTTP has the init container talk HTTP to the registry (marina model pull --plain-http).
	PlainHTTP bool
	// KeysConfigMap names a ConfigMap of PEM public keys, one per key of KeyFiles: the init container keeps the
	// model file only if a signature attached to the artifact verifies with one of them (marina model pull
	// --verify-key). "" verifies nothing; an image volume cannot verify.
	KeysConfigMap string
	KeyFiles      []string
}

// OCIReference is the registry reference of an oci:// artifact URI (HOST/REPO@sha256:… or HOST/REPO:TAG), and
// false for any other URI.
func OCIReference(uri string) (string, bool) {
	ref, ok := strings.CutPrefix(uri, ociScheme)
	return ref, ok && ref != ""
}

// FileName is the model file's name in a version's artifact, what marina model pull writes into its directory:
// file, as marina model push records it (artifact.file), else v<version> and the format's extension
// (v1.0.0.onnx) for an oci:// URI recorded by hand.
func FileName(file, version, format string) string {
	if file != "" {
		return file
	}
	ext := map[string]string{"onnx": ".onnx", "torchscript": ".pt"}[format]
	return "v" + version + ext
}

// ModelPath is the file the model server loads: the artifact's path as recorded for a file the image or a
// volume provides, or where the init container or the image volume puts an oci:// artifact.
func (p Pod) ModelPath() string {
	if _, ok := OCIReference(p.URI); !ok {
		return p.URI
	}
	if p.Artifact.Via == ViaImageVolume {
		return path.Join(ModelsDir, artifactModelDir, FileName(p.File, p.Version, p.Format))
	}
	return path.Join(ModelsDir, FileName(p.File, p.Version, p.Format))
}

// Check reports an Artifact the pod cannot be built with: an unknown way, or an image volume whose reference
// is not pinned by digest (the kubelet would run whatever the tag names now).
func (p Pod) Check() error {
	switch p.Artifact.Via {
	case "", ViaInitContainer:
		return nil
	case ViaImageVolume:
		if ref, ok := OCIReference(p.URI); ok && !strings.Contains(ref, "@sha256:") {
			return fmt.Errorf("artifact.uri %q is not pinned by digest, which an image volume needs: push the version with marina model push, which records oci://…@sha256:…, or leave via unset (an init container pulls the tag)", p.URI)
		}
		return nil
	default:
		return fmt.Errorf("via %q: use %s (the default) or %s", p.Artifact.Via, ViaInitContainer, ViaImageVolume)
	}
}

// modelsVolumeSource is the /models volume: the artifact itself as an image volume, else an emptyDir the init
// container fills (or a file-based server leaves empty), sized for the model.
func (p Pod) modelsVolumeSource() corev1.VolumeSource {
	if ref, ok := OCIReference(p.URI); ok && p.Artifact.Via == ViaImageVolume {
		return corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: ref, PullPolicy: corev1.PullIfNotPresent}}
	}
	size := resource.NewQuantity(max(p.Size*2, 1<<30), resource.BinarySI)
	return corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: size}}
}

// fetch adds what brings an oci:// artifact into spec: the init container running marina model pull (with the
// registry's Docker config when the pod names a pull secret), or the image volume's pull secret.
func (p Pod) fetch(spec *corev1.PodSpec, security *corev1.SecurityContext) {
	if _, ok := OCIReference(p.URI); !ok {
		return
	}
	if p.Artifact.Via == ViaImageVolume {
		spec.Containers[0].VolumeMounts[0].ReadOnly = true
		if p.Artifact.PullSecret != "" {
			spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: p.Artifact.PullSecret}}
		}
		return
	}
	image := p.Artifact.PullImage
	if image == "" {
		image = PullImage
	}
	pull := corev1.Container{
		Name:  PullContainer,
		Image: image,
		Args:  []string{"model", "pull", p.URI, "--dir", ModelsDir},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		},
		SecurityContext: security.DeepCopy(),
		VolumeMounts:    []corev1.VolumeMount{{Name: modelsVolume, MountPath: ModelsDir}, {Name: "tmp", MountPath: "/tmp"}},
		// marina model pull's error is its last log line: the kubelet makes it the termination message.
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if p.Artifact.PlainHTTP {
		pull.Args = append(pull.Args, "--plain-http")
	}
	if s := p.Artifact.PullSecret; s != "" {
		pull.Env = []corev1.EnvVar{{Name: "DOCKER_CONFIG", Value: registryConfigDir}}
		pull.VolumeMounts = append(pull.VolumeMounts, corev1.VolumeMount{Name: registryVolume, MountPath: registryConfigDir, ReadOnly: true})
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: registryVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: s,
			Items:      []corev1.KeyToPath{{Key: corev1.DockerConfigJsonKey, Path: "config.json"}},
		}}})
	}
	if cm := p.Artifact.KeysConfigMap; cm != "" {
		for _, f := range p.Artifact.KeyFiles {
			pull.Args = append(pull.Args, "--verify-key", path.Join(keysDir, f))
		}
		pull.VolumeMounts = append(pull.VolumeMounts, corev1.VolumeMount{Name: keysVolume, MountPath: keysDir, ReadOnly: true})
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: keysVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: cm},
		}}})
	}
	spec.InitContainers = []corev1.Container{pull}
}
