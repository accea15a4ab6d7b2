package crash

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/model/onnxtest"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

// hostileVersion is models/m/v1.0.0.json recording uri as the artifact, with the digest of data, so a command that
// followed uri out of the repository would find the digest matching and carry on.
func hostileVersion(uri string, data []byte) string {
	sum := sha256.Sum256(data)
	return fmt.Sprintf(`{"name": "m", "version": "1.0.0", "tag": "v1.0.0-abcdef0", "format": "onnx",
  "artifact": {"uri": %q, "digest": "sha256:%s", "size": %d},
  "created": "2026-01-01T00:00:00Z", "state": "registered"}
`, uri, hex.EncodeToString(sum[:]), len(data))
}

const hostileApp = `apiVersion: marina.dev/v1alpha1
kind: ModelApplication
metadata: {name: m}
spec:
  model: m
  backend: plain
  runtime: {image: "registry.example.com/serve@sha256:` + "0000000000000000000000000000000000000000000000000000000000000000" + `", port: 8080}
  resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: "1", memory: 256Mi}}
  environments:
    staging: {version: 1.0.0, replicas: 1}
`

// TestAHostileRepositoryNeverMakesACommandReadOutsideIt runs every read command against repositories built to
// escape (symlinked and absolute artifacts, file:// URIs, a FIFO, a ..x model directory) and asserts each one's
// exit code, that none hangs, and that nothing outside the repository is read, served or rendered.
func TestAHostileRepositoryNeverMakesACommandReadOutsideIt(t *testing.T) {
	t.Parallel()
	// The outside file is a real ONNX model: a command that followed the escape would load and serve it.
	onnx, err := (&onnxtest.Linear{Input: "x", Output: "y", InputShape: []int64{2}, Weights: []float32{1, 0, 0, 1}, Bias: []float32{0, 0}}).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "outside-secret.onnx")
	if err := os.WriteFile(outside, onnx, 0o644); err != nil {
		t.Fatal(err)
	}
	type commands map[string]int // command line (space-separated) → exit code
	// render writes a path in the repository as it is, without reading it (exit 0 for a symlink), and refuses
	// one that is not (renderCode 1); the commands that read the artifact refuse both.
	read := func(renderCode int) commands {
		return commands{
			"validate":                   1,
			"model list":                 0,
			"model show m@1.0.0":         0,
			"model check m@1.0.0":        1,
			"render --env staging":       renderCode,
			"serve --model m@1.0.0":      1,
			"ci --checks=on --base HEAD": 1,
		}
	}
	cases := []struct {
		name  string
		files map[string]string
		setup func(t *testing.T, dir string)
		want  commands
	}{
		{name: "a committed symlink at the artifact path",
			files: map[string]string{"models/m/v1.0.0.json": hostileVersion("models/m/model.onnx", onnx)},
			setup: func(t *testing.T, dir string) { symlink(t, outside, filepath.Join(dir, "models", "m", "model.onnx")) },
			want:  read(0)},
		{name: "a symlinked directory on the artifact path",
			files: map[string]string{"models/m/v1.0.0.json": hostileVersion("models/m/art/outside-secret.onnx", onnx)},
			setup: func(t *testing.T, dir string) {
				symlink(t, filepath.Dir(outside), filepath.Join(dir, "models", "m", "art"))
			},
			want: read(0)},
		{name: "an absolute artifact path",
			files: map[string]string{"models/m/v1.0.0.json": hostileVersion(outside, onnx)},
			want:  read(1)},
		{name: "a file:// artifact URI",
			files: map[string]string{"models/m/v1.0.0.json": hostileVersion("file://"+outside, onnx)},
			want:  read(1)},
		{name: "an artifact path climbing out with ..",
			files: map[string]string{"models/m/v1.0.0.json": hostileVersion("models/../../"+filepath.Base(outside), onnx)},
			want:  read(1)},
		{name: "a FIFO where model.yaml should be",
			files: map[string]string{"models/m/v1.0.0.json": hostileVersion("s3://b/m.onnx", onnx)},
			setup: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, "applications", "m", "model.yaml")); err != nil {
					t.Fatal(err)
				}
				if err := syscall.Mkfifo(filepath.Join(dir, "applications", "m", "model.yaml"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: commands{"validate": 1, "model list": 0, "render --env staging": 1, "ci --checks=on --base HEAD": 1}},
		{name: "a model directory named ..x",
			files: map[string]string{"models/m/v1.0.0.json": hostileVersion("s3://b/m.onnx", onnx), "models/..x/v1.0.0.json": "{}"},
			want:  commands{"validate": 1, "model list": 1, "ci --checks=on --base HEAD": 1}},
	}
	trials, refused := 0, 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"applications/m/model.yaml": hostileApp}
			for k, v := range c.files {
				files[k] = v
			}
			dir := repotest.Dir(t, files)
			if c.setup != nil {
				c.setup(t, dir)
			}
			for cmdline, want := range c.want {
				code, out := runBounded(t, dir, strings.Fields(cmdline)...)
				trials++
				if code != 0 {
					refused++
				}
				if code != want {
					t.Errorf("marina %s: exit %d, want %d\n%s", cmdline, code, want, out)
				}
				if strings.Contains(out, "serving m ") {
					t.Errorf("marina %s served the model from outside the repository:\n%s", cmdline, out)
				}
			}
			for _, rendered := range []string{"applications/m/staging"} {
				if b, err := exec.Command("grep", "-r", outside, filepath.Join(dir, rendered)).Output(); err == nil {
					t.Errorf("rendered output holds the host path:\n%s", b)
				}
			}
		})
	}
	t.Logf("hostile repositories: %d cases, %d command runs, %d refused with a non-zero exit", len(cases), trials, refused)
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// runBounded runs marina in dir and returns its exit code and output; a command still running after 20 s has
// hung (or is serving) and is killed: exit -1.
func runBounded(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if args[0] == "serve" {
		args = append(args, "--addr", "127.0.0.1:0")
	}
	cmd := exec.CommandContext(ctx, marina, append([]string{"--repo", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com")
	out, _ := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Errorf("marina %s did not finish in 20 s (hung, or serving)", strings.Join(args, " "))
		return -1, string(out)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}
