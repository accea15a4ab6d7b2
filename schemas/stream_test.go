package schemas_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/marina-dev/marina/schemas"
)

const manifests = `# two objects and an empty document
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
---
apiVersion: v1
kind: Service
metadata:
  name: b
spec:
  ports:
    - port: 80
`

func TestParseStreamReadsEveryDocumentWithWholeFileLines(t *testing.T) {
	t.Parallel()
	docs, err := schemas.ParseStream("m.yaml", []byte(manifests), schemas.MaxManifestSize)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("got %d documents, want 2", len(docs))
	}
	if got := docs[1].Line("/spec/ports/0/port"); got != 13 {
		t.Errorf("line of spec.ports[0].port = %d, want 13", got)
	}
	if got := docs[1].Path("/spec/ports/0/port"); got != "spec.ports[0].port" {
		t.Errorf("path = %q", got)
	}
	if got := docs[1].LineOfPath("metadata.name"); got != 10 {
		t.Errorf("LineOfPath(metadata.name) = %d, want 10", got)
	}
}

func TestParseStreamReportsEachBadDocumentAndKeepsTheOthers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, input, want string
		docs              int
	}{
		{"an alias bomb in the first document", aliasBomb + "---\nc: 1\n", "YAML aliases expand to more than 100000 values", 1},
		{"a duplicate key in the second document", "a: 1\n---\nb: 1\nb: 2\n", "m.yaml:4: b: duplicate key", 1},
		{"a syntax error in the middle", "a: 1\n---\nb: [1,\n---\nc: 1\n", "m.yaml:3: not valid YAML/JSON", 2},
		{"a syntax error in a flow mapping", "a: {b: 1\n---\nc: 1\n", "m.yaml:1: not valid YAML/JSON", 1},
		{"too large", strings.Repeat("#", 1025), "m.yaml:1: file is 1025 bytes, larger than the 1024 byte limit", 0},
		{"not utf-8", "a: 1\nb: \xff\n", "m.yaml:2: file is not valid UTF-8", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			docs, err := schemas.ParseStream("m.yaml", []byte(c.input), 1024)
			var fe *schemas.FileError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if len(docs) != c.docs {
				t.Fatalf("got %d documents, want %d", len(docs), c.docs)
			}
		})
	}
}

// aliasBomb expands to 10^8 values (a "billion laughs").
const aliasBomb = `a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
i: [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
`

// TestParseStreamExpandsAnchorsAliasesAndMergeKeys: Kubernetes manifests may use them (kubectl, kustomize and the
// engines expand them); fields of the mapping itself win over merged ones, and the first merged mapping wins.
func TestParseStreamExpandsAnchorsAliasesAndMergeKeys(t *testing.T) {
	t.Parallel()
	const in = `base: &base {image: nginx, pullPolicy: Always}
more: &more {image: busybox, cpu: 1}
containers:
  - <<: [*base, *more]
    name: web
    pullPolicy: IfNotPresent
  - *base
`
	docs, err := schemas.ParseStream("m.yaml", []byte(in), 1024)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(docs[0].Value.(map[string]any)["containers"])
	want := `[{"cpu":1,"image":"nginx","name":"web","pullPolicy":"IfNotPresent"},{"image":"nginx","pullPolicy":"Always"}]`
	if string(got) != want {
		t.Fatalf("containers = %s, want %s", got, want)
	}
	if l := docs[0].Line("/containers/0/pullPolicy"); l != 6 {
		t.Errorf("line of the mapping's own field = %d, want 6", l)
	}
	if l := docs[0].Line("/containers/1"); l != 7 {
		t.Errorf("line of an alias = %d, want 7", l)
	}
	if _, err := schemas.Parse("marina.yaml", []byte(in)); err == nil || !strings.Contains(err.Error(), "not allowed in marina files") {
		t.Fatalf("marina's own files must refuse them: %v", err)
	}
}

// TestParseStreamNamesYAML11Booleans: yes/on/off are strings here (YAML 1.2) and booleans for kubectl (YAML 1.1).
func TestParseStreamNamesYAML11Booleans(t *testing.T) {
	t.Parallel()
	docs, err := schemas.ParseStream("m.yaml", []byte("a: yes\nb: \"on\"\nc: [Off, n, true, 'y']\nd: nope\n"), 1024)
	if err != nil {
		t.Fatal(err)
	}
	got := docs[0].YAML11Booleans()
	slices.Sort(got)
	if want := []string{"/a", "/c/0", "/c/1"}; !slices.Equal(got, want) {
		t.Fatalf("YAML11Booleans = %v, want %v", got, want)
	}
}

func TestParseStreamAcceptsAnEmptyFile(t *testing.T) {
	t.Parallel()
	docs, err := schemas.ParseStream("m.yaml", []byte("# nothing\n"), 64)
	if err != nil || len(docs) != 0 {
		t.Fatalf("docs %d, err %v", len(docs), err)
	}
}

func FuzzParseStream(f *testing.F) {
	f.Add([]byte(manifests))
	f.Add([]byte("a: &x [1]\n---\nb: *x\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("a: &a {b: 1}\nc: {<<: *a, d: 2}\n--- {e: [1,\n---\nf: yes\n"))
	f.Add([]byte(aliasBomb))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := schemas.ParseStream("m.yaml", data, schemas.MaxManifestSize)
		for _, d := range docs {
			if d == nil || d.Root == nil {
				t.Fatal("nil document")
			}
		}
		var fe *schemas.FileError
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("error is not a *FileError: %v", err)
		}
	})
}
