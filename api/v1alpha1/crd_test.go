package v1alpha1_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/internal/testenv"
)

// valid is a ModelDeployment with every spec field set.
const valid = `apiVersion: marina.dev/v1alpha1
kind: ModelDeployment
metadata: {name: fraud, namespace: default}
spec:
  model: fraud
  version: 2.0.0-rc.1
  artifact: {uri: s3://models/fraud/2.0.0.onnx, digest: "sha256:05f6759bd4f24b056f0d290267459d5b63dcc1f451fd702ee5796f4179c78cf5", size: 350, format: onnx}
  runtime:
    image: ghcr.io/marina-dev/marina-serve:0.1.0
    port: 8080
    resources: {requests: {cpu: 250m, nvidia.com/gpu: "1"}, limits: {memory: 512Mi, nvidia.com/gpu: "1"}}
    nodeSelector: {nvidia.com/gpu.present: "true"}
    tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  config: {configMapName: fraud-config-2fdf41427b}
  scaling: {hpa: {min: 2, max: 6, cpuUtilization: 70}}
  strategy:
    canary:
      steps: [{setWeight: 10}, {pause: {duration: 10m}}, {analysis: {template: error-rate}}, {pause: {}}]
  analysis:
    templates:
      - name: error-rate
        prometheus: {address: "http://prometheus.monitoring.svc:9090", secretRef: {name: prometheus}}
        metrics:
          - {name: errors, query: "sum(rate(errors[1m]))", failureCondition: "result[0] > 0.01", interval: 1m, count: 5, failureLimit: 1, inconclusiveLimit: 2, consecutiveErrorLimit: 4}
  gitWriteBack: {repo: "https://git.example.com/ml-platform.git", branch: main, secretRef: {name: git}, mode: pr, pullRequest: {forge: gitea, labels: [rollback]}}
  progressDeadlineSeconds: 600
`

// TestTheAPIServerEnforcesTheCRDRules installs the generated CRD in a real kube-apiserver and creates objects with
// a server-side dry run: the CEL rules the offline validator leaves out are checked here.
func TestTheAPIServerEnforcesTheCRDRules(t *testing.T) {
	t.Parallel()
	env := &envtest.Environment{
		BinaryAssetsDirectory: testenv.Assets(t),
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	spec := func(m map[string]any) map[string]any { return m["spec"].(map[string]any) }
	cases := []struct {
		name string
		edit func(m map[string]any)
		want string // "" for accepted
	}{
		{"accept every field set", func(map[string]any) {}, ""},
		{"accept replicas beside a scaling without an autoscaler", func(m map[string]any) {
			spec(m)["replicas"] = 2
			spec(m)["scaling"] = map[string]any{}
		}, ""},
		{"reject replicas beside an autoscaler", func(m map[string]any) {
			spec(m)["replicas"] = 2
		}, "replicas must be unset when scaling sets hpa or keda"},
		{"reject two autoscalers", func(m map[string]any) {
			spec(m)["scaling"].(map[string]any)["keda"] = map[string]any{"min": 0, "max": 2, "query": "up", "threshold": "1"}
		}, "set at most one of hpa and keda"},
		{"reject an HPA whose min exceeds its max", func(m map[string]any) {
			spec(m)["scaling"] = map[string]any{"hpa": map[string]any{"min": 7, "max": 6}}
		}, "min must not exceed max"},
		{"reject two strategies", func(m map[string]any) {
			spec(m)["strategy"].(map[string]any)["shadow"] = map[string]any{"percent": 10}
		}, "set at most one of canary, blueGreen and shadow"},
		{"reject a canary step setting two things", func(m map[string]any) {
			spec(m)["strategy"] = map[string]any{"canary": map[string]any{"steps": []any{map[string]any{"setWeight": 10, "pause": map[string]any{}}}}}
		}, "set exactly one of setWeight, pause and analysis"},
		{"reject an empty canary step", func(m map[string]any) {
			spec(m)["strategy"] = map[string]any{"canary": map[string]any{"steps": []any{map[string]any{}}}}
		}, "set exactly one of setWeight, pause and analysis"},
		{"reject a canary weight over 100", func(m map[string]any) {
			spec(m)["strategy"] = map[string]any{"canary": map[string]any{"steps": []any{map[string]any{"setWeight": 150}}}}
		}, "should be less than or equal to 100"},
		{"reject credentials in the Prometheus address", func(m map[string]any) {
			tmpl := spec(m)["analysis"].(map[string]any)["templates"].([]any)[0].(map[string]any)
			tmpl["prometheus"] = map[string]any{"address": "https://marina:s3cret@prometheus.example.com"}
		}, "prometheus.address must not hold credentials"},
		{"reject a digest that is not sha256", func(m map[string]any) {
			spec(m)["artifact"].(map[string]any)["digest"] = "sha256:ABC"
		}, "spec.artifact.digest"},
		{"reject a pull request in mode commit", func(m map[string]any) {
			spec(m)["gitWriteBack"].(map[string]any)["mode"] = "commit"
		}, "pullRequest goes with mode pr"},
		{"reject a pull request in the default mode", func(m map[string]any) {
			delete(spec(m)["gitWriteBack"].(map[string]any), "mode")
		}, "pullRequest goes with mode pr"},
		{"reject a forge marina does not talk to", func(m map[string]any) {
			spec(m)["gitWriteBack"].(map[string]any)["pullRequest"] = map[string]any{"forge": "bitbucket"}
		}, "spec.gitWriteBack.pullRequest.forge"},
		{"reject a pull request naming no forge", func(m map[string]any) {
			spec(m)["gitWriteBack"].(map[string]any)["pullRequest"] = map[string]any{"labels": []any{"x"}}
		}, "spec.gitWriteBack.pullRequest.forge"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(valid), &u.Object); err != nil {
				t.Fatal(err)
			}
			tc.edit(u.Object)
			u.SetName(fmt.Sprintf("fraud-%d", i))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := c.Create(ctx, u, client.DryRunAll)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want accepted, got %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}
