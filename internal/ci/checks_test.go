package ci_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"github.com/marina-dev/marina/internal/model/onnxtest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/check"
	"github.com/marina-dev/marina/internal/ci"
	"github.com/marina-dev/marina/internal/ci/citest"
	"github.com/marina-dev/marina/internal/gate"
	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

// registerBranch copies model into the example repository as models/iris-classifier/artifacts/v<version>.onnx on
// branch pr, registers it with recorded metrics that pass every gate, and promotes it to staging.
func registerBranch(t *testing.T, model, version string) string {
	t.Helper()
	dir := citest.Repo(t)
	repotest.Git(t, dir, "checkout", "-q", "-b", "pr")
	rel := "models/iris-classifier/artifacts/v" + version + ".onnx"
	repotest.WriteFile(t, dir, rel, model)
	r := open(t, dir)
	unlock, err := r.Lock()
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&registry.Registry{Repo: r}).Register(registry.Registration{Name: "iris-classifier", Version: version,
		File: filepath.Join(dir, rel), Metrics: map[string]float64{"accuracy": 0.97, "latency_p95_ms": 10}})
	unlock()
	if err != nil {
		t.Fatal(err)
	}
	if res.Version.Artifact.URI != rel {
		t.Fatalf("artifact URI %q, want %q", res.Version.Artifact.URI, rel)
	}
	citest.Deploy(t, dir, "iris-classifier", "staging", version)
	citest.Render(t, dir)
	citest.Commit(t, dir, "register and promote iris-classifier "+version)
	return dir
}

func runChecks(t *testing.T, dir, checks string) *ci.Result {
	t.Helper()
	res, err := ci.Run(context.Background(), open(t, dir), ci.Options{Base: "main", Checks: checks, Check: check.Options{Runs: 5, Warmup: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func gateOf(t *testing.T, res *ci.Result, name string) gate.Result {
	t.Helper()
	for _, g := range res.Gates {
		if g.Gate == name {
			return g
		}
	}
	t.Fatalf("no gate %s in %+v", name, res.Gates)
	return gate.Result{}
}

func TestModelChecksJudgeTheMeasuredAccuracyOfTheWorseModel(t *testing.T) {
	t.Parallel()
	inferencetest.Lib(t)
	dir := registerBranch(t, onnxtest.ReadGenerated(t, "iris-classifier-v2-worse.onnx"), "1.1.0")
	res := runChecks(t, dir, ci.ChecksOn)
	if res.Passed || len(res.Checks) != 1 || res.Checks[0].Report == nil || len(res.FailedChecks()) != 0 {
		t.Fatalf("reasons %v, checks %+v", res.Reasons(), res.Checks)
	}
	if acc := res.Checks[0].Report.Metrics["accuracy"]; acc != 83.0/150 {
		t.Fatalf("measured accuracy %v", acc)
	}
	if g := gateOf(t, res, gate.AccuracyMin); g.Passed || !strings.Contains(g.Message, "accuracy 0.553333 is below the minimum 0.9") {
		t.Fatalf("accuracy.min judged the recorded 0.97: %+v", g)
	}
	if g := gateOf(t, res, gate.LatencyP95Max); !g.Passed || *g.Value != res.Checks[0].Report.Latency.P95Ms {
		t.Fatalf("latency gate did not judge the measured p95: %+v", g)
	}
	var md bytes.Buffer
	if err := ci.WriteMarkdown(&md, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| ❌ | `iris-classifier@1.1.0` | `accuracy.min` | 0.9 | 0.553333 | accuracy 0.553333 is below the minimum 0.9",
		"### Model checks",
		"✅ `iris-classifier@1.1.0` in ONNX Runtime (`models/iris-classifier/artifacts/v1.1.0.onnx`): accuracy 0.553333, f1 ",
		"over 5 runs.",
		"| ✅ | `digest` |",
		"| ✅ | `evaluate` | accuracy 0.553333 (83/150)",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	var text bytes.Buffer
	if err := ci.WriteText(&text, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "model checks:\n  ok   iris-classifier@1.1.0") || !strings.Contains(text.String(), "measured: accuracy 0.553333") {
		t.Errorf("text summary:\n%s", text.String())
	}
}

func TestModelChecksPassTheGoodModelRegisteredAsANewVersion(t *testing.T) {
	t.Parallel()
	inferencetest.Lib(t)
	dir := registerBranch(t, repotest.ReadFile(t, repotest.ExamplePath(), "models/iris-classifier/artifacts/v1.0.0.onnx"), "1.0.1")
	res := runChecks(t, dir, ci.ChecksAuto)
	if !res.Passed || len(res.Checks) != 1 || res.Checks[0].Report == nil || !res.Checks[0].Report.Passed {
		t.Fatalf("reasons %v, checks %+v", res.Reasons(), res.Checks)
	}
	rep := res.Checks[0].Report
	if len(rep.Steps) != 7 || rep.Gates != nil || rep.Latency.Runs != 5 {
		t.Fatalf("report %+v", rep)
	}
	if g := gateOf(t, res, gate.AccuracyMin); !g.Passed || *g.Value != rep.Metrics["accuracy"] || *g.Value == 0.97 {
		t.Fatalf("accuracy.min: %+v, measured %v", g, rep.Metrics)
	}
	var b bytes.Buffer
	if err := ci.WriteJUnit(&b, res); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Name  string `xml:"name,attr"`
			Tests int    `xml:"tests,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range doc.Suites {
		if s.Name == "marina ci: model check iris-classifier@1.0.1" && s.Tests == 7 {
			found = true
		}
	}
	if !found {
		t.Fatalf("no model check suite:\n%s", b.String())
	}
}

func TestModelChecksCatchAnArtifactChangedAfterRegistration(t *testing.T) {
	t.Parallel()
	inferencetest.Lib(t)
	good := repotest.ReadFile(t, repotest.ExamplePath(), "models/iris-classifier/artifacts/v1.0.0.onnx")
	dir := registerBranch(t, good, "1.0.1")
	worse := onnxtest.ReadGenerated(t, "iris-classifier-v2-worse.onnx")
	repotest.WriteFile(t, dir, "models/iris-classifier/artifacts/v1.0.1.onnx", worse)
	citest.Commit(t, dir, "overwrite the artifact")
	res := runChecks(t, dir, ci.ChecksAuto)
	failed := res.FailedChecks()
	if res.Passed || len(failed) != 1 {
		t.Fatalf("reasons %v, checks %+v", res.Reasons(), res.Checks)
	}
	steps := failed[0].FailedSteps()
	if len(steps) != 1 || steps[0].Name != check.StepDigest {
		t.Fatalf("failed steps %+v", steps)
	}
	oldDigest := digestOf(t, good)
	newDigest := digestOf(t, worse)
	if !strings.Contains(steps[0].Message, oldDigest) || !strings.Contains(steps[0].Message, newDigest) {
		t.Fatalf("the message does not name both digests (%s, %s): %s", oldDigest, newDigest, steps[0].Message)
	}
	want := "the model check of iris-classifier@1.0.1 failed: digest"
	if !strings.Contains(strings.Join(res.Reasons(), "\n"), want) {
		t.Fatalf("reasons %v", res.Reasons())
	}
}

func digestOf(t *testing.T, data string) string {
	t.Helper()
	d, _, err := model.Digest(strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestModelChecksOffKeepTheRecordedMetrics(t *testing.T) {
	t.Parallel()
	dir := registerBranch(t, onnxtest.ReadGenerated(t, "iris-classifier-v2-worse.onnx"), "1.1.0")
	res := runChecks(t, dir, ci.ChecksOff)
	if !res.Passed || len(res.Checks) != 0 || res.ChecksSkipped != "" {
		t.Fatalf("reasons %v, checks %+v", res.Reasons(), res.Checks)
	}
	if g := gateOf(t, res, gate.AccuracyMin); !g.Passed || *g.Value != 0.97 {
		t.Fatalf("accuracy.min: %+v", g)
	}
}

func TestModelChecksLeaveArtifactsOutsideTheRepositoryToTheRecordedMetrics(t *testing.T) {
	t.Parallel()
	inferencetest.Lib(t)
	dir := citest.Repo(t)
	citest.AddVersion(t, dir, "iris-classifier", "1.0.0", "1.1.0", map[string]float64{"accuracy": 0.97, "latency_p95_ms": 10})
	citest.Edit(t, dir, "models/iris-classifier/v1.1.0.json", func(s string) string {
		return strings.Replace(s, `"models/iris-classifier/artifacts/v1.0.0.onnx"`, `"s3://models/iris/v1.1.0.onnx"`, 1)
	})
	citest.Commit(t, dir, "register from s3")
	res, err := ci.Run(context.Background(), open(t, dir), ci.Options{Base: "HEAD~1", Checks: ci.ChecksOn})
	if err != nil {
		t.Fatal(err)
	}
	want := []ci.ModelCheck{{Model: "iris-classifier", Version: "1.1.0", Note: "not checked: artifact at s3://models/iris/v1.1.0.onnx is not in the repository"}}
	if !res.Passed || !equalJSON(res.Checks, want) || *gateOf(t, res, gate.AccuracyMin).Value != 0.97 {
		t.Fatalf("reasons %v, checks %+v, gates %+v", res.Reasons(), res.Checks, res.Gates)
	}
}

// TestModelChecksWithoutONNXRuntime runs itself in a child process whose ONNXRUNTIME_LIB names a missing file:
// ONNX Runtime loads once per process.
func TestModelChecksWithoutONNXRuntime(t *testing.T) {
	if os.Getenv("MARINA_TEST_NO_ONNXRUNTIME") != "1" {
		t.Parallel()
		cmd := exec.Command(os.Args[0], "-test.run=^TestModelChecksWithoutONNXRuntime$", "-test.v")
		cmd.Env = append(os.Environ(), "MARINA_TEST_NO_ONNXRUNTIME=1", "ONNXRUNTIME_LIB="+filepath.Join(t.TempDir(), "missing.so"))
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestModelChecksWithoutONNXRuntime") {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	dir := registerBranch(t, repotest.ReadFile(t, repotest.ExamplePath(), "models/iris-classifier/artifacts/v1.0.0.onnx"), "1.0.1")
	res := runChecks(t, dir, ci.ChecksAuto)
	if !res.Passed || len(res.Checks) != 0 || res.ChecksSkipped != ci.NoRuntimeNote || *gateOf(t, res, gate.AccuracyMin).Value != 0.97 {
		t.Fatalf("reasons %v, checks %+v, skipped %q", res.Reasons(), res.Checks, res.ChecksSkipped)
	}
	var text, md bytes.Buffer
	if err := ci.WriteText(&text, res); err != nil {
		t.Fatal(err)
	}
	if err := ci.WriteMarkdown(&md, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "model checks:\n  "+ci.NoRuntimeNote+"\n") || !strings.Contains(md.String(), "### Model checks\n\n⏭️ "+ci.NoRuntimeNote+".") {
		t.Fatalf("text:\n%s\nmarkdown:\n%s", text.String(), md.String())
	}
	_, err := ci.Run(context.Background(), open(t, dir), ci.Options{Base: "main", Checks: ci.ChecksOn})
	if !errors.Is(err, inference.ErrNoRuntime) || !strings.Contains(err.Error(), "hack/onnxruntime.sh") {
		t.Fatalf("--checks on without ONNX Runtime: %v", err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	onnxtest.RemoveGenerated()
	os.Exit(code)
}
