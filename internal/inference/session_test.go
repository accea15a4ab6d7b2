//go:build cgo

package inference_test

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/model/onnxtest"
)

func load(t *testing.T, l onnxtest.Linear) *inference.Session {
	t.Helper()
	inferencetest.Lib(t)
	s, err := inference.Load(inferencetest.Write(t, l.Bytes))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestInitReportsTheLoadedVersion(t *testing.T) {
	inferencetest.Lib(t)
	if got := inference.Version(); got != inference.RuntimeVersion {
		t.Fatalf("Version() = %q, want %q", got, inference.RuntimeVersion)
	}
	if err := inference.Init(); err != nil {
		t.Fatalf("second Init: %v", err)
	}
}

func TestSessionReportsTheSignatureFromONNXRuntime(t *testing.T) {
	s := load(t, onnxtest.Iris())
	in, out := s.Inputs(), s.Outputs()
	if len(in) != 1 || in[0].Name != "input" || in[0].DType != "float32" || !equal(in[0].Shape, []int64{-1, 4}) {
		t.Fatalf("Inputs() = %+v", in)
	}
	if len(out) != 1 || out[0].Name != "probabilities" || out[0].DType != "float32" || !equal(out[0].Shape, []int64{-1, 3}) {
		t.Fatalf("Outputs() = %+v", out)
	}
}

func TestRunMatchesThePureGoReferenceForABatchOfTwo(t *testing.T) {
	l := onnxtest.Iris()
	s := load(t, l)
	x := [][]float32{{5.1, 3.5, 1.4, 0.2}, {6.7, 3.0, 5.2, 2.3}}
	out, err := s.Run([]inference.Tensor{{Name: "input", DType: "float32", Shape: []int64{2, 4}, Float32: append(append([]float32{}, x[0]...), x[1]...)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Name != "probabilities" || out[0].DType != "float32" || !equal(out[0].Shape, []int64{2, 3}) {
		t.Fatalf("output = %+v", out)
	}
	inferencetest.AssertClose(t, out[0].Float32, append(l.Predict(x[0]), l.Predict(x[1])...))
}

func TestRunIsSafeFromManyGoroutines(t *testing.T) {
	l := onnxtest.Iris()
	s := load(t, l)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				x := []float32{float32(g), float32(i), 1, -1}
				out, err := s.Run([]inference.Tensor{{Name: "input", DType: "float32", Shape: []int64{1, 4}, Float32: x}})
				if err != nil {
					t.Error(err)
					return
				}
				if want := l.Predict(x); !inferencetest.Same(out[0].Float32, want) {
					t.Errorf("goroutine %d run %d: %v, want %v", g, i, out[0].Float32, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestRunRejectsInputsThatDoNotMatchTheModel(t *testing.T) {
	s := load(t, onnxtest.Iris())
	four := []float32{1, 2, 3, 4}
	for name, tc := range map[string]struct {
		in   []inference.Tensor
		want string
	}{
		"an unknown input name":       {[]inference.Tensor{{Name: "x", DType: "float32", Shape: []int64{1, 4}, Float32: four}}, `unknown input "x"`},
		"a missing input":             {nil, `missing input "input"`},
		"an input given twice":        {[]inference.Tensor{{Name: "input", DType: "float32", Shape: []int64{1, 4}, Float32: four}, {Name: "input", DType: "float32", Shape: []int64{1, 4}, Float32: four}}, "given twice"},
		"int64 for a float32 input":   {[]inference.Tensor{{Name: "input", DType: "int64", Shape: []int64{1, 4}, Int64: []int64{1, 2, 3, 4}}}, "dtype int64, the model wants float32"},
		"an unsupported dtype":        {[]inference.Tensor{{Name: "input", DType: "float64", Shape: []int64{1, 4}}}, "not supported"},
		"the wrong rank":              {[]inference.Tensor{{Name: "input", DType: "float32", Shape: []int64{4}, Float32: four}}, "rank 1"},
		"a wrong fixed dimension":     {[]inference.Tensor{{Name: "input", DType: "float32", Shape: []int64{2, 2}, Float32: four}}, "dimension 1 must be 4"},
		"a zero dimension":            {[]inference.Tensor{{Name: "input", DType: "float32", Shape: []int64{0, 4}}}, "want at least 1"},
		"a negative dimension":        {[]inference.Tensor{{Name: "input", DType: "float32", Shape: []int64{-1, 4}, Float32: four}}, "want at least 1"},
		"too few values":              {[]inference.Tensor{{Name: "input", DType: "float32", Shape: []int64{2, 4}, Float32: four}}, "needs 8 values, got 4"},
		"too many values":             {[]inference.Tensor{{Name: "input", DType: "float32", Shape: []int64{1, 4}, Float32: append(four, 5)}}, "needs 4 values, got 5"},
		"a shape that would overflow": {[]inference.Tensor{{Name: "input", DType: "float32", Shape: []int64{math.MaxInt64 / 2, 4}, Float32: four}}, "needs more than"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Run(tc.in)
			if !errors.Is(err, inference.ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want ErrBadInput containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadRejectsAMalformedFileCleanly(t *testing.T) {
	inferencetest.Lib(t)
	full, err := onnxtest.Iris().Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"garbage":   []byte("this is not an ONNX model"),
		"truncated": full[:len(full)/2],
		"empty":     nil,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.onnx")
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := inference.Load(path)
			if !errors.Is(err, model.ErrMalformedONNX) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error = %v, want ErrMalformedONNX naming %s", err, path)
			}
		})
	}
	if _, err := inference.Load(filepath.Join(t.TempDir(), "missing.onnx")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: error = %v, want ErrNotExist", err)
	}
}

func TestRunAfterCloseFails(t *testing.T) {
	s := load(t, onnxtest.Iris())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := s.Run([]inference.Tensor{{Name: "input", DType: "float32", Shape: []int64{1, 4}, Float32: []float32{1, 2, 3, 4}}})
	if !errors.Is(err, inference.ErrClosed) {
		t.Fatalf("error = %v, want ErrClosed", err)
	}
}

// TestMissingLibraryGivesErrNoRuntime runs this test binary again with ONNXRUNTIME_LIB pointing at nothing and at a
// file that is not a library: Init is once per process.
func TestMissingLibraryGivesErrNoRuntime(t *testing.T) {
	if lib := os.Getenv("MARINA_TEST_INIT_LIB"); lib != "" {
		t.Setenv("ONNXRUNTIME_LIB", lib)
		err := inference.Init()
		if !errors.Is(err, inference.ErrNoRuntime) || !strings.Contains(err.Error(), "hack/onnxruntime.sh") || !strings.Contains(err.Error(), "ONNXRUNTIME_LIB") {
			t.Fatalf("Init() = %v, want ErrNoRuntime with the install hint", err)
		}
		if _, err := inference.Load("whatever.onnx"); !errors.Is(err, inference.ErrNoRuntime) {
			t.Fatalf("Load() = %v, want ErrNoRuntime", err)
		}
		if v := inference.Version(); v != "" {
			t.Fatalf("Version() = %q, want empty", v)
		}
		return
	}
	notLib := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.WriteFile(notLib, []byte("not a shared library"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, lib := range []string{"/nonexistent/libonnxruntime.so.1", notLib} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingLibraryGivesErrNoRuntime$", "-test.v")
		cmd.Env = append(os.Environ(), "MARINA_TEST_INIT_LIB="+lib)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("with ONNXRUNTIME_LIB=%s: %v\n%s", lib, err, out)
		}
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
