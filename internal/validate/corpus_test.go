package validate_test

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/validate"
	"github.com/marina-dev/marina/schemas"
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

// TestObjectsTheServerAcceptsPass: defaults — Gateway API's address type defaults to IPAddress, which decides the
// oneOf of each address, and a HelmChart's verify.provider is required with a default; currency — an ExternalSecret
// from External Secrets v1.3.2's docs uses target.manifest, which v0.16.2's CRD did not have. The API server accepts
// all of them as written.
func TestObjectsTheServerAcceptsPass(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"defaults", "currency"} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			if got := corpusFindings(t, dir); len(got) != 0 {
				t.Fatalf("findings on objects the API server accepts: %+v", got)
			}
		})
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

// verdict is one line of testdata/corpus/verdicts.txt: the API server's verdict on one object of the corpus.
type verdict struct {
	file   string // under testdata/corpus
	doc    int    // 1-based among the file's documents that parse
	reject bool
	// obj is the object; first and end bound its lines (end is 0 for the file's last document).
	obj        map[string]any
	first, end int
}

// corpusVerdicts reads verdicts.txt and the objects it names.
func corpusVerdicts(t *testing.T) []verdict {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpusDir, "verdicts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []verdict
	for i, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if len(f) != 3 || err != nil || (f[2] != "accept" && f[2] != "reject") {
			t.Fatalf("verdicts.txt:%d: want FILE DOCUMENT accept|reject, got %q", i+1, line)
		}
		raw, err := os.ReadFile(filepath.Join(corpusDir, f[0]))
		if err != nil {
			t.Fatal(err)
		}
		docs, _ := schemas.ParseStream(f[0], raw, schemas.MaxManifestSize)
		if n < 1 || n > len(docs) {
			t.Fatalf("verdicts.txt:%d: %s has %d documents that parse", i+1, f[0], len(docs))
		}
		v := verdict{file: f[0], doc: n, reject: f[2] == "reject", first: docs[n-1].Line("")}
		v.obj, _ = docs[n-1].Value.(map[string]any)
		if n < len(docs) {
			v.end = docs[n].Line("")
		}
		out = append(out, v)
	}
	return out
}

// TestOfflineVerdictsAgreeWithTheServer: marina validate reports an error on exactly the corpus objects the API
// server rejects (verdicts.txt, which TestCorpusVerdictsAreTheServers checks against a real one).
func TestOfflineVerdictsAgreeWithTheServer(t *testing.T) {
	t.Parallel()
	edits := []func(map[string]string){
		replace("marina.yaml", "  engines: [argocd, flux]\n", "  engines: [argocd, flux]\n  gatewayAPI: {channel: experimental}\n"),
	}
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			edits = append(edits, withCorpus(t, e.Name()))
		}
	}
	rep := run(t, fixture(t, all(edits...), nil), validate.Options{})
	for _, v := range corpusVerdicts(t) {
		rejected := false
		for _, f := range rep.Findings {
			if f.File == path.Join("infrastructure/corpus", v.file) && f.Rule == "k8s-schema" && f.Line >= v.first && (v.end == 0 || f.Line < v.end) {
				rejected = true
			}
		}
		if rejected != v.reject {
			t.Errorf("%s document %d: offline rejected=%t, the API server's verdict rejected=%t\n%s", v.file, v.doc, rejected, v.reject, dump(rep))
		}
	}
}
