package kubeschematest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/kubeschema"
	"github.com/marina-dev/marina/internal/prereq"
	"github.com/marina-dev/marina/internal/source"
)

// TB is what Dir and KServe need of their caller: testing.TB satisfies it, and so does internal/testenv.TB.
type TB interface {
	prereq.TB
	Fatalf(format string, args ...any)
}

// Dir returns the cached CRD directory of one module version, e.g. "argo-cd@v3.6.1", under kubeschema.CacheDir.
// When it is missing the test is skipped with a hint to run hack/crds.sh, or fails where prerequisites are required
// (see package prereq).
func Dir(t TB, module string) string {
	t.Helper()
	root := kubeschema.CacheDir()
	dir := filepath.Join(root, module)
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return dir
	}
	prereq.Missing(t, "third-party CRDs not found in "+dir+": run hack/crds.sh (or set MARINA_CRDS_DIR to its output)")
	return ""
}

// Module directories inside the cache, as hack/crds.sh names them.
const (
	ArgoCD             = "argo-cd@v3.6.1"
	FluxSource         = "source-controller@v1.9.6"
	FluxKustomize      = "kustomize-controller@v1.9.6"
	GatewayAPI         = "gateway-api@v1.7.0"
	KEDA               = "keda@v2.21.0"
	ExternalSecrets    = "external-secrets@v1.3.2"
	SealedSecrets      = "sealed-secrets@v0.40.0"
	PrometheusOperator = "prometheus-operator@v0.85.0"
)

// GatewayAPIExperimental returns config/crd/experimental of the Gateway API module version GatewayAPI names, in
// the Go module cache (hack/crds.sh downloads the module there). Missing: skipped locally, fatal with CI=true.
func GatewayAPIExperimental(t testing.TB) string {
	t.Helper()
	_, version, _ := strings.Cut(GatewayAPI, "@")
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	dir := filepath.Join(strings.TrimSpace(string(out)), "sigs.k8s.io", "gateway-api@"+version, "config", "crd", "experimental")
	if fi, statErr := os.Stat(dir); err == nil && statErr == nil && fi.IsDir() {
		return dir
	}
	prereq.Missing(t, "Gateway API's experimental CRDs not found in "+dir+": run hack/crds.sh")
	return ""
}

// KServe returns third_party/kserve of the source tree at or above the test's working directory: KServe's CRDs,
// which no Go module on the proxy carries, so the repository does (see its README.md for version, source and
// license).
func KServe(t TB) string {
	t.Helper()
	root, err := source.FindRootFromWorkingDir()
	if err != nil {
		t.Fatalf("KServe CRDs: %v", err)
	}
	dir := filepath.Join(root, "third_party", "kserve")
	if _, err := os.Stat(filepath.Join(dir, "serving.kserve.io_inferenceservices.yaml")); err != nil {
		t.Fatalf("KServe CRDs: %v (third_party/kserve is part of the repository: restore it with git checkout)", err)
	}
	return dir
}

// WriteCRD writes a namespaced CustomResourceDefinition of kind (plural: lower-case kind + "s") in group, serving
// version with schema as its openAPIV3Schema (YAML starting at column 0), to dir/<plural>.yaml and returns the path:
// a CRD a test adds to a validator, written out only as far as the test needs.
func WriteCRD(t testing.TB, dir, group, kind, version, schema string) string {
	t.Helper()
	plural := strings.ToLower(kind) + "s"
	var body strings.Builder
	for line := range strings.Lines(schema) {
		body.WriteString("        " + line)
	}
	crd := fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: %[2]s.%[1]s}
spec:
  group: %[1]s
  names: {kind: %[3]s, plural: %[2]s}
  scope: Namespaced
  versions:
  - name: %[4]s
    served: true
    storage: true
    schema:
      openAPIV3Schema:
%[5]s`, group, plural, kind, version, body.String())
	file := filepath.Join(dir, plural+".yaml")
	if err := os.WriteFile(file, []byte(crd), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}
