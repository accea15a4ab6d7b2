package main

import (
	"bytes"
	"fmt"
	"github.com/marina-dev/marina/internal/golden"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/model/onnxtest"
)

// Accuracies of the iris models on the evaluation set; gates in examples and e2e tests rely on them.
const (
	wantV1Accuracy = 147.0 / 150
	wantV2Accuracy = 83.0 / 150
	// wantRetrainedAccuracy and wantRetrainedAgreement (with v1's predicted class) make the retrained model the
	// good version a shadow rollout's agreement gate lets through, and v2 (wantV2Agreement) the bad one.
	wantRetrainedAccuracy  = 148.0 / 150
	wantRetrainedAgreement = 147.0 / 150
	wantV2Agreement        = 80.0 / 150
)

func generated(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := generate(dir); err != nil {
		t.Fatalf("generate: %v", err)
	}
	return dir
}

func TestGeneratedModelsInspectAsTheirSignature(t *testing.T) {
	t.Parallel()
	dir := generated(t)
	iris := model.Inspection{
		Format: model.FormatONNX, Opset: 17, IRVersion: 8, Producer: "marina-genmodels",
		Inputs:  []model.Tensor{{Name: "input", DType: "float32", Shape: []int64{-1, 4}}},
		Outputs: []model.Tensor{{Name: "probabilities", DType: "float32", Shape: []int64{-1, 3}}},
	}
	tests := []struct {
		name string
		file string
		want model.Inspection
	}{
		{name: "iris v1 takes 4 features and returns 3 probabilities", file: IrisV1, want: iris},
		{name: "iris v2 has the same signature as v1", file: IrisV2, want: iris},
		{name: "the retrained iris model has the same signature as v1", file: IrisV1Retrained, want: iris},
		{
			name: "vision model takes a batch of 3x32x32 images and returns 10 logits",
			file: VisionGPU,
			want: model.Inspection{
				Format: model.FormatONNX, Opset: 17, IRVersion: 8, Producer: "marina-genmodels",
				Inputs:  []model.Tensor{{Name: "image", DType: "float32", Shape: []int64{-1, 3, 32, 32}}},
				Outputs: []model.Tensor{{Name: "logits", DType: "float32", Shape: []int64{-1, 10}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := model.Inspect(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Inspect\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	fi, err := os.Stat(filepath.Join(dir, VisionGPU))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() >= 200<<10 {
		t.Errorf("%s is %d bytes, want < 200 KiB", VisionGPU, fi.Size())
	}
}

func TestIrisModelsHaveKnownAccuracies(t *testing.T) {
	t.Parallel()
	train, eval := irisSets()
	w, b := fitIris(train)
	v1, v2, retrained := irisModel(w, b), irisModel(worsen(w), b), irisModel(fitIris(irisData(retrainSeed, 50)))
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{name: "v1 classifies the evaluation set well", got: accuracy(v1, eval), want: wantV1Accuracy},
		{name: "v2 confuses versicolor and virginica and fails a 0.9 gate", got: accuracy(v2, eval), want: wantV2Accuracy},
		{name: "the retrained model classifies the evaluation set well", got: accuracy(retrained, eval), want: wantRetrainedAccuracy},
		{name: "the retrained model predicts v1's class almost always", got: agreement(v1, retrained, eval), want: wantRetrainedAgreement},
		{name: "v2 predicts v1's class on about half", got: agreement(v1, v2, eval), want: wantV2Agreement},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Errorf("accuracy = %.4f, want %.4f", tt.got, tt.want)
			}
		})
	}
}

// agreement is the share of examples on which a and b predict the same class.
func agreement(a, b onnxtest.Linear, data []example) float64 {
	same := 0
	for _, e := range data {
		if onnxtest.Argmax(a.Predict(e.x[:])) == onnxtest.Argmax(b.Predict(e.x[:])) {
			same++
		}
	}
	return float64(same) / float64(len(data))
}

func TestEvaluationSetIsBalancedCSV(t *testing.T) {
	t.Parallel()
	content, err := os.ReadFile(filepath.Join(generated(t), IrisEval))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(content), "\n"), "\n")
	if lines[0] != "sepal_length,sepal_width,petal_length,petal_width,label" {
		t.Errorf("header = %q", lines[0])
	}
	counts := map[string]int{}
	for _, l := range lines[1:] {
		fields := strings.Split(l, ",")
		if len(fields) != 5 {
			t.Fatalf("row %q has %d fields, want 5", l, len(fields))
		}
		counts[fields[4]]++
	}
	if want := map[string]int{"setosa": 50, "versicolor": 50, "virginica": 50}; !reflect.DeepEqual(counts, want) {
		t.Errorf("labels = %v, want %v", counts, want)
	}
}

// TestGenerationIsDeterministic pins the bytes of every file: a change to the generator, or to a dependency's
// marshalling, shows up here rather than as an unexplained diff in the committed examples.
func TestGenerationIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := generated(t), generated(t)
	var sums bytes.Buffer
	for _, name := range []string{IrisV1, IrisV2, IrisV1Retrained, VisionGPU, IrisEval} {
		ca, err := os.ReadFile(filepath.Join(a, name))
		if err != nil {
			t.Fatal(err)
		}
		cb, err := os.ReadFile(filepath.Join(b, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ca, cb) {
			t.Errorf("%s differs between two runs", name)
		}
		d, _, err := model.Digest(bytes.NewReader(ca))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sums, "%s  %s\n", strings.TrimPrefix(d, model.DigestPrefix), name)
	}
	golden.Check(t, filepath.Join("testdata", "SHA256SUMS"), sums.Bytes())
}
