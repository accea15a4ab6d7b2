//go:build !cgo

package inference_test

import (
	"errors"
	"testing"

	"github.com/marina-dev/marina/internal/inference"
)

// Run with CGO_ENABLED=0 go test ./internal/inference/ (make test does).
func TestWithoutCgoEveryEntryPointReturnsErrNotInBuild(t *testing.T) {
	t.Setenv("ONNXRUNTIME_LIB", "/nonexistent/libonnxruntime.so.1") // not what is reported: the build is
	if err := inference.Init(); !errors.Is(err, inference.ErrNotInBuild) {
		t.Errorf("Init() = %v, want ErrNotInBuild", err)
	}
	if s, err := inference.Load("model.onnx"); s != nil || !errors.Is(err, inference.ErrNotInBuild) {
		t.Errorf("Load() = %v, %v, want ErrNotInBuild", s, err)
	}
	if v := inference.Version(); v != "" {
		t.Errorf("Version() = %q, want empty", v)
	}
}
