package inference_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/inference"
)

func TestLibPathFollowsTheEnvironment(t *testing.T) {
	t.Setenv("ONNXRUNTIME_LIB", "")
	t.Setenv("MARINA_CACHE", "/cache")
	if got, want := inference.LibPath(), "/cache/onnxruntime/1.30.0/libonnxruntime.so.1"; got != want {
		t.Fatalf("LibPath() = %q, want %q", got, want)
	}
	t.Setenv("ONNXRUNTIME_LIB", "/opt/ort.so")
	if got := inference.LibPath(); got != "/opt/ort.so" {
		t.Fatalf("LibPath() = %q, want /opt/ort.so", got)
	}
}

func TestErrNotInBuildIsAMissingRuntimeThatNamesTheWayOut(t *testing.T) {
	t.Parallel()
	if !errors.Is(inference.ErrNotInBuild, inference.ErrNoRuntime) {
		t.Error("errors.Is(ErrNotInBuild, ErrNoRuntime) = false: callers handling a missing runtime would not handle it")
	}
	if errors.Is(inference.ErrNoRuntime, inference.ErrNotInBuild) {
		t.Error("errors.Is(ErrNoRuntime, ErrNotInBuild) = true: a missing library would read as a build without cgo")
	}
	for _, want := range []string{"built without cgo", "marina-serve", "CGO_ENABLED=1"} {
		if msg := inference.ErrNotInBuild.Error(); !strings.Contains(msg, want) {
			t.Errorf("ErrNotInBuild = %q, want it to mention %q", msg, want)
		}
	}
}
