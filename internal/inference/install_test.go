package inference_test

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallScriptRefusesATarballThatIsNotThePinnedOne gives hack/onnxruntime.sh a tarball laid out like
// onnxruntime-node's whose library is not ONNX Runtime's: it must fail naming both checksums and install nothing.
func TestInstallScriptRefusesATarballThatIsNotThePinnedOne(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	tarball := filepath.Join(work, "onnxruntime-node-1.30.0.tgz")
	writeTarball(t, tarball, "package/bin/napi-v6/linux/x64/libonnxruntime.so.1", "not the real library")
	cache := filepath.Join(work, "cache")
	cmd := exec.Command("bash", filepath.Join("..", "..", "hack", "onnxruntime.sh"))
	cmd.Env = append(os.Environ(), "MARINA_CACHE="+cache, "ONNXRUNTIME_TARBALL="+tarball)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("hack/onnxruntime.sh: %v, want exit 1\n%s", err, out)
	}
	for _, want := range []string{tarball, "6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75", "refusing to install"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not mention %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(cache, "onnxruntime", "1.30.0", "libonnxruntime.so.1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the library was installed anyway (stat: %v)", err)
	}
}

func writeTarball(t *testing.T, path, name, content string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []interface{ Close() error }{tw, gz, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
