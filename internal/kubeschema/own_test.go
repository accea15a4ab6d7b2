package kubeschema_test

import (
	"testing"

	"github.com/marina-dev/marina/internal/kubeschema/kubeschematest"
)

// modelDeployment uses every field of the marina.dev API that render emits, and the ones it does not yet.
const modelDeployment = `apiVersion: marina.dev/v1alpha1
kind: ModelDeployment
metadata: {name: fraud, namespace: models-prod}
spec:
  model: fraud
  version: 2.0.0-rc.1
  artifact: {uri: s3://models/fraud/2.0.0.onnx, digest: "sha256:05f6759bd4f24b056f0d290267459d5b63dcc1f451fd702ee5796f4179c78cf5", size: 350, format: onnx}
  runtime:
    image: ghcr.io/marina-dev/marina-serve:0.1.0
    port: 8080
    resources: {requests: {cpu: 250m, nvidia.com/gpu: "1"}, limits: {memory: 512Mi, nvidia.com/gpu: 1}}
    nodeSelector: {nvidia.com/gpu.present: "true"}
    tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  config: {configMapName: fraud-config-2fdf41427b}
  scaling: {keda: {min: 0, max: 20, query: "sum(rate(marina_requests_total[1m]))", threshold: "50", serverAddress: "http://prometheus:9090"}}
  strategy:
    canary:
      steps:
        - setWeight: 10
        - pause: {duration: 10m}
        - analysis: {template: error-rate}
        - pause: {}
  analysis:
    templates:
      - name: error-rate
        prometheus: {address: "http://prometheus.monitoring.svc:9090"}
        metrics:
          - {name: errors, query: "sum(rate(errors[1m]))", failureCondition: "result[0] > 0.01", interval: 1m, count: 5, failureLimit: 1, inconclusiveLimit: 2, consecutiveErrorLimit: 4}
  gitWriteBack: {repo: "https://git.example.com/ml-platform.git", branch: main, secretRef: {name: git}, mode: pr}
  progressDeadlineSeconds: 600
status:
  observedGeneration: 2
  conditions: [{type: Ready, status: "False", reason: Progressing, message: step 2 of 4, lastTransitionTime: "2026-11-25T16:35:26Z"}]
  strategy: Canary
  currentStepIndex: 1
  stepStartTime: "2026-11-25T16:35:26Z"
  stableVersion: 1.0.0
  canaryVersion: 2.0.0-rc.1
  weights: {stable: 90, canary: 10}
  analysisRuns: [{name: error-rate-2, template: error-rate, phase: Running, successful: 2, error: 1, message: timeout, startedAt: "2026-11-25T16:35:26Z"}]
`

func TestBuiltinKnowsMarinasOwnModelDeployment(t *testing.T) {
	t.Parallel()
	v := builtin(t)
	if !v.Has("marina.dev/v1alpha1", "ModelDeployment") {
		t.Fatalf("no ModelDeployment among %d builtin kinds", len(v.Kinds()))
	}
	if err := v.Validate(object(t, modelDeployment)); err != nil {
		t.Fatalf("want valid, got %v", err)
	}
	steps := func(m map[string]any) []any { return dig(m, "spec", "strategy", "canary")["steps"].([]any) }
	tests := []struct {
		name      string
		edit      func(m map[string]any)
		wantField string
		wantMsg   string
	}{
		{"catch a canary weight over 100", func(m map[string]any) {
			steps(m)[0].(map[string]any)["setWeight"] = 150
		}, "spec.strategy.canary.steps[0].setWeight", "maximum"},
		{"catch an unknown spec field", func(m map[string]any) {
			spec(m)["replicaz"] = 2
		}, "spec.replicaz", "unknown field"},
		{"catch a digest that is not sha256", func(m map[string]any) {
			dig(m, "spec", "artifact")["digest"] = "md5:abc"
		}, "spec.artifact.digest", "does not match pattern"},
		{"catch a version that is not semver", func(m map[string]any) {
			spec(m)["version"] = "v2"
		}, "spec.version", "does not match pattern"},
		{"catch an unknown artifact format", func(m map[string]any) {
			dig(m, "spec", "artifact")["format"] = "pickle"
		}, "spec.artifact.format", "must be one of"},
		{"catch a malformed pause duration", func(m map[string]any) {
			steps(m)[1].(map[string]any)["pause"] = map[string]any{"duration": "ten minutes"}
		}, "spec.strategy.canary.steps[1].pause.duration", "does not match pattern"},
		{"catch a shadow weight over 100 in status", func(m map[string]any) {
			dig(m, "status", "weights")["shadow"] = 101
		}, "status.weights.shadow", "maximum"},
		{"catch a write-back mode other than commit or pr", func(m map[string]any) {
			dig(m, "spec", "gitWriteBack")["mode"] = "push"
		}, "spec.gitWriteBack.mode", "must be one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := object(t, modelDeployment)
			tt.edit(m)
			wantOneFieldError(t, v.Validate(m), tt.wantField, tt.wantMsg)
		})
	}
}

func TestAddCRDsReplacesMarinasOwnModelDeployment(t *testing.T) {
	t.Parallel()
	// A newer controller's CRD, passed with --crds, whose spec accepts anything.
	file := kubeschematest.WriteCRD(t, t.TempDir(), "marina.dev", "ModelDeployment", "v1alpha1", `type: object
properties:
  spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
`)
	v := builtin(t, file)
	m := object(t, "apiVersion: marina.dev/v1alpha1\nkind: ModelDeployment\nmetadata: {name: fraud}\nspec: {newField: 1}\n")
	if err := v.Validate(m); err != nil {
		t.Fatalf("want the added CRD to replace marina's own, got %v", err)
	}
	if err := builtin(t).Validate(m); err == nil {
		t.Fatal("AddCRDs on one Validator changed the builtin ModelDeployment of another")
	}
}
