package ci_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/marina-dev/marina/internal/ci"
	"github.com/marina-dev/marina/internal/golden"
	"github.com/marina-dev/marina/internal/model"
)

func TestWriteVersionsShowsWhatAReviewerChecks(t *testing.T) {
	t.Parallel()
	running := &model.Version{Name: "iris-classifier", Version: "1.0.0", Format: "onnx", State: model.StateActive,
		Artifact: model.Artifact{URI: "oci://registry.test/models/iris-classifier@sha256:" + hex('a'), Digest: "sha256:" + hex('b'), Size: 350},
		Metrics:  map[string]float64{"accuracy": 0.97, "latency_p95_ms": 4}}
	next := &model.Version{Name: "iris-classifier", Version: "1.1.0", Format: "onnx", State: model.StateRegistered,
		Artifact: model.Artifact{URI: "models/iris-classifier/artifacts/v1.1.0.onnx", Digest: "sha256:" + hex('c'), Size: 2048},
		Metrics:  map[string]float64{"accuracy": 0.985, "latency_p95_ms": 4, "f1": 0.98},
		Signing:  &model.Signing{Bundle: "models/iris-classifier/v1.1.0.sigstore.json"},
		Image:    &model.Image{Ref: "registry.test/models/iris-classifier", Digest: "sha256:" + hex('d')}}
	for _, tc := range []struct {
		name, file string
		from       *model.Version
	}{
		{"replacing the running version", "versions.md", running},
		{"a first deployment", "versions-first.md", nil},
	} {
		var b bytes.Buffer
		if err := ci.WriteVersions(&b, "prod", tc.from, next); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, filepath.Join("testdata", tc.file), b.Bytes())
	}
}

// hex is a digest's 64 hex digits, all c: plainly a test value.
func hex(c byte) string { return string(bytes.Repeat([]byte{c}, 64)) }
