package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedDocsAreCommitted regenerates the docs into a scratch directory and compares them with docs/: a
// change to a command, a schema or validate's rules without `go run ./hack/gendocs` fails here.
func TestGeneratedDocsAreCommitted(t *testing.T) {
	out := t.TempDir()
	if err := generate(out); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		want, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		got, err := os.ReadFile(filepath.Join("..", "..", "docs", rel))
		if err != nil || string(got) != string(want) {
			t.Errorf("docs/%s is stale or missing (%v): run go run ./hack/gendocs", rel, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestADescriptionBesideARefDescribesThatFieldOnly(t *testing.T) {
	var out strings.Builder
	w := &fieldWriter{out: &out, defs: map[string]any{"name": map[string]any{"type": "string", "maxLength": 253.0}}}
	w.walk("", map[string]any{"properties": map[string]any{
		"described": map[string]any{"$ref": "#/$defs/name", "description": "A Secret."},
		"plain":     map[string]any{"$ref": "#/$defs/name"},
	}}, false)
	want := "| `described` | string |  | A Secret.; at most 253 characters |\n| `plain` | string |  | at most 253 characters |\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}
