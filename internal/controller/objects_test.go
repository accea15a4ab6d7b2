package controller

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/modelpod"
)

func TestDeploymentNamesStayDistinctAndStableWhenCut(t *testing.T) {
	t.Parallel()
	long := &v1alpha1.ModelDeployment{ObjectMeta: metav1.ObjectMeta{Name: "a-model-with-a-rather-long-descriptive-name"}}
	short := &v1alpha1.ModelDeployment{ObjectMeta: metav1.ObjectMeta{Name: "fraud"}}
	for _, tc := range []struct {
		name   string
		md     *v1alpha1.ModelDeployment
		v1, v2 string
	}{
		{"versions that differ past the cut", long, "1.0.0-rc.1", "1.0.0-rc.2"},
		{"a prerelease and its release", long, "1.0.0", "1.0.0-beta"},
		{"long build-like prereleases", short, "1.0.0-0123456789012345678901234567890123456789-a", "1.0.0-0123456789012345678901234567890123456789-b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n1, n2 := deploymentName(tc.md, tc.v1), deploymentName(tc.md, tc.v2)
			if n1 == n2 {
				t.Fatalf("versions %s and %s share the Deployment name %s", tc.v1, tc.v2, n1)
			}
			for _, n := range []string{n1, n2} {
				if len(n) > 47 {
					t.Errorf("%s is %d characters, longer than 47 (no room left for the ReplicaSet and Pod suffixes)", n, len(n))
				}
			}
			if again := deploymentName(tc.md, tc.v1); again != n1 {
				t.Errorf("the name of %s changed from %s to %s between calls", tc.v1, n1, again)
			}
		})
	}
}

func TestShortDeploymentNamesAreNameDashVersion(t *testing.T) {
	t.Parallel()
	md := &v1alpha1.ModelDeployment{ObjectMeta: metav1.ObjectMeta{Name: "fraud"}}
	if got := deploymentName(md, "1.2.0-rc.1"); got != "fraud-1-2-0-rc-1" {
		t.Fatalf("deploymentName = %s, want fraud-1-2-0-rc-1", got)
	}
}

func TestTheControllerPullsAnOCIArtifactAsRenderDoes(t *testing.T) {
	t.Parallel()
	md := &v1alpha1.ModelDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "fraud"},
		Spec: v1alpha1.ModelDeploymentSpec{Model: "fraud", Version: "1.0.0",
			Artifact: v1alpha1.Artifact{URI: "oci://registry.example.com/models/fraud@sha256:1e3fa9ff4412f893618f6767cdecb4b0ad04754682bd48f47dbf51e78e3b4318",
				Digest: "sha256:05f6759bd4f24b056f0d290267459d5b63dcc1f451fd702ee5796f4179c78cf5", Format: "onnx", File: "fraud.onnx"},
			Runtime: v1alpha1.Runtime{Image: modelpod.ServerImage, Artifact: &v1alpha1.RuntimeArtifact{PullSecret: "model-registry"}}},
	}
	var d appsv1.Deployment
	mutateDeployment(md, &d, "1.0.0", 1)
	pod := d.Spec.Template.Spec
	if len(pod.InitContainers) != 1 || len(pod.InitContainers[0].Args) != 5 || pod.InitContainers[0].Args[2] != md.Spec.Artifact.URI ||
		len(pod.InitContainers[0].Env) != 1 || pod.InitContainers[0].Env[0].Name != "DOCKER_CONFIG" {
		t.Fatalf("init containers %+v, want marina model pull of the artifact with the pull secret's Docker config", pod.InitContainers)
	}
	if env := pod.Containers[0].Env; env[len(env)-1] != (corev1.EnvVar{Name: modelpod.ModelPathEnv, Value: "/models/fraud.onnx"}) {
		t.Fatalf("server env %+v, want %s=/models/fraud.onnx (the spec's artifact.file)", env, modelpod.ModelPathEnv)
	}
}
