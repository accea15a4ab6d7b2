// Package inferencetest loads ONNX Runtime for tests that need it.
package inferencetest

import (
	"testing"

	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/prereq"
)

// Lib initializes ONNX Runtime and returns the library's path. When the library is missing the test is skipped with
// a hint to run hack/onnxruntime.sh, or fails where prerequisites are required (see package prereq).
func Lib(t testing.TB) string {
	t.Helper()
	if err := inference.Init(); err != nil {
		prereq.Missing(t, err.Error())
	}
	return inference.LibPath()
}
