package golden

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ instead of comparing with them")

// Update reports whether the tests run with -update.
func Update() bool { return *update }

// Check compares got with the file at path, or writes it there with -update. A difference fails t with a diff.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the tests with -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		// Line by line: go-cmp diffs one long string by bytes, which reads badly for YAML.
		diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n"))
		t.Fatalf("output differs from %s (-%s +got; run the tests with -update and review the change):\n%s",
			path, filepath.Base(path), diff)
	}
}

// Only says that dir holds the golden files names (slash-separated paths relative to dir) and no others. With
// -update it removes the others; without, each fails t: a golden file no test compares with goes stale unnoticed.
func Only(t testing.TB, dir string, names ...string) {
	t.Helper()
	var others []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err == nil && !slices.Contains(names, filepath.ToSlash(rel)) {
			others = append(others, p)
		}
		return err
	})
	if err != nil && !(*update && os.IsNotExist(err)) {
		t.Fatalf("%v (run the tests with -update to create the golden files)", err)
	}
	for _, p := range others {
		if !*update {
			t.Errorf("%s: no test compares with this golden file (remove it, or run the tests with -update)", p)
		} else if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
}
