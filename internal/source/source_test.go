package source_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/marina-dev/marina/internal/source"
)

func TestFindRootFromWorkingDirFindsMarinasGoModAtOrAbove(t *testing.T) {
	tree := t.TempDir()
	deep := filepath.Join(tree, "internal", "x")
	other := t.TempDir()
	for path, body := range map[string]string{
		filepath.Join(tree, "go.mod"):          "module " + source.Module + "\n",
		filepath.Join(deep, "go.mod.txt"):      "not a go.mod",
		filepath.Join(other, "go.mod"):         "module example.com/other\n",
		filepath.Join(other, "sub", "file.go"): "package sub\n",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{tree, deep} {
		t.Chdir(dir)
		if got, err := source.FindRootFromWorkingDir(); err != nil || got != tree {
			t.Errorf("from %s: %q, %v; want %s", dir, got, err, tree)
		}
	}
	t.Chdir(filepath.Join(other, "sub"))
	if got, err := source.FindRootFromWorkingDir(); !errors.Is(err, source.ErrNoRoot) {
		t.Errorf("in another module's tree: %q, %v; want ErrNoRoot", got, err)
	}
}
