package cli_test

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/check"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/report"
)

const irisV1 = "models/iris-classifier/artifacts/v1.0.0.onnx"

// exampleDirWith copies examples/ml-platform into a Git repository in a temporary directory, with extra files.
func exampleDirWith(t *testing.T, extra map[string]string) string {
	t.Helper()
	return repotest.Example(t, extra)
}

func readExample(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../examples/ml-platform", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestModelCheckUsageErrors(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, nil)
	wantUsageErrors(t, []usageError{
		{[]string{"--repo", dir, "model", "check", "m"}, "m@VERSION"},                                       // a missing version
		{[]string{"--repo", dir, "model", "check", "m@1"}, "m@1"},                                           // a bad semver
		{[]string{"--repo", dir, "model", "check", "m@1.0.0", "--runs", "0"}, "--runs"},                     // --runs 0
		{[]string{"--repo", dir, "model", "check", "m@1.0.0", "-o", "sarif"}, "-o text, -o json, -o junit"}, // an unknown -o
		{[]string{"--repo", dir, "model", "check", "m@1.0.0", "--input-shape", "1,4"}, "want NAME=D1,D2"},   // an --input-shape without a name
	})
}

func TestModelCheckExitsByTheOutcome(t *testing.T) {
	inferencetest.Lib(t)
	t.Parallel()
	cases := []struct {
		name  string
		extra map[string]string
		args  []string
		code  int
		want  []string
	}{
		{
			name: "the example version passes every check and gate",
			args: []string{"--runs", "5"},
			want: []string{"PASS  evaluate   accuracy 0.98 (147/150)", "PASS  gate accuracy.min", "all 10 checks passed"},
		},
		{
			name:  "a changed artifact fails with exit 1 naming both digests",
			extra: map[string]string{irisV1: readExample(t, "models/vision-gpu/artifacts/v1.0.0.onnx")},
			args:  []string{"--runs", "5"},
			code:  1,
			want:  []string{"FAIL  digest", "sha256:05f6759bd4f2", "checks failed"},
		},
		{
			name: "--input-shape sets the shape of the generated smoke input",
			args: []string{"--runs", "5", "--input-shape", "input=3,4"},
			want: []string{"PASS  smoke      inference on generated inputs (input [3,4]) succeeded"},
		},
		{
			name: "an --input-shape the model contradicts is a usage error (exit 2), not a failed model",
			args: []string{"--runs", "5", "--input-shape", "input=1,5"},
			code: 2,
			want: []string{"--input-shape does not fit the model: input=1,5: the model's input is [?,4]: dimension 1 must be 4"},
		},
		{
			name: "-o json writes the report with the measured metrics",
			args: []string{"--runs", "5", "-o", "json"},
			want: []string{`"accuracy": 0.98`, `"latency_p99_ms"`, `"runs": 5`},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := exampleDirWith(t, c.extra)
			code, out, errOut := marina(t, append([]string{"--repo", dir, "model", "check", "iris-classifier@1.0.0"}, c.args...)...)
			if code != c.code {
				t.Fatalf("exit %d (want %d)\n%s%s", code, c.code, out, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(out+errOut, w) {
					t.Errorf("output lacks %q:\n%s%s", w, out, errOut)
				}
			}
		})
	}
}

func TestModelCheckWritesJUnitToTheOutputFileAndTextToStdout(t *testing.T) {
	inferencetest.Lib(t)
	t.Parallel()
	dir := exampleDirWith(t, nil)
	file := filepath.Join(t.TempDir(), "check.xml")
	out := mustMarina(t, "--repo", dir, "model", "check", "iris-classifier@1.0.0", "--runs", "5", "-o", "junit", "--output-file", file)
	if !strings.Contains(out, "all 10 checks passed") {
		t.Errorf("stdout is not the text report:\n%s", out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc report.JUnitSuites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("JUnit does not parse: %v\n%s", err, b)
	}
	if doc.Tests != 10 || doc.Failures != 0 || doc.Skipped != 1 || len(doc.Suites) != 1 || doc.Suites[0].Cases[0].Name != check.StepArtifact {
		t.Errorf("JUnit = %+v", doc)
	}
}

func TestRegisterEvaluateRecordsTheMeasuredMetrics(t *testing.T) {
	inferencetest.Lib(t)
	t.Parallel()
	const file = "models/iris-classifier/artifacts/v1.1.0.onnx"
	dir := exampleDirWith(t, map[string]string{file: readExample(t, irisV1)})
	mustMarina(t, "--repo", dir, "model", "register", "iris-classifier", "--file", filepath.Join(dir, file), "--version", "1.1.0",
		"--evaluate", "--metric", "accuracy=0.5", "--metric", "auc=0.9")
	data, err := os.ReadFile(filepath.Join(dir, model.File("iris-classifier", "1.1.0")))
	if err != nil {
		t.Fatal(err)
	}
	var v model.Version
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if v.Metrics["accuracy"] != 0.98 {
		t.Errorf("accuracy = %v, want the measured 0.98 over --metric accuracy=0.5", v.Metrics["accuracy"])
	}
	if v.Metrics["auc"] != 0.9 {
		t.Errorf("auc = %v, want --metric's 0.9 kept", v.Metrics["auc"])
	}
	for _, k := range []string{"f1", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms"} {
		if v.Metrics[k] <= 0 {
			t.Errorf("%s not recorded: %v", k, v.Metrics)
		}
	}
}

// TestARealVoiceActivityModelIsRegisteredAndCheckedWithASampleRequest takes silero VAD v5 (from an npm package,
// hack/models.sh) through register and model check: its int64 scalar sample rate is recorded as shape [], and the
// sample request under models/vad/samples/ is what the smoke inference and the latency runs use.
func TestARealVoiceActivityModelIsRegisteredAndCheckedWithASampleRequest(t *testing.T) {
	t.Parallel()
	onnx, err := os.ReadFile(inferencetest.Model(t, "silero_vad_v5.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	const file = "models/vad/artifacts/v5.0.0.onnx"
	audio, _ := json.Marshal(inferencetest.Tone(512))
	dir := exampleDirWith(t, map[string]string{
		file: string(onnx),
		"models/vad/samples/tone.json": `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,512],"data":` + string(audio) + `},` +
			`{"name":"state","datatype":"FP32","shape":[2,1,128],"data":[` + strings.TrimSuffix(strings.Repeat("0,", 256), ",") + `]},` +
			`{"name":"sr","datatype":"INT64","shape":[],"data":16000}]}`,
	})
	mustMarina(t, "--repo", dir, "model", "register", "vad", "--file", filepath.Join(dir, file), "--version", "5.0.0", "--metric", "accuracy=0.95")
	var v model.Version
	if err := json.Unmarshal([]byte(repotest.ReadFile(t, dir, model.File("vad", "5.0.0"))), &v); err != nil {
		t.Fatal(err)
	}
	if in := v.Signature.Inputs; len(in) != 3 || in[2].Name != "sr" || in[2].DType != "int64" || in[2].Shape == nil || len(in[2].Shape) != 0 {
		t.Errorf("inputs recorded as %+v, want sr last, int64 with shape []", in)
	}
	out := mustMarina(t, "--repo", dir, "model", "check", "vad@5.0.0", "--runs", "5")
	for _, want := range []string{"PASS  signature", "PASS  smoke      inference on 1 sample request(s) of models/vad/samples/ succeeded", "PASS  latency"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
