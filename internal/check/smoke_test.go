package check_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/check"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model/onnxtest"
)

// sileroSample is a sample request for silero VAD v5: 512 samples of audio, its state and the scalar sample rate.
func sileroSample(t *testing.T, sr int) check.Sample {
	t.Helper()
	b, err := json.Marshal(map[string]any{"inputs": []any{
		map[string]any{"name": "input", "datatype": "FP32", "shape": []int{1, 512}, "data": inferencetest.Tone(512)},
		map[string]any{"name": "state", "datatype": "FP32", "shape": []int{2, 1, 128}, "data": make([]float32, 256)},
		map[string]any{"name": "sr", "datatype": "INT64", "shape": []int{}, "data": sr},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return check.Sample{Name: "models/vad/samples/speech.json", Data: b}
}

// TestSmokeTestsRealModelsWithTheShapesOrSamplesTheyNeed runs model check's steps on real models from npm
// packages: a model whose dynamic dimensions only the user knows is not reported broken, and the ways to tell it
// (--input-shape, sample requests) make the smoke inference and the latency run.
func TestSmokeTestsRealModelsWithTheShapesOrSamplesTheyNeed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		model   func(t *testing.T) string
		samples func(t *testing.T) []check.Sample
		shapes  map[string][]int64
		// err is what Run's error must say when the shapes contradict the model.
		err []string
		// smoke is what the smoke step must say; passed and skipped what it must be.
		smoke           []string
		passed, skipped bool
	}{
		{
			name:   "a convolution over a symbolic length without a shape cannot be smoke-tested, and is not failed",
			model:  func(t *testing.T) string { return inferencetest.Model(t, "melspectrogram.onnx") },
			smoke:  []string{"cannot smoke-test without a shape", `input "input" is [?,?]`, "--input-shape", "models/<model>/samples/"},
			passed: true, skipped: true,
		},
		{
			name:   "--input-shape gives the length the convolution needs",
			model:  func(t *testing.T) string { return inferencetest.Model(t, "melspectrogram.onnx") },
			shapes: map[string][]int64{"input": {1, 1280}},
			smoke:  []string{"input [1,1280]", "succeeded"},
			passed: true,
		},
		{
			name:   "a shape too short for the convolution fails with ONNX Runtime's message, without terminal escapes",
			model:  func(t *testing.T) string { return inferencetest.Model(t, "melspectrogram.onnx") },
			shapes: map[string][]int64{"input": {1, 1}},
			smoke:  []string{"inference on generated inputs (input [1,1]) failed", "Invalid input shape"},
		},
		{
			name:    "a sample request carries silero VAD's scalar sample rate",
			model:   func(t *testing.T) string { return inferencetest.Model(t, "silero_vad_v5.onnx") },
			samples: func(t *testing.T) []check.Sample { return []check.Sample{sileroSample(t, 16000)} },
			smoke:   []string{"inference on 1 sample request(s)", "succeeded"},
			passed:  true,
		},
		{
			name:    "a sample request the model refuses fails the smoke step naming the file",
			model:   func(t *testing.T) string { return inferencetest.Model(t, "silero_vad_v5.onnx") },
			samples: func(t *testing.T) []check.Sample { return []check.Sample{sileroSample(t, 44100)} },
			smoke:   []string{"inference on models/vad/samples/speech.json failed"},
		},
		{
			name:   "fixed shapes need nothing, whatever the input is called",
			model:  func(t *testing.T) string { return inferencetest.Model(t, "hey_rhasspy_v0.1.onnx") },
			smoke:  []string{"onnx::Flatten_0 [1,16,96]", "succeeded"},
			passed: true,
		},
		{
			name:   "--input-shape naming no input of the model",
			model:  func(t *testing.T) string { return inferencetest.Model(t, "hey_rhasspy_v0.1.onnx") },
			shapes: map[string][]int64{"onnx::Flatten": {1, 16, 96}},
			err:    []string{`the model has no input "onnx::Flatten"`, `"onnx::Flatten_0"`},
		},
		{
			name:   "--input-shape that contradicts a fixed dimension",
			model:  func(t *testing.T) string { return inferencetest.Model(t, "hey_rhasspy_v0.1.onnx") },
			shapes: map[string][]int64{"onnx::Flatten_0": {1, 15, 96}},
			err:    []string{"--input-shape does not fit the model: onnx::Flatten_0=1,15,96", "dimension 1 must be 16"},
		},
		{
			name:   "--input-shape of another rank",
			model:  func(t *testing.T) string { return inferencetest.Model(t, "hey_rhasspy_v0.1.onnx") },
			shapes: map[string][]int64{"onnx::Flatten_0": {16, 96}},
			err:    []string{"onnx::Flatten_0=16,96", "of rank 3"},
		},
		{
			name:   "generated scalar, bool and float16 inputs",
			model:  func(t *testing.T) string { return inferencetest.Write(t, onnxtest.Masked) },
			smoke:  []string{"mask [1,3], a [1,3], b [1,3], half [2,2]", "succeeded"},
			passed: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := check.Input{Artifact: tc.model(t)}
			if tc.samples != nil {
				in.Samples = tc.samples(t)
			}
			rep, err := check.Run(context.Background(), in, check.Options{Runs: 3, InputShapes: tc.shapes})
			if tc.err != nil {
				// An --input-shape the model contradicts is the user's mistake, not a failed check of the model.
				if !errors.Is(err, check.ErrInputShape) {
					t.Fatalf("err = %v, want check.ErrInputShape", err)
				}
				for _, want := range tc.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := step(rep, check.StepSmoke)
			for _, want := range tc.smoke {
				if !strings.Contains(s.Message, want) {
					t.Errorf("smoke step %q does not say %q", s.Message, want)
				}
			}
			if s.Passed != tc.passed || s.Skipped != tc.skipped || strings.Contains(s.Message, "\x1b") {
				t.Errorf("smoke step %+v, want passed=%v skipped=%v and no terminal escapes", s, tc.passed, tc.skipped)
			}
			if l := step(rep, check.StepLatency); tc.passed && l.Passed != true || tc.passed && !tc.skipped && rep.Latency == nil {
				t.Errorf("latency step %+v after the smoke step passed", l)
			}
			if rep.Passed != tc.passed {
				t.Errorf("report passed = %v, want %v: %+v", rep.Passed, tc.passed, rep.Steps)
			}
		})
	}
}

func TestAModelWithASequenceOutputFailsToLoadWithTheFix(t *testing.T) {
	t.Parallel()
	rep, err := check.Run(context.Background(), check.Input{Artifact: inferencetest.Write(t, onnxtest.ZipMap)}, check.Options{Runs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if s := step(rep, check.StepLoad); s.Passed || !strings.Contains(s.Message, `"output_probability" is a sequence`) || !strings.Contains(s.Message, "zipmap") {
		t.Fatalf("load step: %+v", s)
	}
}

func TestCheckSmokeTestsWithTheModelsSampleRequests(t *testing.T) {
	inferencetest.Lib(t)
	t.Parallel()
	r := exampleRepo(t, map[string]string{
		"models/iris-classifier/samples/setosa.json":    `{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}`,
		"models/iris-classifier/samples/virginica.json": `{"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[[6.7,3.0,5.2,2.3],[6.3,2.5,5.0,1.9]]}]}`,
		"models/iris-classifier/samples/README.md":      "not a sample",
	})
	rep, err := check.Check(context.Background(), r, iris, "1.0.0", check.Options{Runs: 3})
	if err != nil {
		t.Fatal(err)
	}
	if s := step(rep, check.StepSmoke); !s.Passed || !strings.Contains(s.Message, "2 sample request(s) of models/iris-classifier/samples/") {
		t.Fatalf("smoke step: %+v", s)
	}
	if !rep.Passed {
		t.Errorf("report failed: %+v", rep.Steps)
	}
}

func TestParseInputShapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []string
		want map[string][]int64
		err  string
	}{
		{in: []string{"input=1,1280"}, want: map[string][]int64{"input": {1, 1280}}},
		{in: []string{"onnx::Flatten_0=1,16,96", "sr="}, want: map[string][]int64{"onnx::Flatten_0": {1, 16, 96}, "sr": {}}},
		{in: []string{"a=b=2"}, want: map[string][]int64{"a=b": {2}}},
		{in: []string{"input"}, err: "want NAME=D1,D2"},
		{in: []string{"=1"}, err: "want NAME=D1,D2"},
		{in: []string{"input=1,?"}, err: `dimension "?" is not a whole number`},
		{in: []string{"input=0"}, err: "at least 1"},
		{in: []string{"input=1", "input=2"}, err: `input "input" given twice`},
	} {
		t.Run(fmt.Sprint(tc.in), func(t *testing.T) {
			got, err := check.ParseInputShapes(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("= %v, %v, want %v", got, err, tc.want)
			}
		})
	}
}

// FuzzParseInputShapes: no --input-shape value panics the parser, and every shape it accepts has dimensions of at
// least 1 under a non-empty name.
func FuzzParseInputShapes(f *testing.F) {
	for _, seed := range []string{"input=1,1280", "onnx::Flatten_0=1,16,96", "sr=", "a=b=2", "=1", "x=1,,2", "x=-1", "x=99999999999999999999"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		shapes, err := check.ParseInputShapes([]string{v})
		if err != nil {
			return
		}
		for name, shape := range shapes {
			if name == "" {
				t.Fatalf("%q: accepted an empty name", v)
			}
			for _, d := range shape {
				if d < 1 {
					t.Fatalf("%q: accepted dimension %d", v, d)
				}
			}
		}
	})
}
