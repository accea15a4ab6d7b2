package model_test

import (
	"reflect"
	"testing"

	"github.com/marina-dev/marina/internal/model"
)

func TestChangesSayWhatAPromotionWouldChange(t *testing.T) {
	t.Parallel()
	iris := func(digest string, size, opset int64, metrics map[string]float64) model.Version {
		return model.Version{Format: "onnx", Artifact: model.Artifact{Digest: digest, Size: size}, Metrics: metrics,
			Signature: &model.Signature{Opset: opset,
				Inputs:  []model.Tensor{{Name: "input", DType: "float32", Shape: []int64{-1, 4}}},
				Outputs: []model.Tensor{{Name: "probabilities", DType: "float32", Shape: []int64{-1, 3}}}}}
	}
	v1 := iris("sha256:aa", 350, 17, map[string]float64{"accuracy": 0.98, "recall": 0.9})
	for _, tc := range []struct {
		name string
		cur  model.Version
		want []string
	}{
		{"the same version again", v1, []string{"the same model file"}},
		{"retrained: metrics move", iris("sha256:bb", 350, 17, map[string]float64{"accuracy": 0.9867, "recall": 0.9, "f1": 0.95}),
			[]string{"accuracy 0.98 → 0.9867 (+0.0067)", "f1 0.95 (new)"}},
		{"a new interface, opset and size; a metric gone", func() model.Version {
			v := iris("sha256:cc", 2048, 18, map[string]float64{"accuracy": 0.5})
			v.Signature.Inputs[0].Shape = []int64{-1, 5}
			v.Signing = &model.Signing{Bundle: "models/iris/v2.0.0.sigstore.json"}
			return v
		}(), []string{"size 350 B → 2.0 KiB", "opset 17 → 18", "inputs input float32 [?, 4] → input float32 [?, 5]",
			"accuracy 0.98 → 0.5 (-0.48)", "recall no longer measured (was 0.9)", "unsigned → signed"}},
		{"no signature read, another format", model.Version{Format: "pickle", Artifact: model.Artifact{Digest: "sha256:dd", Size: 350}},
			[]string{"format onnx → pickle", "opset 17 → unknown", "inputs input float32 [?, 4] → not read",
				"outputs probabilities float32 [?, 3] → not read", "accuracy no longer measured (was 0.98)", "recall no longer measured (was 0.9)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := model.Changes(v1, tc.cur); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Changes:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
