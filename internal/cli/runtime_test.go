package cli_test

import (
	"archive/tar"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/inference"
)

// TestRuntimeInstall sets MARINA_CACHE: it does not run in parallel.
func TestRuntimeInstall(t *testing.T) {
	t.Setenv("MARINA_CACHE", t.TempDir())
	fake := filepath.Join(t.TempDir(), "onnxruntime-node-"+inference.RuntimeVersion+".tgz")
	f, err := os.Create(fake)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for _, c := range []interface{ Close() error }{tw, gz, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--tarball", fake}, 1, "refusing to install it"},
		{[]string{"--tarball", fake + ".missing"}, 2, "no such file"},
		{[]string{"--tarball", fake, "--registry", "http://127.0.0.1:1"}, 2, "--registry and --tarball exclude each other"},
		{[]string{"--registry", "http://127.0.0.1:1"}, 2, "downloading onnxruntime-node@" + inference.RuntimeVersion},
	} {
		code, out, errOut := marina(t, append([]string{"runtime", "install"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("runtime install %v: exit %d, want %d and %q\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
	if _, err := os.Stat(inference.CacheLibPath()); !os.IsNotExist(err) {
		t.Errorf("something was installed: %v", err)
	}
	if out := mustMarina(t, "runtime", "install", "--help"); !strings.Contains(out, inference.TarballSHA256) || !strings.Contains(out, "marina runtime install --tarball") {
		t.Errorf("help:\n%s", out)
	}
}
