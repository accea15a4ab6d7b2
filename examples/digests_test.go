package examples_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/model"
)

// digestPattern is a SHA-256 digest as images, artifacts and marina's metadata write it.
var digestPattern = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// shown reports whether a file is one a user reads as what marina writes or runs: the example repository, the
// templates of marina init, golden files, docs/ and the README.
func shown(path string) bool {
	return strings.HasPrefix(path, "examples/") || strings.HasPrefix(path, "internal/scaffold/templates/") ||
		strings.HasPrefix(path, "docs/") || path == "README.md" || strings.Contains(path, "/testdata/golden/")
}

// TestNoDigestIsMadeUp fails on a sha256:<64 hex> in the example, init's templates, golden files or docs that is
// the digest of no file in the repository: a pin nothing has (like the sha256:6d1b3c0f… the example once pinned
// marina's image by) reads as real and fails the first pull.
func TestNoDigestIsMadeUp(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("git", "-C", "..", "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	known := map[string]bool{}
	var scan []string
	for _, p := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		file := filepath.Join("..", filepath.FromSlash(p))
		if fi, err := os.Lstat(file); err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink
		}
		d, _, err := model.DigestFile(file)
		if err != nil {
			t.Fatal(err)
		}
		known[d] = true
		if shown(p) {
			scan = append(scan, p)
		}
	}
	if len(scan) < 100 {
		t.Fatalf("only %d files to scan: is git ls-files listing the repository?", len(scan))
	}
	for _, p := range scan {
		data, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(bytes.NewReader(data))
		lines.Buffer(nil, len(data)+1)
		for n := 1; lines.Scan(); n++ {
			for _, d := range digestPattern.FindAllString(lines.Text(), -1) {
				if !known[d] {
					t.Errorf("%s:%d: %s…: the digest of no file in the repository; write a real one (of a file, or of an image or artifact a test builds), or none", p, n, d[:19])
				}
			}
		}
	}
}
