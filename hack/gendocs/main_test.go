package main

import (
	"os"
	"path/filepath"
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
