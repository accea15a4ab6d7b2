package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// MainWithMarina is the TestMain of the packages that run marina as a process (test/e2e, test/crash): it builds
// cmd/marina once, with buildFlags (e.g. "-tags", "x"), into a temporary directory, sets *bin to the binary, runs
// the tests and removes the build.
func MainWithMarina(m *testing.M, bin *string, buildFlags ...string) {
	dir, err := os.MkdirTemp("", "marina-bin")
	if err != nil {
		panic(err)
	}
	*bin = filepath.Join(dir, "marina")
	args := append(append([]string{"build", "-o", *bin}, buildFlags...), "github.com/marina-dev/marina/cmd/marina")
	build := exec.Command("go", args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		panic("building marina: " + err.Error())
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
