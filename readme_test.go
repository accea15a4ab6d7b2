package marina

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// layout returns the first field of each line of README.md's Layout block, without a trailing slash.
func layout(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Layout\n")
	_, block, ok2 := strings.Cut(section, "```\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md has no ## Layout section with a ``` block")
	}
	var entries []string
	for line := range strings.Lines(block) {
		if fields := strings.Fields(line); len(fields) > 0 {
			entries = append(entries, strings.TrimSuffix(fields[0], "/"))
		}
	}
	return entries
}

// packageDirs returns every directory holding Go files, build-tagged and test-only ones included.
func packageDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if dir := filepath.ToSlash(filepath.Dir(p)); !d.IsDir() && strings.HasSuffix(p, ".go") && dir != "." && !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// TestTheReadmeLayoutListsEveryPackage: a package added without a line in README.md's Layout section, or a line
// left behind for a directory that is gone, fails here.
func TestTheReadmeLayoutListsEveryPackage(t *testing.T) {
	t.Parallel()
	entries := layout(t)
	for _, dir := range packageDirs(t) {
		if !slices.Contains(entries, dir) {
			t.Errorf("README.md's Layout section does not list %s: add a line saying what it holds", dir)
		}
	}
	for _, e := range entries {
		if fi, err := os.Stat(e); err != nil || !fi.IsDir() {
			t.Errorf("README.md's Layout section lists %s, which is not a directory of the repository", e)
		}
	}
}
