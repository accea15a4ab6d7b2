package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/cli"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/model/onnxtest"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

// marina runs the CLI in-process and returns exit code, stdout and stderr.
func marina(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Execute(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func mustMarina(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := marina(t, args...)
	if code != 0 {
		t.Fatalf("marina %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// usageError is a command line marina must refuse with exit 2 and want on stderr.
type usageError struct {
	args []string
	want string
}

// wantUsageErrors runs marina with each command line and wants it refused as a usage error.
func wantUsageErrors(t *testing.T, cases []usageError) {
	t.Helper()
	for _, c := range cases {
		code, out, errOut := marina(t, c.args...)
		if code != cli.ExitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("marina %s: exit %d, want %d and %q on stderr\n%s%s", strings.Join(c.args, " "), code, cli.ExitUsage, c.want, out, errOut)
		}
	}
}

func TestVersionPrintsJSON(t *testing.T) {
	t.Parallel()
	var v struct {
		Version, GoVersion string
		Schemas            struct {
			Bundle                 []string
			GatewayAPIExperimental string
		}
	}
	if err := json.Unmarshal([]byte(mustMarina(t, "version", "-o", "json")), &v); err != nil || v.Version == "" || !strings.HasPrefix(v.GoVersion, "go") {
		t.Fatalf("version: %+v %v", v, err)
	}
	// The built-in schemas name their sources, so a user can tell whether they are current.
	for _, want := range []string{"k8s.io/kubernetes@v", "sigs.k8s.io/gateway-api@v", "github.com/external-secrets/external-secrets@v"} {
		if !slices.ContainsFunc(v.Schemas.Bundle, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("schemas.bundle %v lacks %s…", v.Schemas.Bundle, want)
		}
	}
	if !strings.HasPrefix(v.Schemas.GatewayAPIExperimental, "sigs.k8s.io/gateway-api@v") {
		t.Errorf("schemas.gatewayAPIExperimental = %q", v.Schemas.GatewayAPIExperimental)
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, nil)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown command is a usage error", []string{"frobnicate"}, 2, "unknown command"},
		{"unknown flag is a usage error", []string{"version", "--frob"}, 2, "unknown flag"},
		{"bad output format is a usage error", []string{"version", "-o", "xml"}, 2, "use -o table, -o json, -o yaml"},
		{"missing repository is an environment error", []string{"--repo", t.TempDir(), "model", "list"}, 2, "marina init"},
		{"register of a new version without --file is a usage error", []string{"--repo", dir, "model", "register", "m", "--version", "1.0.0"}, 2, "--file is required to register a new version"},
		{"bad semver is a usage error", []string{"--repo", dir, "model", "register", "m", "--version", "1.0", "--file", "x"}, 2, "not a semantic version"},
		{"unregistered version is refused", []string{"--repo", dir, "promote", "m@1.0.0", "--env", "staging"}, 1, "not registered"},
		{"missing model is reported", []string{"--repo", dir, "model", "show", "m"}, 1, "not registered"},
		{"promote without @ is a usage error", []string{"--repo", dir, "promote", "m", "--env", "staging"}, 2, "NAME@VERSION"},
	}
	// One case after the other: they share dir, and register and promote take its write lock, which a second
	// writer is refused ("repository is busy").
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := marina(t, c.args...)
			if code != c.code || !strings.Contains(out+errOut, c.want) {
				t.Fatalf("exit %d (want %d)\n%s%s\nwant %q", code, c.code, out, errOut, c.want)
			}
		})
	}
}

func TestInitRefusesANonEmptyDirectoryAndNeverOverwritesWithForce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := marina(t, "init", dir); code != 1 || !strings.Contains(errOut, "--force") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	out := mustMarina(t, "init", dir, "--force", "--envs", "dev,prod", "--engine", "flux", "--ci", "gitlab")
	if !strings.Contains(out, "README.md") || !strings.Contains(out, "kept") {
		t.Fatalf("init output:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "README.md")); string(b) != "mine\n" {
		t.Fatalf("README.md overwritten: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "gitops", "argocd")); err == nil {
		t.Fatal("--engine flux wrote Argo CD files")
	}
	if got := repotest.Git(t, dir, "status", "--porcelain"); got != "?? README.md" {
		t.Fatalf("status after init: %q", got)
	}
	if got := repotest.Git(t, dir, "log", "--format=%s"); got != "marina: initialise "+filepath.Base(dir) {
		t.Fatalf("log: %q", got)
	}
}

func TestInitRejectsBadFlags(t *testing.T) {
	t.Parallel()
	wantUsageErrors(t, []usageError{
		{[]string{"init", t.TempDir(), "--engine", "spinnaker"}, "--engine"},
		{[]string{"init", t.TempDir(), "--ci", "jenkins"}, "--ci"},
		{[]string{"init", t.TempDir(), "--envs", "Prod"}, "--envs"},
	})
}

func TestWalkThroughRegisterPromoteRollbackHistory(t *testing.T) {
	t.Parallel()
	dir, f := initIris(t)
	for _, v := range []string{"1.0.0", "1.1.0"} {
		mustMarina(t, "--repo", dir, "model", "register", "iris", "--file", f+v, "--uri", "s3://models/iris/"+v, "--version", v, "--metric", "accuracy=0.9")
	}
	var shown model.Version
	if err := json.Unmarshal([]byte(mustMarina(t, "--repo", dir, "model", "show", "iris", "-o", "json")), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Version != "1.1.0" || shown.Signature == nil || shown.Signature.Opset != 17 || shown.Signature.Inputs[0].Name != "input" {
		t.Fatalf("show latest: %+v", shown)
	}
	code, _, errOut := marina(t, "--repo", dir, "promote", "iris@1.0.0", "--env", "prod")
	if code != 1 || !strings.Contains(errOut, "staging first") {
		t.Fatalf("skipping staging: exit %d %s", code, errOut)
	}
	mustMarina(t, "--repo", dir, "promote", "iris@1.0.0", "--env", "staging")
	head := repotest.Git(t, dir, "rev-parse", "HEAD")
	// init's prod policy requires an image pinned by digest, which a fresh repository has not recorded yet.
	code, _, errOut = marina(t, "--repo", dir, "promote", "iris@1.0.0", "--env", "prod")
	if code != 1 || !strings.Contains(errOut, "policy-digest") || !strings.Contains(errOut, "marina model set-image iris@VERSION") || !strings.Contains(errOut, "--force") {
		t.Fatalf("promote to prod with an unpinned image: exit %d %s", code, errOut)
	}
	if got := repotest.Git(t, dir, "rev-parse", "HEAD"); got != head {
		t.Fatal("a refused promotion committed")
	}
	mustMarina(t, "--repo", dir, "promote", "iris@1.0.0", "--env", "prod", "--force")
	if got := repotest.Git(t, dir, "log", "-1", "--format=%B"); !strings.Contains(got, "Marina-Forced: policy-digest") {
		t.Fatalf("--force is not recorded in the commit:\n%s", got)
	}
	mustMarina(t, "--repo", dir, "promote", "iris@1.1.0", "--env", "staging")
	// the generated model.yaml has backend plain, which cannot run a canary: refused, not ignored
	code, _, errOut = marina(t, "--repo", dir, "promote", "iris@1.1.0", "--env", "prod", "--strategy", "canary", "--force")
	if code != 1 || !strings.Contains(errOut, "spec.backend: marina") {
		t.Fatalf("a canary on the plain backend: exit %d %s", code, errOut)
	}
	mustMarina(t, "--repo", dir, "promote", "iris@1.1.0", "--env", "prod", "--force")
	mustMarina(t, "--repo", dir, "rollback", "iris", "--env", "prod", "--reason", "latency")
	var hist []struct{ Environment, From, To string }
	if err := json.Unmarshal([]byte(mustMarina(t, "--repo", dir, "history", "iris", "--env", "prod", "-o", "json")), &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 || hist[0].From != "1.1.0" || hist[0].To != "1.0.0" {
		t.Fatalf("history %+v", hist)
	}
	if out := mustMarina(t, "--repo", dir, "model", "list"); !strings.Contains(out, "1.1.0     blocked") {
		t.Fatalf("list:\n%s", out)
	}
	if got := repotest.Git(t, dir, "status", "--porcelain"); got != "" {
		t.Fatalf("dirty after walk-through: %s", got)
	}
}

func TestPromoteRefusesADirtyModelYAML(t *testing.T) {
	t.Parallel()
	dir, f := initIris(t)
	mustMarina(t, "--repo", dir, "model", "register", "iris", "--file", f+"1.0.0", "--uri", "s3://models/iris/1.0.0", "--version", "1.0.0")
	mustMarina(t, "--repo", dir, "promote", "iris@1.0.0", "--env", "staging")
	p := filepath.Join(dir, "applications/iris/model.yaml")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, append(b, "# my edit\n"...), 0o644)
	code, _, errOut := marina(t, "--repo", dir, "promote", "iris@1.0.0", "--env", "prod", "--force") // --force never overrides this
	if code != 1 || !strings.Contains(errOut, "applications/iris/model.yaml") || !strings.Contains(errOut, "git stash") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if after, _ := os.ReadFile(p); !bytes.HasSuffix(after, []byte("# my edit\n")) {
		t.Fatal("the user's edit was lost")
	}
}

// initIris makes a repository with marina init (args added to its command line) and two iris models for it to
// register (writeIrisModel); it returns the repository and the models' path prefix.
func initIris(t *testing.T, args ...string) (dir, models string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "ml")
	mustMarina(t, append([]string{"init", dir}, args...)...)
	models = filepath.Join(t.TempDir(), "m.onnx")
	writeIrisModel(t, models)
	return dir, models
}

// writeIrisModel writes two distinct small real ONNX models, at f+"1.0.0" and f+"1.1.0".
func writeIrisModel(t *testing.T, f string) {
	t.Helper()
	for i, v := range []string{"1.0.0", "1.1.0"} {
		l := onnxtest.Linear{Input: "input", Output: "probabilities", InputShape: []int64{4}, Weights: make([]float32, 12), Bias: []float32{float32(i), 0, 0}}
		b, err := l.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f+v, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
