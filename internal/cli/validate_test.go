package cli_test

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/repo/repotest"
)

const validateApp = `apiVersion: marina.dev/v1alpha1
kind: ModelApplication
metadata:
  name: m
spec:
  model: m
  replicaz: 2
  environments: {}
`

func TestValidateExitsOneAndNamesFileAndLineOfAMistake(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, map[string]string{"applications/m/model.yaml": validateApp})
	code, out, errOut := marina(t, "--repo", dir, "validate")
	if code != 1 || !strings.Contains(out, "applications/m/model.yaml:7: error schema:") || !strings.Contains(out, "(spec.replicaz)") ||
		!strings.Contains(errOut, "validation failed") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

func TestValidateWritesEachFormat(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, map[string]string{"applications/m/model.yaml": validateApp})
	_, out, _ := marina(t, "--repo", dir, "validate", "-o", "json")
	var rep struct {
		Findings []struct{ Rule, File string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Findings) == 0 {
		t.Fatalf("json: %v\n%s", err, out)
	}
	_, out, _ = marina(t, "--repo", dir, "validate", "-o", "junit")
	var suites struct {
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal([]byte(out), &suites); err != nil || suites.Failures == 0 {
		t.Fatalf("junit: %v\n%s", err, out)
	}
	sarif := filepath.Join(t.TempDir(), "marina.sarif")
	code, out, _ := marina(t, "--repo", dir, "validate", "-o", "sarif", "--output-file", sarif)
	b, err := os.ReadFile(sarif)
	if code != 1 || err != nil || !strings.Contains(string(b), `"version": "2.1.0"`) || !strings.Contains(out, "applications/m/model.yaml:7") {
		t.Fatalf("sarif: exit %d, %v\nfile:\n%s\nstdout:\n%s", code, err, b, out)
	}
}

func TestValidateUsageErrorsExitTwo(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, nil)
	wantUsageErrors(t, []usageError{
		{[]string{"--repo", dir, "validate", "-o", "yaml"}, "-o text, -o json, -o sarif, -o junit"},
		{[]string{"--repo", dir, "validate", "--env", "qa"}, "staging, prod"},
		{[]string{"--repo", dir, "validate", "--crds", filepath.Join(dir, "missing")}, "--crds"},
		{[]string{"--repo", dir, "validate", "--crds", t.TempDir()}, "no CustomResourceDefinition"},
		{[]string{"--repo", dir, "validate", "extra"}, "unknown command"},
	})
}

func TestValidateWarningsDoNotFail(t *testing.T) {
	t.Parallel()
	overlay := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
	dir := repotest.Dir(t, map[string]string{
		"gitops/extra.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
		"infrastructure/overlays/staging/kustomization.yaml": overlay,
		"infrastructure/overlays/prod/kustomization.yaml":    overlay,
	})
	code, out, errOut := marina(t, "--repo", dir, "validate")
	if code != 0 || !strings.Contains(out, "warning k8s-unknown-kind") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

// exampleDir copies examples/ml-platform into a Git repository in a temporary directory.
func exampleDir(t *testing.T) string {
	t.Helper()
	return repotest.Example(t, nil)
}

func TestValidateFindsNoErrorsInTheExampleRepository(t *testing.T) {
	t.Parallel()
	dir := exampleDir(t)
	code, out, errOut := marina(t, "--repo", dir, "validate")
	if code != 0 || strings.Contains(out, " error ") {
		t.Fatalf("marina validate on examples/ml-platform: exit %d\n%s%s", code, out, errOut)
	}
}
