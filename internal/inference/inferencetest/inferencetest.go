// Package inferencetest loads ONNX Runtime for tests that need it.
package inferencetest

import (
	"os"
	"testing"

	"github.com/marina-dev/marina/internal/inference"
)

// Lib initializes ONNX Runtime and returns the library's path. When the library is missing the test is skipped with
// a hint to run hack/onnxruntime.sh, except with CI=true, where it fails: CI must not pass by skipping.
func Lib(t testing.TB) string {
	t.Helper()
	if err := inference.Init(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return inference.LibPath()
}
