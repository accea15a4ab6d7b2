package schemas_test

import (
	"errors"
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
		{"an alias in the first document", "a: &x [1]\nb: *x\n---\nc: 1\n", "m.yaml:2: b: YAML aliases", 1},
		{"a duplicate key in the second document", "a: 1\n---\nb: 1\nb: 2\n", "m.yaml:4: b: duplicate key", 1},
		{"a syntax error ends the stream", "a: 1\n---\nb: [1,\n", "m.yaml", 1},
		{"too large", strings.Repeat("#", 65), "larger than the 64 byte limit", 0},
		{"not utf-8", "a: \xff\n", "not valid UTF-8", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			docs, err := schemas.ParseStream("m.yaml", []byte(c.input), 64)
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
