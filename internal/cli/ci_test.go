package cli_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/ci/citest"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

// prBranch is the clean example repository with branch pr checked out, on which iris-classifier 1.1.0 is
// registered with accuracy and promoted to staging by marina itself.
func prBranch(t *testing.T, accuracy string) string {
	t.Helper()
	dir := citest.Repo(t)
	repotest.Git(t, dir, "checkout", "-q", "-b", "pr")
	f := filepath.Join(t.TempDir(), "m.onnx")
	writeIrisModel(t, f)
	mustMarina(t, "--repo", dir, "model", "register", "iris-classifier", "--file", f+"1.1.0", "--uri", "s3://models/iris-classifier/1.1.0", "--version", "1.1.0",
		"--metric", "accuracy="+accuracy, "--metric", "latency_p95_ms=10")
	// --force: promote itself refuses a version below the gates; ci must catch what was forced past it.
	mustMarina(t, "--repo", dir, "promote", "iris-classifier@1.1.0", "--env", "staging", "--force")
	return dir
}

func TestCIPassesACleanPromotion(t *testing.T) {
	t.Parallel()
	dir := prBranch(t, "0.97")
	code, out, errOut := marina(t, "--repo", dir, "ci", "--base", "main")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"marina ci PASSED", "iris-classifier          staging    1.0.0 → 1.1.0", "ok   iris-classifier@1.1.0 accuracy.min"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "iris-classifier          prod") {
		t.Errorf("prod is not part of the change:\n%s", out)
	}
}

func TestCIFailsAVersionBelowTheAccuracyGateAndTheMarkdownSaysWhy(t *testing.T) {
	t.Parallel()
	dir := prBranch(t, "0.85")
	code, out, errOut := marina(t, "--repo", dir, "ci", "--base", "main", "-o", "markdown")
	if code != 1 || !strings.Contains(errOut, "quality gates failed") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"## ❌ marina ci failed", "| `iris-classifier` | `staging` | 1.0.0 → 1.1.0 |", "| ❌ | `iris-classifier@1.1.0` | `accuracy.min` | 0.9 | 0.85 | accuracy 0.85 is below the minimum 0.9"} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	// With marina ui's URL, the models link to their pages.
	md := filepath.Join(t.TempDir(), "summary.md")
	_, out, _ = marina(t, "--repo", dir, "ci", "--base", "main", "-o", "markdown", "--ui-url", "http://127.0.0.1:8089/", "--markdown", md)
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{out, string(b)} {
		if !strings.Contains(s, "| [`iris-classifier`](http://127.0.0.1:8089/models/iris-classifier) | `staging` |") || !strings.Contains(s, "[marina ui](http://127.0.0.1:8089/)") {
			t.Errorf("--ui-url: the markdown does not link the model to marina ui:\n%s", s)
		}
	}
	// marina.yaml's spec.ui.url does the same without the flag; a URL the schema refuses is a finding.
	for _, tc := range []struct{ url, want string }{
		{"https://marina.example.com/", "| [`iris-classifier`](https://marina.example.com/models/iris-classifier) | `staging` |"},
		{"marina.example.com", "spec.ui.url"},
	} {
		withUI := filepath.Join(t.TempDir(), "repo")
		if out, err := exec.Command("git", "clone", "-q", dir, withUI).CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		citest.Edit(t, withUI, "marina.yaml", func(s string) string {
			return strings.Replace(s, "\nspec:\n", "\nspec:\n  ui:\n    url: "+tc.url+"\n", 1)
		})
		citest.Commit(t, withUI, "marina ui's URL")
		_, out, _ = marina(t, "--repo", withUI, "ci", "--base", "origin/main", "-o", "markdown")
		if !strings.Contains(out, tc.want) {
			t.Errorf("spec.ui.url %s: the markdown lacks %q:\n%s", tc.url, tc.want, out)
		}
	}
}

func TestCIFailsAModelYAMLEditedByHandWithoutRendering(t *testing.T) {
	t.Parallel()
	dir := citest.Repo(t)
	citest.Edit(t, dir, "applications/iris-classifier/model.yaml", func(s string) string {
		return strings.Replace(s, "limits: {cpu: \"1\", memory: 512Mi}", "limits: {cpu: \"2\", memory: 512Mi}", 1)
	})
	citest.Commit(t, dir, "raise the CPU limit by hand")
	code, out, errOut := marina(t, "--repo", dir, "ci")
	if code != 1 || !strings.Contains(out, "FAIL applications/iris-classifier/prod/deployment.yaml would be modified") || !strings.Contains(errOut, "stale") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

func TestCIPutsEverythingInScopeWhenMarinaYAMLChanges(t *testing.T) {
	t.Parallel()
	dir := citest.Repo(t)
	citest.Edit(t, dir, "marina.yaml", func(s string) string { return strings.Replace(s, "min: 0.9", "min: 0.95", 1) })
	citest.Commit(t, dir, "raise the accuracy gate")
	code, out, errOut := marina(t, "--repo", dir, "ci", "-o", "json")
	var res struct {
		Changes struct{ Everything bool }
		Gates   []struct {
			Model, Gate string
			Passed      bool
		}
		Passed bool
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	failed := map[string]bool{}
	for _, g := range res.Gates {
		if !g.Passed {
			failed[g.Model+" "+g.Gate] = true
		}
	}
	// vision-gpu (0.93) was not touched, but the stricter gate applies to everything deployed.
	if code != 1 || !res.Changes.Everything || res.Passed || len(failed) != 1 || !failed["vision-gpu accuracy.min"] {
		t.Fatalf("exit %d, %+v\n%s", code, res, errOut)
	}
}

func TestCIWritesSARIFJUnitMarkdownAndBuildFiles(t *testing.T) {
	t.Parallel()
	dir := citest.Repo(t)
	citest.AddVersion(t, dir, "vision-gpu", "1.0.0", "1.1.0", map[string]float64{"accuracy": 0.95, "latency_p95_ms": 20})
	citest.Commit(t, dir, "register vision-gpu 1.1.0")
	out := t.TempDir()
	summary := filepath.Join(out, "summary.md")
	if err := os.WriteFile(summary, []byte("# earlier step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustMarina(t, "--repo", dir, "ci", "--sarif", filepath.Join(out, "ci.sarif"), "--junit", filepath.Join(out, "junit.xml"),
		"--markdown", summary, "--builds", filepath.Join(out, "builds.tsv"))
	var sarif struct {
		Version string
		Runs    []struct{ Results []any }
	}
	b, _ := os.ReadFile(filepath.Join(out, "ci.sarif"))
	if err := json.Unmarshal(b, &sarif); err != nil || sarif.Version != "2.1.0" || len(sarif.Runs) != 1 {
		t.Fatalf("SARIF: %v\n%s", err, b)
	}
	var junit struct {
		Suites []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite"`
	}
	b, _ = os.ReadFile(filepath.Join(out, "junit.xml"))
	if err := xml.Unmarshal(b, &junit); err != nil || !strings.Contains(string(b), `name="marina ci: quality gates"`) {
		t.Fatalf("JUnit: %v\n%s", err, b)
	}
	if b, _ := os.ReadFile(summary); !strings.HasPrefix(string(b), "# earlier step\n## ✅ marina ci passed") {
		t.Fatalf("--markdown does not append to the file:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "builds.tsv")); string(b) != "vision-gpu@1.1.0\tmodels/vision-gpu/artifacts/v1.0.0.onnx\n" {
		t.Fatalf("builds: %q", b)
	}
}

func TestCIUsageErrors(t *testing.T) {
	t.Parallel()
	dir := citest.Repo(t)
	wantUsageErrors(t, []usageError{
		{[]string{"--repo", dir, "ci", "--base", "origin/nope"}, "fetch-depth"},
		{[]string{"--repo", dir, "ci", "-o", "xml"}, "-o text, -o markdown, -o json"},
		{[]string{"--repo", dir, "ci", "--crds", filepath.Join(dir, "nope")}, "--crds"},
		{[]string{"--repo", dir, "ci", "--ui-url", "127.0.0.1:8089"}, `--ui-url "127.0.0.1:8089": want an absolute http:// or https:// URL`},
	})
}

func TestSetImageRecordsTheDigestInOneCommit(t *testing.T) {
	t.Parallel()
	dir := citest.Repo(t)
	img := "ghcr.io/acme/models/iris-classifier@sha256:" + strings.Repeat("c", 64)
	before := repotest.Git(t, dir, "rev-list", "--count", "HEAD")
	out := mustMarina(t, "--repo", dir, "model", "set-image", "iris-classifier@1.0.0", "--image", "ghcr.io/acme/models/iris-classifier:1.0.0@sha256:"+strings.Repeat("c", 64))
	if !strings.Contains(out, "recorded "+img) {
		t.Fatalf("output: %s", out)
	}
	var v model.Version
	if err := json.Unmarshal([]byte(mustMarina(t, "--repo", dir, "model", "show", "iris-classifier@1.0.0", "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Image == nil || v.Image.String() != img {
		t.Fatalf("image %+v", v.Image)
	}
	if after := repotest.Git(t, dir, "rev-list", "--count", "HEAD"); after == before || repotest.Git(t, dir, "status", "--porcelain") != "" {
		t.Fatalf("not one clean commit: %s → %s", before, after)
	}
	if out := mustMarina(t, "--repo", dir, "model", "set-image", "iris-classifier@1.0.0", "--image", img); !strings.Contains(out, "nothing to do") {
		t.Fatalf("again: %s", out)
	}
	// The recorded image is enough for the version to need no new build, and validate accepts the file.
	mustMarina(t, "--repo", dir, "ci", "--base", "HEAD~2")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"model", "set-image", "iris-classifier@1.0.0", "--image", "ghcr.io/acme/iris:1.0.0"}, 2, "pinned by digest"},
		{[]string{"model", "set-image", "iris-classifier", "--image", img}, 2, "NAME@VERSION"},
		{[]string{"model", "set-image", "iris-classifier@9.9.9", "--image", img}, 1, "not registered"},
	} {
		code, _, errOut := marina(t, append([]string{"--repo", dir}, c.args...)...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d: %s", c.args, code, errOut)
		}
	}
}

// checkedBranch is the clean example repository with branch pr checked out, on which a copy of iris-classifier
// 1.0.0's artifact, in the repository, is registered as 1.0.1 and promoted to staging by marina itself.
func checkedBranch(t *testing.T) string {
	t.Helper()
	dir := citest.Repo(t)
	repotest.Git(t, dir, "checkout", "-q", "-b", "pr")
	b, err := os.ReadFile(filepath.Join(dir, "models/iris-classifier/artifacts/v1.0.0.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	repotest.WriteFile(t, dir, "models/iris-classifier/artifacts/v1.0.1.onnx", string(b))
	mustMarina(t, "--repo", dir, "model", "register", "iris-classifier", "--file", filepath.Join(dir, "models/iris-classifier/artifacts/v1.0.1.onnx"),
		"--version", "1.0.1", "--metric", "accuracy=0.97", "--metric", "latency_p95_ms=10")
	mustMarina(t, "--repo", dir, "promote", "iris-classifier@1.0.1", "--env", "staging")
	citest.Commit(t, dir, "the artifact")
	return dir
}

func TestCIRunsTheModelChecksOfAPromotedVersion(t *testing.T) {
	t.Parallel()
	inferencetest.Lib(t)
	dir := checkedBranch(t)
	junit := filepath.Join(t.TempDir(), "ci.xml")
	code, out, errOut := marina(t, "--repo", dir, "ci", "--base", "main", "--checks", "on", "--runs", "3", "--warmup", "0", "-o", "markdown", "--junit", junit)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"### Model checks", "✅ `iris-classifier@1.0.1` in ONNX Runtime (`models/iris-classifier/artifacts/v1.0.1.onnx`): accuracy ", "over 3 runs.", "| ✅ | `signature` |"} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(junit)
	if err != nil || !strings.Contains(string(b), `<testsuite name="marina ci: model check iris-classifier@1.0.1" tests="7"`) {
		t.Fatalf("%v\n%s", err, b)
	}
}

func TestCIFailsAnArtifactChangedAfterRegistration(t *testing.T) {
	t.Parallel()
	inferencetest.Lib(t)
	dir := checkedBranch(t)
	f := filepath.Join(t.TempDir(), "m.onnx")
	writeIrisModel(t, f)
	b, err := os.ReadFile(f + "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	repotest.WriteFile(t, dir, "models/iris-classifier/artifacts/v1.0.1.onnx", string(b))
	citest.Commit(t, dir, "overwrite the artifact")
	code, out, errOut := marina(t, "--repo", dir, "ci", "--base", "main", "--runs", "3")
	if code != 1 || !strings.Contains(errOut, "the model check of iris-classifier@1.0.1 failed: digest") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "FAIL digest") || !strings.Contains(out, "the artifact changed since it was registered") {
		t.Fatalf("text summary:\n%s", out)
	}
}

func TestCIRefusesAnUnknownChecksMode(t *testing.T) {
	t.Parallel()
	dir := citest.Repo(t)
	if code, _, errOut := marina(t, "--repo", dir, "ci", "--checks", "maybe"); code != 2 || !strings.Contains(errOut, "--checks must be one of auto, on, off") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestCIOnAnOversizedModelYAMLIsExit1LikeValidate(t *testing.T) {
	t.Parallel()
	dir := citest.Repo(t)
	repotest.Git(t, dir, "checkout", "-q", "-b", "pr")
	app := filepath.Join(dir, "applications", "iris-classifier", "model.yaml")
	b, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(app, append(b, bytes.Repeat([]byte("#"), 2<<20)...), 0o644); err != nil {
		t.Fatal(err)
	}
	citest.Commit(t, dir, "an oversized model.yaml")
	for _, args := range [][]string{{"ci", "--base", "main"}, {"validate"}} {
		code, out, errOut := marina(t, append([]string{"--repo", dir}, args...)...)
		if code != 1 {
			t.Errorf("marina %v: exit %d, want 1\n%s%s", args, code, out, errOut)
		}
	}
}
