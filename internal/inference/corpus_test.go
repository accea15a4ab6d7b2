//go:build cgo

package inference_test

import (
	"errors"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model/onnxtest"
)

// TestRealModelsFromNPMPackagesRun runs the corpus of hack/models.sh: models nobody here wrote, each bringing what
// marina's generated models do not.
func TestRealModelsFromNPMPackagesRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file string
		inputs     []inference.Tensor
		// want maps each output to its shape.
		want map[string][]int64
	}{
		{
			name: "silero VAD v5 takes an int64 scalar sample rate beside its audio and state",
			file: "silero_vad_v5.onnx",
			inputs: []inference.Tensor{
				{Name: "input", DType: inference.Float32, Shape: []int64{1, 512}, Float32: inferencetest.Tone(512)},
				{Name: "state", DType: inference.Float32, Shape: []int64{2, 1, 128}, Float32: make([]float32, 256)},
				{Name: "sr", DType: inference.Int64, Shape: []int64{}, Int64: []int64{16000}},
			},
			want: map[string][]int64{"output": {1, 1}, "stateN": {2, 1, 128}},
		},
		{
			name: "silero VAD v4 takes four inputs, one of them a scalar",
			file: "silero_vad_legacy.onnx",
			inputs: []inference.Tensor{
				{Name: "input", DType: inference.Float32, Shape: []int64{1, 512}, Float32: inferencetest.Tone(512)},
				{Name: "sr", DType: inference.Int64, Shape: []int64{}, Int64: []int64{16000}},
				{Name: "h", DType: inference.Float32, Shape: []int64{2, 1, 64}, Float32: make([]float32, 128)},
				{Name: "c", DType: inference.Float32, Shape: []int64{2, 1, 64}, Float32: make([]float32, 128)},
			},
			want: map[string][]int64{"output": {1, 1}, "hn": {2, 1, 64}, "cn": {2, 1, 64}},
		},
		{
			name:   "openWakeWord's melspectrogram turns 1280 samples into 5 frames of 32 bands",
			file:   "melspectrogram.onnx",
			inputs: []inference.Tensor{{Name: "input", DType: inference.Float32, Shape: []int64{1, 1280}, Float32: inferencetest.Tone(1280)}},
			want:   map[string][]int64{"output": {1, 1, 5, 32}},
		},
		{
			name:   "openWakeWord's speech embedding",
			file:   "embedding_model.onnx",
			inputs: []inference.Tensor{{Name: "input_1", DType: inference.Float32, Shape: []int64{1, 76, 32, 1}, Float32: make([]float32, 76*32)}},
			want:   map[string][]int64{"conv2d_19": {1, 1, 1, 96}},
		},
		{
			name:   "a wake-word model whose input is onnx::Flatten_0 and whose output is 39",
			file:   "hey_rhasspy_v0.1.onnx",
			inputs: []inference.Tensor{{Name: "onnx::Flatten_0", DType: inference.Float32, Shape: []int64{1, 16, 96}, Float32: make([]float32, 16*96)}},
			want:   map[string][]int64{"39": {1, 1}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := run(t, inferencetest.Model(t, tc.file), tc.inputs)
			if len(out) != len(tc.want) {
				t.Fatalf("%d outputs, want %d: %+v", len(out), len(tc.want), out)
			}
			for _, o := range out {
				if want, ok := tc.want[o.Name]; !ok || !slices.Equal(o.Shape, want) || o.Len() != int(product(want)) {
					t.Errorf("output %q: shape %v with %d values, want %v", o.Name, o.Shape, o.Len(), want)
				}
			}
		})
	}
}

func product(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// run loads the model at path, runs inputs through it and closes it, failing the test on an error.
func run(t *testing.T, path string, inputs []inference.Tensor) []inference.Tensor {
	t.Helper()
	s, err := inference.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(inputs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func loadBytes(t *testing.T, build func() ([]byte, error)) (*inference.Session, error) {
	t.Helper()
	return inference.Load(inferencetest.Write(t, build))
}

// TestRunCarriesEveryDTypeRealModelsUse runs generated models with scalar, bool, float16 and string tensors and
// the ai.onnx.ml opset, and checks the values, not only the shapes.
func TestRunCarriesEveryDTypeRealModelsUse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		build  func() ([]byte, error)
		inputs []inference.Tensor
		want   []inference.Tensor
	}{
		{
			name:  "a scalar input and scalar outputs, beside an input named by a JSON string",
			build: onnxtest.Scalars,
			inputs: []inference.Tensor{
				{Name: onnxtest.JSONInputName, DType: inference.Float32, Shape: []int64{2, 3}, Float32: []float32{1, 2, 3, 4, 5, 6}},
				{Name: "scale", DType: inference.Float32, Shape: []int64{}, Float32: []float32{0.5}},
			},
			want: []inference.Tensor{
				{Name: "total", DType: inference.Float32, Shape: []int64{}, Float32: []float32{10.5}},
				{Name: "count", DType: inference.Int64, Shape: []int64{}, Int64: []int64{2}},
			},
		},
		{
			name:  "bool and float16 tensors in and out",
			build: onnxtest.Masked,
			inputs: []inference.Tensor{
				{Name: "mask", DType: inference.Bool, Shape: []int64{1, 3}, Bool: []bool{true, false, true}},
				{Name: "a", DType: inference.Float32, Shape: []int64{1, 3}, Float32: []float32{1, 2, 3}},
				{Name: "b", DType: inference.Float32, Shape: []int64{1, 3}, Float32: []float32{-1, -2, -3}},
				{Name: "half", DType: inference.Float16, Shape: []int64{2, 2}, Float32: []float32{0.5, -1.25, 3, 1000}},
			},
			want: []inference.Tensor{
				{Name: "picked", DType: inference.Float32, Shape: []int64{1, 3}, Float32: []float32{1, -2, 3}},
				{Name: "inverted", DType: inference.Bool, Shape: []int64{1, 3}, Bool: []bool{false, true, false}},
				{Name: "doubled", DType: inference.Float16, Shape: []int64{2, 2}, Float32: []float32{1, -2.5, 6, 2000}},
			},
		},
		{
			name:  "ai.onnx.ml LabelEncoders between int64 and string tensors",
			build: onnxtest.Labels,
			inputs: []inference.Tensor{
				{Name: "class", DType: inference.Int64, Shape: []int64{3}, Int64: []int64{1, 0, 7}},
				{Name: "word", DType: inference.String, Shape: []int64{2}, String: []string{"dog", "émeu"}},
			},
			want: []inference.Tensor{
				{Name: "name", DType: inference.String, Shape: []int64{3}, String: []string{"dog", "cat", "unknown"}},
				{Name: "id", DType: inference.Int64, Shape: []int64{2}, Int64: []int64{1, -1}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := run(t, inferencetest.Write(t, tc.build), tc.inputs)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("outputs\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

// TestWhatTheGoBindingCannotCarryIsAClearError: sequence outputs are refused at load with the fix, a float16
// output of dynamic shape at run time, and neither as a crash or as wrong values.
func TestWhatTheGoBindingCannotCarryIsAClearError(t *testing.T) {
	t.Parallel()
	_, err := loadBytes(t, onnxtest.ZipMap)
	if !errors.Is(err, inference.ErrUnsupported) || !strings.Contains(err.Error(), `output "output_probability" is a sequence`) || !strings.Contains(err.Error(), "zipmap") {
		t.Errorf("loading a ZipMap model: %v, want ErrUnsupported naming the output and the zipmap option", err)
	}
	s, err := loadBytes(t, onnxtest.HalfDynamic)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Run([]inference.Tensor{{Name: "x", DType: inference.Float16, Shape: []int64{1, 2}, Float32: []float32{1, 2}}})
	if !errors.Is(err, inference.ErrUnsupported) || !strings.Contains(err.Error(), `output "y"`) || !strings.Contains(err.Error(), "fixed shape") {
		t.Errorf("a float16 output of dynamic shape: %v, want ErrUnsupported naming the output", err)
	}
}

// TestONNXRuntimeWritesNothingToStderr runs, in a child process, a model that fails inside ONNX Runtime (a
// convolution given 1 sample where it needs 400): the failure comes back as an error without terminal escapes, and
// ORT writes no line of its own to stderr, where it would bypass marina's logger.
func TestONNXRuntimeWritesNothingToStderr(t *testing.T) {
	if os.Getenv("MARINA_TEST_ORT_STDERR") == "1" {
		s, err := inference.Load(inferencetest.Model(t, "melspectrogram.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, err = s.Run([]inference.Tensor{{Name: "input", DType: inference.Float32, Shape: []int64{1, 1}, Float32: []float32{0}}})
		if err == nil || strings.Contains(err.Error(), "\x1b") {
			t.Fatalf("error = %q, want one without terminal escapes", err)
		}
		return
	}
	inferencetest.Model(t, "melspectrogram.onnx")
	cmd := exec.Command(os.Args[0], "-test.run=^TestONNXRuntimeWritesNothingToStderr$")
	cmd.Env = append(os.Environ(), "MARINA_TEST_ORT_STDERR=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s%s", err, out, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Fatalf("ONNX Runtime wrote to stderr:\n%q", stderr.String())
	}
}
