package crash

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var marina string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "marina-crash")
	if err != nil {
		panic(err)
	}
	marina = filepath.Join(dir, "marina")
	build := exec.Command("go", "build", "-tags", "failpoints", "-o", marina, "github.com/marina-dev/marina/cmd/marina")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		panic("building marina: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
