package validate_test

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/validate"
)

// corpusDir holds the real-world manifests of testdata/corpus (sources and licences in its README.md).
const corpusDir = "testdata/corpus"

// withCorpus adds the files of testdata/corpus/<name> to a fixture's repository under infrastructure/corpus/<name>.
func withCorpus(t *testing.T, name string) func(map[string]string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(corpusDir, name))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(corpusDir, name, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[path.Join("infrastructure/corpus", name, e.Name())] = string(b)
	}
	return func(m map[string]string) {
		for k, v := range files {
			m[k] = v
		}
	}
}

// corpusFindings validates the base fixture plus the corpus directory name and returns the findings in it.
func corpusFindings(t *testing.T, name string, edits ...func(map[string]string)) []validate.Finding {
	t.Helper()
	rep := run(t, fixture(t, all(append(edits, withCorpus(t, name))...), nil), validate.Options{})
	var out []validate.Finding
	for _, f := range rep.Findings {
		if dir, _ := path.Split(f.File); dir == path.Join("infrastructure/corpus", name)+"/" {
			out = append(out, f)
		}
	}
	return out
}

// brief is what the corpus tests compare of a finding: rule, file (base name), line and field path.
type brief struct {
	Rule, File string
	Line       int
	Path       string
}

func briefs(fs []validate.Finding) []brief {
	out := make([]brief, 0, len(fs))
	for _, f := range fs {
		out = append(out, brief{Rule: f.Rule, File: path.Base(f.File), Line: f.Line, Path: f.Path})
	}
	return out
}

func TestAKustomizationPatchGivenAsAPathStringIsAPatch(t *testing.T) {
	t.Parallel()
	got := briefs(corpusFindings(t, "kustomize-string-patch"))
	want := []brief{{Rule: "k8s-kustomization", File: "kustomization.yaml", Line: 7, Path: "patches[0]"}}
	if !slices.Equal(got, want) {
		t.Fatalf("findings = %+v, want %+v", got, want)
	}
}

// TestCRDDefaultsApplyBeforeTheSchemaCheck: Gateway API's address type defaults to IPAddress, which decides the
// oneOf of each address, and a HelmChart's verify.provider is required with a default; the API server accepts both
// objects as written.
func TestCRDDefaultsApplyBeforeTheSchemaCheck(t *testing.T) {
	t.Parallel()
	if got := corpusFindings(t, "defaults"); len(got) != 0 {
		t.Fatalf("findings on objects the API server accepts: %+v", got)
	}
}

// TestListTypeMapAndSetEntriesMustBeUnique: two listeners named alike, or two matches on one header, are rejected
// by the API server (x-kubernetes-list-type: map); each is reported at the second entry.
func TestListTypeMapAndSetEntriesMustBeUnique(t *testing.T) {
	t.Parallel()
	got := briefs(corpusFindings(t, "listtypes"))
	want := []brief{
		{Rule: "k8s-schema", File: "gateway-duplicate-listener.yaml", Line: 15, Path: "spec.listeners[1]"},
		{Rule: "k8s-schema", File: "httproute-duplicate-header.yaml", Line: 19, Path: "spec.rules[0].matches[0].headers[1]"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("findings = %+v\nwant %+v", got, want)
	}
}

// TestManifestYAMLIsReadAsKubernetesToolsReadIt: unquoted on in a ConfigMap is a warning with the quoting fix;
// anchors, aliases and merge keys are expanded; a syntax error in one document leaves the later documents checked;
// every finding has a line and a large integer prints as written.
func TestManifestYAMLIsReadAsKubernetesToolsReadIt(t *testing.T) {
	t.Parallel()
	fs := corpusFindings(t, "yaml")
	want := []brief{
		{Rule: "k8s-yaml11-bool", File: "configmap-yes.yaml", Line: 10, Path: "data.FEATURE_CACHE"},
		{Rule: "yaml", File: "multi-document.yaml", Line: 18},
		{Rule: "k8s-schema", File: "multi-document.yaml", Line: 32, Path: "spec.rules[0].backendRefs[0].port"},
	}
	if got := briefs(fs); !slices.Equal(got, want) {
		t.Fatalf("findings = %+v\nwant %+v", got, want)
	}
	if !strings.Contains(fs[0].Hint, `"on"`) {
		t.Errorf("hint %q does not say how to quote", fs[0].Hint)
	}
	if !strings.Contains(fs[2].Message, "got 123456789, want 65535") {
		t.Errorf("message %q does not print the integers as written", fs[2].Message)
	}
}

// TestBuiltinSchemasAreCurrent: an ExternalSecret from External Secrets v1.3.2's docs uses target.manifest, which
// v0.16.2's CRD did not have.
func TestBuiltinSchemasAreCurrent(t *testing.T) {
	t.Parallel()
	if got := corpusFindings(t, "currency"); len(got) != 0 {
		t.Fatalf("findings on objects current releases accept: %+v", got)
	}
}

// TestMarinaYAMLChoosesTheGatewayAPIChannel: Gateway API's experimental-channel example (TLSRoute v1alpha2) has no
// schema in the standard channel and passes in the experimental one.
func TestMarinaYAMLChoosesTheGatewayAPIChannel(t *testing.T) {
	t.Parallel()
	experimental := replace("marina.yaml", "  engines: [argocd, flux]\n", "  engines: [argocd, flux]\n  gatewayAPI: {channel: experimental}\n")
	tests := []struct {
		name  string
		edits []func(map[string]string)
		want  []brief
	}{
		{"standard", nil, []brief{{Rule: "k8s-unknown-kind", File: "tls-route.yaml", Line: 1}}},
		{"experimental", []func(map[string]string){experimental}, []brief{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := briefs(corpusFindings(t, "experimental", tt.edits...)); !slices.Equal(got, tt.want) {
				t.Fatalf("findings = %+v, want %+v", got, tt.want)
			}
		})
	}
}
