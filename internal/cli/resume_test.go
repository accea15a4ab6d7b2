package cli_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/testenv"
)

func TestPromoteResumeAnnotatesTheModelDeployment(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true})
	ctx := context.Background()
	c.CreateNamespaces(t, "models-staging")
	md := createModelDeployment(t, c, "models-staging", "iris-classifier", "1.0.0")
	dir := repotest.Example(t, nil)

	code, out, errOut := marina(t, "--repo", dir, "promote", "iris-classifier", "--env", "staging", "--resume", "--kubeconfig", c.Kubeconfig)
	if code != 0 || !strings.Contains(out, "resume iris-classifier in models-staging") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if err := c.Client.Get(ctx, client.ObjectKeyFromObject(md), md); err != nil {
		t.Fatal(err)
	}
	if md.Annotations["marina.dev/resume"] != "true" {
		t.Fatalf("annotations %v", md.Annotations)
	}

	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"vision-gpu", "--env", "staging", "--resume"}, 1},            // no such ModelDeployment
		{[]string{"iris-classifier@1.0.0", "--env", "staging", "--resume"}, 2}, // a version with --resume
		{[]string{"iris-classifier", "--env", "qa", "--resume"}, 2},            // no such environment
	} {
		args := append([]string{"--repo", dir, "promote"}, append(tt.args, "--kubeconfig", c.Kubeconfig)...)
		if code, out, errOut := marina(t, args...); code != tt.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", tt.args, code, tt.code, out, errOut)
		}
	}
}

// createModelDeployment creates a ModelDeployment of version with the least its CRD accepts.
func createModelDeployment(t *testing.T, c *testenv.Cluster, namespace, name, version string) *v1alpha1.ModelDeployment {
	t.Helper()
	md := &v1alpha1.ModelDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: v1alpha1.ModelDeploymentSpec{Model: name, Version: version,
			Artifact: v1alpha1.Artifact{URI: "models/" + name + ".onnx", Digest: "sha256:" + strings.Repeat("0", 64), Size: 1, Format: "onnx"},
			Runtime:  v1alpha1.Runtime{Image: "example.com/serve:1"}},
	}
	if err := c.Client.Create(context.Background(), md); err != nil {
		t.Fatal(err)
	}
	return md
}
