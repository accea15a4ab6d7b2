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
	out := refusal(t, "onnxruntime.sh", "MARINA_CACHE="+cache, "ONNXRUNTIME_TARBALL="+tarball)
	for _, want := range []string{tarball, "6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75", "refusing to install"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not mention %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(cache, "onnxruntime", "1.30.0", "libonnxruntime.so.1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the library was installed anyway (stat: %v)", err)
	}
}

// refusal runs hack/<script> with env added to the test's and returns its output; it must exit 1.
func refusal(t *testing.T, script string, env ...string) []byte {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join("..", "..", "hack", script))
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("hack/%s: %v, want exit 1\n%s", script, err, out)
	}
	return out
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

// TestModelsScriptRefusesATarballThatIsNotThePinnedOne gives hack/models.sh a copy of @ricky0123/vad-web whose
// model is not silero's: it must fail naming the pinned checksum and install nothing.
func TestModelsScriptRefusesATarballThatIsNotThePinnedOne(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	writeTarball(t, filepath.Join(work, "ricky0123-vad-web-0.0.31.tgz"), "package/dist/silero_vad_v5.onnx", "not the real model")
	cache := filepath.Join(work, "cache")
	out := refusal(t, "models.sh", "MARINA_CACHE="+cache, "MARINA_MODELS_TARBALLS="+work)
	for _, want := range []string{"@ricky0123/vad-web@0.0.31", "d1a211cf1a2ed26297da52cc08de79e75d79838a274bfc6de546feb1f828c940", "refusing it"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not mention %q:\n%s", want, out)
		}
	}
	if entries, err := os.ReadDir(filepath.Join(cache, "models")); len(entries) > 0 {
		t.Errorf("models were installed anyway: %v (%v)", entries, err)
	}
}
