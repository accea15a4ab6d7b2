package ci_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"github.com/marina-dev/marina/internal/golden"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/check"
	"github.com/marina-dev/marina/internal/ci"
	"github.com/marina-dev/marina/internal/ci/citest"
	"github.com/marina-dev/marina/internal/gate"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/validate"
)

func open(t *testing.T, dir string) *repo.Repo {
	t.Helper()
	r, err := repo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func detect(t *testing.T, dir, base string) *ci.ChangeSet {
	t.Helper()
	cs, err := ci.Detect(open(t, dir), base)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func run(t *testing.T, dir, base string) *ci.Result {
	t.Helper()
	res, err := ci.Run(context.Background(), open(t, dir), ci.Options{Base: base})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// promoteBranch registers iris-classifier 1.1.0 with metrics and deploys it to staging on branch pr.
func promoteBranch(t *testing.T, metrics map[string]float64) string {
	t.Helper()
	dir := citest.Repo(t)
	repotest.Git(t, dir, "checkout", "-q", "-b", "pr")
	citest.AddVersion(t, dir, "iris-classifier", "1.0.0", "1.1.0", metrics)
	citest.Deploy(t, dir, "iris-classifier", "staging", "1.1.0")
	citest.Render(t, dir)
	citest.Commit(t, dir, "promote iris-classifier 1.1.0 to staging")
	return dir
}

func TestDetectFindsExactlyThePromotedModelAndEnvironment(t *testing.T) {
	t.Parallel()
	dir := promoteBranch(t, map[string]float64{"accuracy": 0.97, "latency_p95_ms": 10})
	for _, base := range []string{"main", ""} {
		cs := detect(t, dir, base)
		if cs.Everything || cs.Project || cs.Infrastructure || cs.GitOps || cs.CI {
			t.Errorf("base %q: more than the model in scope: %+v", base, cs)
		}
		want := []ci.ModelChange{{Name: "iris-classifier", Versions: []ci.VersionChange{{Version: "1.1.0", Change: ci.Added}}}}
		if !equalJSON(cs.Models, want) {
			t.Errorf("base %q: models %+v", base, cs.Models)
		}
		wantApps := []ci.ApplicationChange{{Model: "iris-classifier", Envs: []ci.EnvChange{{Env: "staging", From: "1.0.0", To: "1.1.0", Spec: true, Rendered: true}}}}
		if !equalJSON(cs.Applications, wantApps) {
			t.Errorf("base %q: applications %+v", base, cs.Applications)
		}
		if !cs.InScope("iris-classifier", "staging") || cs.InScope("vision-gpu", "staging") {
			t.Errorf("base %q: scope wrong", base)
		}
	}
	if cs := detect(t, dir, ""); cs.BaseRef != "merge base with main" {
		t.Errorf("default base: %q", cs.BaseRef)
	}
}

func TestDetectPutsEverythingInScopeWhenMarinaYAMLChanges(t *testing.T) {
	t.Parallel()
	dir := citest.Repo(t)
	citest.Edit(t, dir, "marina.yaml", func(s string) string { return strings.Replace(s, "min: 0.9", "min: 0.95", 1) })
	citest.Commit(t, dir, "raise the accuracy gate")
	cs := detect(t, dir, "HEAD~1")
	if !cs.Everything || !cs.Project || cs.Reason != "marina.yaml changed" || !slices.Equal(cs.Files, []string{"marina.yaml"}) {
		t.Fatalf("%+v", cs)
	}
	if !cs.InScope("vision-gpu", "staging") || !cs.InScope("anything", "prod") {
		t.Fatal("not everything is in scope")
	}
}

func TestDetectTreatsTheFirstCommitAsEverythingChanged(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, map[string]string{"infrastructure/base/kustomization.yaml": "resources: []\n"})
	cs := detect(t, dir, "")
	if !cs.Everything || cs.Base != "" || !cs.Infrastructure || !cs.Project {
		t.Fatalf("%+v", cs)
	}
}

func TestDetectComparesSettingsPerEnvironment(t *testing.T) {
	t.Parallel()
	dir := citest.Repo(t)
	citest.Edit(t, dir, "applications/iris-classifier/model.yaml", func(s string) string {
		return strings.Replace(s, "    prod:\n      version: 1.0.0\n", "    prod:\n      version: 1.0.0\n      replicas: 4\n", 1)
	})
	citest.Edit(t, dir, "infrastructure/overlays/prod/kustomization.yaml", func(s string) string { return s + "# tuned\n" })
	citest.Commit(t, dir, "prod replicas, without rendering")
	cs := detect(t, dir, "HEAD~1")
	want := []ci.ApplicationChange{{Model: "iris-classifier", Envs: []ci.EnvChange{{Env: "prod", From: "1.0.0", To: "1.0.0", Spec: true}}}}
	if !equalJSON(cs.Applications, want) || len(cs.Models) != 0 || !cs.Infrastructure || cs.Everything {
		t.Fatalf("%+v", cs)
	}
}

func TestDetectCountsAFileBesideModelYAMLForEveryEnvironment(t *testing.T) {
	t.Parallel()
	dir := citest.Repo(t)
	citest.Edit(t, dir, "applications/iris-classifier/config.yaml", func(s string) string { return s + "# changed\n" })
	citest.Commit(t, dir, "config")
	cs := detect(t, dir, "HEAD~1")
	a, ok := cs.Application("iris-classifier")
	if !ok || len(a.Envs) != 2 || a.Envs[0].Env != "staging" || a.Envs[1].Env != "prod" || !a.Envs[0].Spec {
		t.Fatalf("%+v", cs.Applications)
	}
}

func TestDetectWorksOnADetachedHeadAsCICheckoutsAre(t *testing.T) {
	t.Parallel()
	dir := promoteBranch(t, map[string]float64{"accuracy": 0.97, "latency_p95_ms": 10})
	repotest.Git(t, dir, "checkout", "-q", "--detach", "pr")
	cs := detect(t, dir, "main")
	if len(cs.Applications) != 1 || cs.Head != repotest.Git(t, dir, "rev-parse", "pr") {
		t.Fatalf("%+v", cs)
	}
}

func TestDetectRefusesAnUnknownBase(t *testing.T) {
	t.Parallel()
	dir := citest.Repo(t)
	_, err := ci.Detect(open(t, dir), "origin/nope")
	if !errors.Is(err, ci.ErrBase) || !strings.Contains(err.Error(), "fetch-depth") {
		t.Fatalf("%v", err)
	}
}

func TestRunPassesACleanPromotion(t *testing.T) {
	t.Parallel()
	dir := promoteBranch(t, map[string]float64{"accuracy": 0.97, "latency_p95_ms": 10})
	res := run(t, dir, "main")
	if !res.Passed || len(res.Stale) != 0 || res.Errors() != 0 {
		t.Fatalf("reasons %v, stale %v, findings %+v", res.Reasons(), res.Stale, res.Validate.Findings)
	}
	var gates []string
	for _, g := range res.Gates {
		gates = append(gates, g.Model+"@"+g.Version+" "+g.Gate)
	}
	want := []string{"iris-classifier@1.1.0 accuracy.min", "iris-classifier@1.1.0 accuracy.maxRegression", "iris-classifier@1.1.0 latencyP95Ms.max"}
	if !slices.Equal(gates, want) {
		t.Fatalf("gates %v", gates)
	}
	if g := res.Gates[1]; !strings.Contains(g.Message, "0.98 of iris-classifier@1.0.0 in prod") {
		t.Fatalf("regression measured against the wrong version: %s", g.Message)
	}
	if len(res.Builds) != 1 || res.Builds[0].Ref() != "iris-classifier@1.1.0" {
		t.Fatalf("the newly registered version has a local artifact and no image, yet builds %v", res.Builds)
	}
}

func TestRunFailsAVersionBelowTheAccuracyGate(t *testing.T) {
	t.Parallel()
	dir := promoteBranch(t, map[string]float64{"accuracy": 0.85, "latency_p95_ms": 10})
	res := run(t, dir, "main")
	failed := res.FailedGates()
	if res.Passed || len(failed) != 2 || failed[0].Gate != gate.AccuracyMin || !strings.Contains(failed[0].Message, "below the minimum 0.9") {
		t.Fatalf("failed gates %+v", failed)
	}
	if !slices.Contains(res.Reasons(), "2 quality gates failed") {
		t.Fatalf("reasons %v", res.Reasons())
	}
}

func TestRunMeasuresAPromotionToProdAgainstTheVersionItReplaces(t *testing.T) {
	t.Parallel()
	dir := promoteBranch(t, map[string]float64{"accuracy": 0.975, "latency_p95_ms": 10})
	repotest.Git(t, dir, "checkout", "-q", "main")
	repotest.Git(t, dir, "merge", "-q", "--ff-only", "pr")
	citest.Deploy(t, dir, "iris-classifier", "prod", "1.1.0")
	citest.Render(t, dir)
	citest.Commit(t, dir, "promote to prod")
	res := run(t, dir, "")
	if res.Changes.BaseRef != "HEAD~1" {
		t.Fatalf("on main the default base is HEAD~1, got %q", res.Changes.BaseRef)
	}
	if !res.Passed || len(res.Gates) != 3 || !strings.Contains(res.Gates[1].Message, "regresses 0.005 from 0.98 of iris-classifier@1.0.0 in prod") {
		t.Fatalf("%v %+v", res.Reasons(), res.Gates)
	}
}

func TestRunCatchesAModelYAMLEditedWithoutRendering(t *testing.T) {
	t.Parallel()
	dir := citest.Repo(t)
	citest.Edit(t, dir, "applications/iris-classifier/model.yaml", func(s string) string {
		return strings.Replace(s, "hpa: {min: 2, max: 6, cpuUtilization: 70}", "hpa: {min: 3, max: 6, cpuUtilization: 70}", 1)
	})
	citest.Commit(t, dir, "edit by hand")
	res := run(t, dir, "HEAD~1")
	if res.Passed || len(res.Stale) == 0 {
		t.Fatalf("stale output not caught: %+v", res)
	}
	for _, s := range res.Stale {
		if !strings.HasPrefix(s.Path, "applications/iris-classifier/") || s.Change != ci.Modified {
			t.Errorf("stale %+v", s)
		}
	}
}

func TestRunListsTheImagesToBuildForNewlyRegisteredVersions(t *testing.T) {
	t.Parallel()
	dir := citest.Repo(t)
	citest.AddVersion(t, dir, "vision-gpu", "1.0.0", "1.1.0", map[string]float64{"accuracy": 0.95, "latency_p95_ms": 20})
	citest.Commit(t, dir, "register")
	res := run(t, dir, "HEAD~1")
	want := []ci.Build{{Model: "vision-gpu", Version: "1.1.0", Artifact: "models/vision-gpu/artifacts/v1.0.0.onnx"}}
	if !res.Passed || !equalJSON(res.Builds, want) {
		t.Fatalf("%v %+v", res.Reasons(), res.Builds)
	}
	var b bytes.Buffer
	if err := ci.WriteBuilds(&b, res); err != nil || b.String() != "vision-gpu@1.1.0\tmodels/vision-gpu/artifacts/v1.0.0.onnx\n" {
		t.Fatalf("%q %v", b.String(), err)
	}
}

func TestJUnitAddsTheGatesAndTheRenderedCheckToValidatesReport(t *testing.T) {
	t.Parallel()
	dir := promoteBranch(t, map[string]float64{"accuracy": 0.85, "latency_p95_ms": 10})
	res := run(t, dir, "main")
	var b bytes.Buffer
	if err := ci.WriteJUnit(&b, res); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name     string `xml:"name,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	names := map[string]int{}
	total := 0
	for _, s := range doc.Suites {
		names[s.Name] = s.Failures
		total += len(s.Cases)
	}
	if names["marina ci: quality gates"] != 2 || names["marina ci: rendered manifests"] != 0 || doc.Tests != total || doc.Failures < 2 {
		t.Fatalf("suites %v, tests %d of %d, failures %d", names, doc.Tests, total, doc.Failures)
	}
}

func TestMarkdownSummaryMatchesTheGoldenFile(t *testing.T) {
	t.Parallel()
	dir := promoteBranch(t, map[string]float64{"accuracy": 0.85, "latency_p95_ms": 10})
	res := run(t, dir, "main")
	// Commit hashes depend on the clock; the findings on validate's wording, which is not this test's subject.
	res.Changes.Base, res.Changes.Head = strings.Repeat("1", 40), strings.Repeat("2", 40)
	res.Validate = &validate.Report{Findings: []validate.Finding{
		{Severity: validate.SeverityError, Rule: "gate-accuracy", File: "applications/iris-classifier/model.yaml", Path: "spec.environments.staging.version", Line: 20, Message: "iris-classifier@1.1.0 metric accuracy 0.85 is below the gate's minimum 0.9", Hint: "deploy a version that meets spec.gates.accuracy.min"},
		{Severity: validate.SeverityWarning, Rule: "gpu-node-selector", File: "applications/vision-gpu/model.yaml", Message: "a | pipe stays in its cell"},
	}}
	// Measured latencies vary from run to run: a fixed model check stands in for a real one.
	acc, f1, p95 := 83.0/150, 0.5, 0.02
	res.Checks = []ci.ModelCheck{
		{Model: "iris-classifier", Version: "1.1.0", Report: &check.Report{
			Model: "iris-classifier", Version: "1.1.0", Artifact: "models/iris-classifier/artifacts/v1.1.0.onnx",
			Steps: []check.Step{
				{Name: check.StepArtifact, Passed: true, Message: "models/iris-classifier/artifacts/v1.1.0.onnx"},
				{Name: check.StepDigest, Message: "models/iris-classifier/artifacts/v1.1.0.onnx has digest sha256:bbbb, but models/iris-classifier/v1.1.0.json records sha256:aaaa: the artifact changed since it was registered"},
				{Name: check.StepLoad, Passed: true, Message: "loaded in ONNX Runtime 1.30.0"},
				{Name: check.StepSignature, Passed: true, Skipped: true, Message: "models/iris-classifier/v1.1.0.json declares no signature"},
				{Name: check.StepLatency, Passed: true, Value: &p95, Message: "p50 0.01 ms, p95 0.02 ms, p99 0.03 ms over 50 runs (after 5 warm-up)"},
				{Name: check.StepEvaluate, Passed: true, Value: &acc, Message: "accuracy 0.553333 (83/150), macro F1 0.5 on models/iris-classifier/eval/iris.csv"},
			},
			Metrics: map[string]float64{"accuracy": acc, "f1": f1, "latency_p50_ms": 0.01, "latency_p95_ms": p95, "latency_p99_ms": 0.03},
			Latency: &check.Latency{Runs: 50, Warmup: 5, P50Ms: 0.01, P95Ms: p95, P99Ms: 0.03},
		}},
		{Model: "vision-gpu", Version: "1.1.0", Note: "not checked: artifact at s3://models/vision-gpu/v1.1.0.onnx is not in the repository"},
	}
	var b bytes.Buffer
	if err := ci.WriteMarkdown(&b, res); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "summary.md"), b.Bytes())
	// With marina ui's URL (a test-local one), each model links to its page and the summary to the matrix.
	b.Reset()
	if err := ci.WriteMarkdownWith(&b, res, ci.MarkdownOptions{UIURL: "http://127.0.0.1:8089/"}); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "summary-ui.md"), b.Bytes())
}

func TestParseUIURL(t *testing.T) {
	for raw, want := range map[string]string{
		"http://127.0.0.1:8089":       "http://127.0.0.1:8089",
		"http://127.0.0.1:8089/":      "http://127.0.0.1:8089",
		"https://127.0.0.1:8443/ui//": "https://127.0.0.1:8443/ui",
		"127.0.0.1:8089":              "",
		"ftp://127.0.0.1/":            "",
		"http:///models":              "",
		"http://127.0.0.1:8089/?a=b":  "",
		"http://127.0.0.1:8089/#top":  "",
	} {
		got, err := ci.ParseUIURL(raw)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ParseUIURL(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
