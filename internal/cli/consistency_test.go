package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/inference/inferencetest"
)

// exitCase is a marina run in a repository and what it must exit with and print.
type exitCase struct {
	name string
	args []string
	code int
	want string
}

// checkExits runs each case with --repo dir, in parallel.
func checkExits(t *testing.T, dir string, cases []exitCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := marina(t, append([]string{"--repo", dir}, c.args...)...)
			if code != c.code || !strings.Contains(out+errOut, c.want) {
				t.Fatalf("exit %d (want %d)\n%.2000s%s\nwant %q", code, c.code, out, errOut, c.want)
			}
		})
	}
}

func TestQueriesForAnUnknownModelOrEnvironmentFail(t *testing.T) {
	t.Parallel()
	checkExits(t, exampleDirWith(t, nil), []exitCase{
		{"model list of an unknown model", []string{"model", "list", "nope"}, 1, `model "nope": not registered`},
		{"history of an unknown model", []string{"history", "nope"}, 1, "registered models: iris-classifier, vision-gpu"},
		{"history in an unknown environment", []string{"history", "iris-classifier", "--env", "qa"}, 1, `unknown environment "qa": marina.yaml lists staging, prod`},
		{"model list of a known model", []string{"model", "list", "iris-classifier"}, 0, "iris-classifier   1.0.0"},
		{"history of a known model", []string{"history", "iris-classifier", "--env", "prod"}, 0, "prod"},
	})
}

func TestInitRefusesNoEnvironmentsAndWarnsAboutThePlaceholderURL(t *testing.T) {
	t.Parallel()
	code, _, errOut := marina(t, "init", t.TempDir(), "--envs", "")
	if code != 2 || !strings.Contains(errOut, "--envs: no environment given") {
		t.Fatalf("init --envs \"\": exit %d %s", code, errOut)
	}
	placeholder := filepath.Join(t.TempDir(), "ml")
	_, _, errOut = marina(t, "init", placeholder)
	if !strings.Contains(errOut, "warning: no --repo-url: gitops/ and marina.yaml name the placeholder https://git.example.com/ml.git") {
		t.Fatalf("init without --repo-url: stderr %q", errOut)
	}
	if _, out, _ := marina(t, "--repo", placeholder, "validate"); !strings.Contains(out, "info repo-url-placeholder: https://git.example.com/ml.git") {
		t.Fatalf("validate does not flag the placeholder URL:\n%s", out)
	}
	real := filepath.Join(t.TempDir(), "ml")
	if _, _, errOut = marina(t, "init", real, "--repo-url", "https://github.com/acme/ml.git"); errOut != "" {
		t.Fatalf("init with --repo-url: stderr %q", errOut)
	}
	if _, out, _ := marina(t, "--repo", real, "validate"); strings.Contains(out, "repo-url-placeholder") {
		t.Fatalf("validate flags a real URL:\n%s", out)
	}
}

func TestAClusterCommandWithoutKubeconfigSaysSo(t *testing.T) {
	// not parallel: the environment decides where client-go looks
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	code, _, errOut := marina(t, "--repo", exampleDirWith(t, nil), "doctor")
	if code != 2 || !strings.Contains(errOut, "no kubeconfig found") || strings.Contains(errOut, "KUBERNETES_MASTER") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestRegisterEvaluateSaysWhenThereIsNoEvaluationSet(t *testing.T) {
	t.Parallel()
	inferencetest.Lib(t)
	dir := exampleDirWith(t, nil)
	code, out, errOut := marina(t, "--repo", dir, "model", "register", "vision-gpu", "--version", "1.0.0", "--file", dir+"/models/vision-gpu/artifacts/v1.0.0.onnx", "--evaluate")
	if code != 0 || !strings.Contains(errOut, "no evaluation set (models/vision-gpu/eval/*.csv): measuring latency only") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}
