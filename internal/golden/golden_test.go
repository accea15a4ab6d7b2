package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/tbtest"
)

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The tests below set the package's -update flag, so they do not run in parallel.

func TestCheckFailsWithADiffOfTheChangedLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.yaml")
	var want, got strings.Builder
	for i := range 60 {
		fmt.Fprintf(&want, "line%d: %d\n", i, i)
		fmt.Fprintf(&got, "line%d: %d\n", i, map[bool]int{true: -1, false: i}[i == 40])
	}
	write(t, path, want.String())
	fails := tbtest.Failures(t, func(tb testing.TB) { Check(tb, path, []byte(got.String())) })
	if len(fails) != 1 {
		t.Fatalf("want one failure, got %q", fails)
	}
	// go-cmp varies its whitespace on purpose: look for the marked lines, not for exact text.
	removed := regexp.MustCompile(`(?m)^[\s\p{Zs}]*-[\s\p{Zs}]+"line40: 40",$`)
	added := regexp.MustCompile(`(?m)^[\s\p{Zs}]*\+[\s\p{Zs}]+"line40: -1",$`)
	if !removed.MatchString(fails[0]) || !added.MatchString(fails[0]) || !strings.Contains(fails[0], "-update") {
		t.Errorf("want - line40: 40, + line40: -1 and a hint at -update in:\n%s", fails[0])
	}
	if strings.Contains(fails[0], "line5: 5") {
		t.Errorf("the failure prints lines far from the change, not a diff:\n%s", fails[0])
	}
	if again := tbtest.Failures(t, func(tb testing.TB) { Check(tb, path, []byte(want.String())) }); again != nil {
		t.Errorf("the same output failed: %q", again)
	}
}

func TestOnlyNamesTheGoldenFilesNoTestComparesWith(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.yaml", "sub/b.yaml", "renamed-case.yaml"} {
		write(t, filepath.Join(dir, f), "x\n")
	}
	got := tbtest.Failures(t, func(tb testing.TB) { Only(tb, dir, "a.yaml", "sub/b.yaml") })
	if len(got) != 1 || !strings.Contains(got[0], "renamed-case.yaml: no test compares with this golden file") {
		t.Fatalf("want one failure naming renamed-case.yaml, got %q", got)
	}
}

func TestUpdateRemovesTheGoldenFilesNoTestComparesWith(t *testing.T) {
	*update = true
	t.Cleanup(func() { *update = false })
	dir := t.TempDir()
	for _, f := range []string{"a.yaml", "sub/b.yaml", "renamed-case.yaml", "sub/gone.yaml"} {
		write(t, filepath.Join(dir, f), "x\n")
	}
	if got := tbtest.Failures(t, func(tb testing.TB) { Only(tb, dir, "a.yaml", "sub/b.yaml") }); got != nil {
		t.Fatalf("-update failed: %q", got)
	}
	var left []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			left = append(left, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(left, []string{"a.yaml", "sub/b.yaml"}) {
		t.Errorf("after -update the directory holds %v, want [a.yaml sub/b.yaml]", left)
	}
}
