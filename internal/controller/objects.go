package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/modelpod"
)

// ServicePort is the port of the Services in front of a model; it targets the server's named port.
const ServicePort = 80

const defaultServerPort = 8080

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// maxDeploymentName leaves room for the ReplicaSet and Pod suffixes in a 63-character label value.
const maxDeploymentName = 47

// deploymentName is NAME-<version>, the version made a DNS label ("1.2.0-rc.1" → "1-2-0-rc-1"). A longer name is
// cut and ends in a hash of the model and version, so two versions that differ only past the cut keep two
// Deployments, and the name of a version never changes between reconciles.
func deploymentName(md *v1alpha1.ModelDeployment, version string) string {
	slug := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(version), "-"), "-")
	name := md.Name + "-" + slug
	if len(name) <= maxDeploymentName {
		return name
	}
	sum := sha256.Sum256([]byte(md.Name + "\x00" + version))
	suffix := hex.EncodeToString(sum[:])[:8]
	return strings.TrimRight(name[:maxDeploymentName-len(suffix)-1], "-") + "-" + suffix
}

func selector(md *v1alpha1.ModelDeployment) map[string]string {
	return map[string]string{v1alpha1.LabelModelDeployment: md.Name}
}

func versionSelector(md *v1alpha1.ModelDeployment, version string) map[string]string {
	return map[string]string{v1alpha1.LabelModelDeployment: md.Name, v1alpha1.LabelVersion: version}
}

func labels(md *v1alpha1.ModelDeployment, version string) map[string]string {
	l := map[string]string{
		"app.kubernetes.io/name":      md.Spec.Model,
		"app.kubernetes.io/component": "model-server",
		v1alpha1.LabelManagedBy:       v1alpha1.ManagedBy,
		v1alpha1.LabelModel:           md.Spec.Model,
		v1alpha1.LabelModelDeployment: md.Name,
	}
	if version != "" {
		l[v1alpha1.LabelVersion] = version
		l["app.kubernetes.io/version"] = version
	}
	if env := md.Labels[v1alpha1.LabelEnvironment]; env != "" {
		l[v1alpha1.LabelEnvironment] = env
	}
	return l
}

func port(md *v1alpha1.ModelDeployment) int32 {
	if p := md.Spec.Runtime.Port; p != 0 {
		return p
	}
	return defaultServerPort
}

// gpusPerPod is the nvidia.com/gpu a pod of md requests (the limit when no request is set, as admission does).
func gpusPerPod(md *v1alpha1.ModelDeployment) int64 {
	r := md.Spec.Runtime.Resources
	if r == nil {
		return 0
	}
	if q, ok := r.Requests[gpuResource]; ok {
		return q.Value()
	}
	if q, ok := r.Limits[gpuResource]; ok {
		return q.Value()
	}
	return 0
}

const gpuResource corev1.ResourceName = "nvidia.com/gpu"

// mutateDeployment makes d run version v of md, spec.version, with replicas.
func mutateDeployment(md *v1alpha1.ModelDeployment, d *appsv1.Deployment, v string, replicas int32) {
	d.Spec.Replicas = &replicas
	d.Labels = labels(md, v)
	d.Annotations = map[string]string{
		v1alpha1.AnnotationArtifactURI:    md.Spec.Artifact.URI,
		v1alpha1.AnnotationArtifactDigest: md.Spec.Artifact.Digest,
	}
	s := md.Spec
	pod := modelpod.Pod{
		Name: s.Model, Image: s.Runtime.Image, Port: port(md),
		Version: v, URI: s.Artifact.URI, Digest: s.Artifact.Digest, Format: s.Artifact.Format, File: s.Artifact.File, Size: s.Artifact.Size,
		NodeSelector: s.Runtime.NodeSelector, Tolerations: s.Runtime.Tolerations,
	}
	if s.Runtime.Resources != nil {
		pod.Resources = *s.Runtime.Resources
	}
	if a := s.Runtime.Artifact; a != nil {
		pod.Artifact = modelpod.Artifact{Via: a.Via, PullSecret: a.PullSecret, PullImage: a.PullImage, PlainHTTP: a.PlainHTTP}
	}
	if s.Config != nil {
		pod.ConfigMap = s.Config.ConfigMapName
	}
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: versionSelector(md, v)}
	d.Spec.ProgressDeadlineSeconds = new(modelpod.ProgressDeadlineSeconds(s.Artifact.Size))
	d.Spec.RevisionHistoryLimit = new(int32(2))
	d.Spec.Strategy = modelpod.RollingUpdate(gpusPerPod(md) > 0)
	d.Spec.Template = corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels(md, v), Annotations: maps.Clone(d.Annotations)},
		Spec:       modelpod.Spec(pod),
	}
}

// mutateService makes s route to sel's pods.
func mutateService(md *v1alpha1.ModelDeployment, s *corev1.Service, sel map[string]string) {
	s.Labels = labels(md, "")
	s.Spec.Selector = sel
	s.Spec.Ports = []corev1.ServicePort{{
		Name: "http", Port: ServicePort, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP,
	}}
}
