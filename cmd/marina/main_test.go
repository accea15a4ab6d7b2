package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/ci"
	"github.com/marina-dev/marina/internal/cli"
	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

// buildStatic builds this command with CGO_ENABLED=0, as the static image does.
func buildStatic(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "marina")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build ./cmd/marina: %v\n%s", err, out)
	}
	return bin
}

// assertStatic fails unless bin is a statically linked ELF: no program interpreter, no shared library needed.
func assertStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: it is dynamically linked", bin)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v (%v)", bin, libs, err)
	}
}

// TestStaticBuildSaysONNXRuntimeIsNotInIt builds marina without cgo, checks that the binary is static, and runs
// every command that needs ONNX Runtime: each one says why it cannot run and exits 2, ci's automatic model checks
// say loudly that they were skipped, and what needs no runtime (reading an ONNX header to register) still works.
func TestStaticBuildSaysONNXRuntimeIsNotInIt(t *testing.T) {
	t.Parallel()
	bin := buildStatic(t)
	assertStatic(t, bin)
	dir := repotest.Example(t, nil)
	artifact := filepath.Join(dir, "models", "iris-classifier", "artifacts", "v1.0.0.onnx")
	notInBuild := inference.ErrNotInBuild.Error()

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "serve a file", args: []string{"serve", "--model", artifact, "--addr", "127.0.0.1:0"}, wantCode: cli.ExitUsage, wantStderr: notInBuild},
		{name: "serve a registered version", args: []string{"serve", "--model", "iris-classifier@1.0.0", "--addr", "127.0.0.1:0"}, wantCode: cli.ExitUsage, wantStderr: notInBuild},
		{name: "model check", args: []string{"model", "check", "iris-classifier@1.0.0"}, wantCode: cli.ExitUsage, wantStderr: notInBuild},
		{name: "register --evaluate", args: []string{"model", "register", "iris-classifier", "--version", "1.0.1", "--file", artifact, "--evaluate"}, wantCode: cli.ExitUsage, wantStderr: notInBuild},
		{name: "ci --checks on", args: []string{"ci", "--checks", "on"}, wantCode: cli.ExitUsage, wantStderr: notInBuild},
		// The example records no latency: without model checks its latency gates fail.
		{name: "ci skips the model checks loudly", args: []string{"ci"}, wantCode: cli.ExitFailed, wantStdout: ci.NotInBuildNote, wantStderr: "warning: " + ci.NotInBuildNote},
		{name: "ci --checks off says nothing about them", args: []string{"ci", "--checks", "off"}, wantCode: cli.ExitFailed},
		{name: "version", args: []string{"version"}, wantCode: cli.ExitOK, wantStdout: "VERSION"},
		// Last: it adds a version to the repository.
		{name: "register reads the ONNX header without the runtime", args: []string{"model", "register", "iris-classifier", "--version", "1.0.1", "--file", artifact}, wantCode: cli.ExitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, append(tt.args, "--repo", dir)...)
			cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com", "GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode || !strings.Contains(stdout.String(), tt.wantStdout) || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Fatalf("marina %s: exit %d, want %d with stdout containing %q and stderr %q\nstdout:\n%s\nstderr:\n%s",
					strings.Join(tt.args, " "), code, tt.wantCode, tt.wantStdout, tt.wantStderr, &stdout, &stderr)
			}
			if tt.wantStderr == "" && strings.Contains(stderr.String()+stdout.String(), "model checks skipped") {
				t.Errorf("marina %s mentions skipped checks:\n%s%s", strings.Join(tt.args, " "), &stdout, &stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "models", "iris-classifier", "v1.0.1.json")); err != nil {
		t.Errorf("register without --evaluate: %v", err)
	}
}
