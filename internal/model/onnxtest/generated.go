package onnxtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	genOnce sync.Once
	genDir  string
	genErr  error
)

// Generated runs hack/genmodels once per test binary and returns the path of one of the
// files it writes (e.g. "iris-classifier-v2-worse.onnx"). Call RemoveGenerated from TestMain.
func Generated(t testing.TB, name string) string {
	t.Helper()
	genOnce.Do(func() {
		genDir, genErr = os.MkdirTemp("", "marina-genmodels-")
		if genErr != nil {
			return
		}
		out, err := exec.Command("go", "run", "github.com/marina-dev/marina/hack/genmodels", "-out", genDir).CombinedOutput()
		if err != nil {
			genErr = fmt.Errorf("go run hack/genmodels: %w\n%s", err, out)
		}
	})
	if genErr != nil {
		t.Fatal(genErr)
	}
	return filepath.Join(genDir, name)
}

// ReadGenerated returns the content of the file Generated names.
func ReadGenerated(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(Generated(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// RemoveGenerated deletes what Generated wrote, if anything.
func RemoveGenerated() {
	if genDir != "" {
		os.RemoveAll(genDir)
	}
}

// Iris is a small classifier shaped like the example iris model: input "input" [batch,4]
// → "probabilities" [batch,3].
func Iris() Linear {
	return Linear{
		Input: "input", Output: "probabilities", InputShape: []int64{4},
		Weights: []float32{1, 0, -1, 0.5, 0.5, 0.5, -1, 0, 1, 0.25, -0.25, 0},
		Bias:    []float32{0.1, 0.2, 0.3},
	}
}
