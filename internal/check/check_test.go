package check_test

import (
	"context"
	"encoding/xml"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/model/onnxtest"
	"github.com/marina-dev/marina/internal/report"

	"github.com/marina-dev/marina/internal/check"
	"github.com/marina-dev/marina/internal/gate"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

const (
	example  = "../../examples/ml-platform"
	iris     = "iris-classifier"
	v1File   = "models/iris-classifier/artifacts/v1.0.0.onnx"
	evalRows = 150
)

func TestMain(m *testing.M) {
	code := m.Run()
	onnxtest.RemoveGenerated()
	os.Exit(code)
}

// exampleRepo copies examples/ml-platform into a Git repository in a temporary directory, with extra files.
func exampleRepo(t *testing.T, extra map[string]string) *repo.Repo {
	t.Helper()
	return repotest.Open(t, repotest.Example(t, extra))
}

func register(t *testing.T, r *repo.Repo, reg registry.Registration) {
	t.Helper() // repotest.Open holds the write lock
	if _, err := (&registry.Registry{Repo: r}).Register(reg); err != nil {
		t.Fatal(err)
	}
}

func step(rep *check.Report, name string) check.Step {
	for _, s := range rep.Steps {
		if s.Name == name {
			return s
		}
	}
	return check.Step{Name: name, Message: "(not run)"}
}

func gateResult(rep *check.Report, name string) gate.Result {
	for _, g := range rep.Gates {
		if g.Gate == name {
			return g
		}
	}
	return gate.Result{Gate: name, Message: "(not checked)"}
}

func TestCheckMeasuresTheExampleModels(t *testing.T) {
	inferencetest.Lib(t)
	t.Parallel()
	v2 := onnxtest.ReadGenerated(t, "iris-classifier-v2-worse.onnx")
	cases := []struct {
		name    string
		extra   map[string]string
		setup   func(t *testing.T, r *repo.Repo)
		version string
		opts    check.Options
		assert  func(t *testing.T, rep *check.Report)
	}{
		{
			name:    "iris v1 scores 147 of 150 and passes the gates",
			version: "1.0.0",
			assert: func(t *testing.T, rep *check.Report) {
				if !rep.Passed {
					t.Errorf("report failed: %+v", rep)
				}
				ev := rep.Evaluation
				if ev == nil || ev.Correct != 147 || ev.Examples != evalRows || *ev.Accuracy != 0.98 || rep.Metrics["accuracy"] != 0.98 {
					t.Fatalf("evaluation = %+v, want 147/150 = 0.98", ev)
				}
				if f1 := rep.Metrics["f1"]; f1 <= 0.97 || f1 >= 0.99 {
					t.Errorf("f1 = %v, want about 0.98", f1)
				}
				if g := gateResult(rep, gate.AccuracyMin); !g.Passed || g.Skipped {
					t.Errorf("accuracy.min: %+v", g)
				}
				if g := gateResult(rep, gate.AccuracyMaxRegression); !g.Skipped {
					t.Errorf("accuracy.maxRegression against itself should be skipped: %+v", g)
				}
			},
		},
		{
			name: "iris v2-worse scores 83 of 150 and fails the accuracy gates",
			extra: map[string]string{
				"models/iris-classifier/artifacts/v1.1.0.onnx": v2,
			},
			setup: func(t *testing.T, r *repo.Repo) {
				register(t, r, registry.Registration{Name: iris, Version: "1.1.0", File: filepath.Join(r.Root, "models/iris-classifier/artifacts/v1.1.0.onnx")})
			},
			version: "1.1.0",
			assert: func(t *testing.T, rep *check.Report) {
				if rep.Passed {
					t.Error("report passed")
				}
				if ev := rep.Evaluation; ev == nil || ev.Correct != 83 || rep.Metrics["accuracy"] != 83.0/150 {
					t.Fatalf("evaluation = %+v, want 83/150", ev)
				}
				if s := step(rep, check.StepEvaluate); !s.Passed {
					t.Errorf("evaluate is a measurement, not a judgement: %+v", s)
				}
				for _, g := range []string{gate.AccuracyMin, gate.AccuracyMaxRegression} {
					if r := gateResult(rep, g); r.Passed {
						t.Errorf("%s passed: %+v", g, r)
					}
				}
				if r := gateResult(rep, gate.AccuracyMaxRegression); !strings.Contains(r.Message, "iris-classifier@1.0.0 in prod") {
					t.Errorf("regression is not measured against prod's 1.0.0: %s", r.Message)
				}
				if r := gateResult(rep, gate.LatencyP95Max); !r.Passed {
					t.Errorf("latency gate: %+v", r)
				}
			},
		},
		{
			name:    "an artifact changed since registration fails the digest step naming both digests",
			extra:   map[string]string{v1File: v2},
			version: "1.0.0",
			assert: func(t *testing.T, rep *check.Report) {
				s := step(rep, check.StepDigest)
				if s.Passed || rep.Passed || !strings.Contains(s.Message, "sha256:05f6759bd4f2") || strings.Count(s.Message, "sha256:") != 2 {
					t.Fatalf("digest step: %+v", s)
				}
			},
		},
		{
			name:    "a malformed ONNX file fails the load step cleanly and stops there",
			version: "1.0.0",
			opts:    check.Options{File: "testdata/not-a-model.onnx"},
			assert: func(t *testing.T, rep *check.Report) {
				if s := step(rep, check.StepLoad); s.Passed || !strings.Contains(s.Message, "cannot load") {
					t.Fatalf("load step: %+v", s)
				}
				if s := step(rep, check.StepSmoke); s.Message != "(not run)" {
					t.Errorf("smoke ran after a failed load: %+v", s)
				}
				if rep.Passed {
					t.Error("report passed")
				}
			},
		},
		{
			name: "a remote artifact asks for a local copy with --file",
			setup: func(t *testing.T, r *repo.Repo) {
				register(t, r, registry.Registration{Name: iris, Version: "2.0.0", File: filepath.Join(r.Root, v1File), URI: "s3://bucket/iris.onnx"})
			},
			version: "2.0.0",
			assert: func(t *testing.T, rep *check.Report) {
				if s := step(rep, check.StepArtifact); s.Passed || !strings.Contains(s.Message, "cannot fetch s3://") || !strings.Contains(s.Message, "--file") {
					t.Fatalf("artifact step: %+v", s)
				}
			},
		},
		{
			name: "a remote artifact is checked from the local copy given with --file",
			setup: func(t *testing.T, r *repo.Repo) {
				register(t, r, registry.Registration{Name: iris, Version: "2.0.0", File: filepath.Join(r.Root, v1File), URI: "s3://bucket/iris.onnx"})
			},
			version: "2.0.0",
			opts:    check.Options{File: filepath.Join(example, v1File)},
			assert: func(t *testing.T, rep *check.Report) {
				if s := step(rep, check.StepDigest); !s.Passed {
					t.Fatalf("digest step: %+v", s)
				}
				if rep.Metrics["accuracy"] != 0.98 {
					t.Errorf("accuracy = %v", rep.Metrics["accuracy"])
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := exampleRepo(t, c.extra)
			if c.setup != nil {
				c.setup(t, r)
			}
			c.opts.Runs = 5
			rep, err := check.Check(context.Background(), r, iris, c.version, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			c.assert(t, rep)
		})
	}
}

func TestLatencyPercentilesAreOrderedAndReportTheNumberOfRuns(t *testing.T) {
	inferencetest.Lib(t)
	t.Parallel()
	rep, err := check.Run(context.Background(), check.Input{Artifact: filepath.Join(example, v1File)}, check.Options{Runs: 37, Warmup: 3})
	if err != nil {
		t.Fatal(err)
	}
	l := rep.Latency
	if l == nil || l.Runs != 37 || l.Warmup != 3 {
		t.Fatalf("latency = %+v, want 37 runs after 3 warm-up", l)
	}
	if l.P50Ms <= 0 || l.P50Ms > l.P95Ms || l.P95Ms > l.P99Ms {
		t.Errorf("percentiles not ordered: %+v", l)
	}
	if rep.Metrics[check.MetricLatencyP50] != l.P50Ms || rep.Metrics[check.MetricLatencyP95] != l.P95Ms || rep.Metrics[check.MetricLatencyP99] != l.P99Ms {
		t.Errorf("metrics %v do not match %+v", rep.Metrics, l)
	}
	if s := step(rep, check.StepEvaluate); !s.Skipped {
		t.Errorf("evaluation without a set should be skipped: %+v", s)
	}
}

func TestReportsAreWrittenAsTextJSONAndParseableJUnit(t *testing.T) {
	inferencetest.Lib(t)
	t.Parallel()
	r := exampleRepo(t, map[string]string{v1File: onnxtest.ReadGenerated(t, "iris-classifier-v2-worse.onnx")})
	rep, err := check.Check(context.Background(), r, iris, "1.0.0", check.Options{Runs: 3})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := report.Write(&b, report.FormatJUnit, rep, report.Options{}); err != nil {
		t.Fatal(err)
	}
	var doc report.JUnitSuites
	if err := xml.Unmarshal([]byte(b.String()), &doc); err != nil {
		t.Fatalf("JUnit does not parse: %v\n%s", err, b.String())
	}
	if doc.Tests != len(rep.Steps)+len(rep.Gates) || doc.Failures != rep.Failures() || doc.Failures == 0 {
		t.Errorf("JUnit counts tests=%d failures=%d, report has %d steps, %d gates, %d failures", doc.Tests, doc.Failures, len(rep.Steps), len(rep.Gates), rep.Failures())
	}
	b.Reset()
	if err := report.Write(&b, report.FormatText, rep, report.Options{}); err != nil || !strings.Contains(b.String(), "FAIL  digest") {
		t.Errorf("text: %v\n%s", err, b.String())
	}
}

func TestAVersionWithoutAnEvaluationSetIsJudgedOnItsRecordedMetrics(t *testing.T) {
	inferencetest.Lib(t)
	t.Parallel()
	r := exampleRepo(t, nil)
	rep, err := check.Check(context.Background(), r, "vision-gpu", "1.0.0", check.Options{Runs: 3})
	if err != nil {
		t.Fatal(err)
	}
	if s := step(rep, check.StepEvaluate); !s.Skipped || !strings.Contains(s.Message, "models/vision-gpu/eval") {
		t.Errorf("evaluate: %+v", s)
	}
	if g := gateResult(rep, gate.AccuracyMin); g.Passed || !strings.Contains(g.Message, "no accuracy metric recorded") {
		t.Errorf("accuracy.min without a recorded accuracy: %+v", g)
	}
	if g := gateResult(rep, gate.LatencyP95Max); !g.Passed || g.Value == nil || *g.Value != rep.Latency.P95Ms {
		t.Errorf("latency gate does not judge the measured p95: %+v", g)
	}
}

func TestMeasuredMetricsReplaceRecordedOnesAndTheRestStay(t *testing.T) {
	t.Parallel()
	v := &model.Version{Name: "iris", Version: "1.0.0", Metrics: map[string]float64{"accuracy": 0.9, "f1": 0.8}}
	rep := &check.Report{Metrics: map[string]float64{"accuracy": 0.95, "latency_p95_ms": 3}}
	got := rep.Measured(v)
	want := map[string]float64{"accuracy": 0.95, "f1": 0.8, "latency_p95_ms": 3}
	if !maps.Equal(got.Metrics, want) || got.Name != "iris" {
		t.Errorf("measured %+v, want metrics %v", got, want)
	}
	if v.Metrics["accuracy"] != 0.9 || len(v.Metrics) != 2 {
		t.Errorf("Measured changed the recorded version: %v", v.Metrics)
	}
}
