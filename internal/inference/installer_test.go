package inference

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

// npmTarball is a gzipped tarball laid out like onnxruntime-node's, with files by name, and its sha256.
func npmTarball(t *testing.T, files map[string]string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range []string{"package/package.json", tarballLib} {
		content, ok := files[name]
		if !ok {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return buf.Bytes(), hex.EncodeToString(sum[:])
}

// registry serves tarball where npm's registry serves onnxruntime-node's, and counts the downloads.
func registry(t *testing.T, tarball []byte) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/onnxruntime-node/-/onnxruntime-node-"+RuntimeVersion+".tgz" {
			http.NotFound(w, r)
			return
		}
		n.Add(1)
		_, _ = w.Write(tarball)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// The tests set MARINA_CACHE: none runs in parallel.

func TestInstallTakesTheLibraryOutOfThePinnedTarballOnce(t *testing.T) {
	t.Setenv("MARINA_CACHE", t.TempDir())
	t.Setenv("ONNXRUNTIME_LIB", "")
	tarball, sum := npmTarball(t, map[string]string{"package/package.json": "{}", tarballLib: "the library"})
	srv, downloads := registry(t, tarball)
	for range 2 {
		lib, err := (&Installer{Registry: srv.URL + "/", sha256: sum}).Install(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(lib); err != nil || string(b) != "the library" || lib != CacheLibPath() || lib != LibPath() {
			t.Fatalf("%s: %q %v", lib, b, err)
		}
	}
	if downloads.Load() != 1 {
		t.Errorf("%d downloads, want 1: an installed library is not fetched again", downloads.Load())
	}
}

func TestInstallRefusesWhatIsNotThePinnedTarballAndInstallsNothing(t *testing.T) {
	good, sum := npmTarball(t, map[string]string{tarballLib: "the library"})
	noLib, noLibSum := npmTarball(t, map[string]string{"package/package.json": "{}"})
	for _, tc := range []struct {
		name     string
		tarball  []byte
		pin      string
		path     bool // a registry that has no such file
		want     string
		sentinel error
	}{
		{"a tarball that is not onnxruntime-node's", good, "", false, "refusing to install it", ErrChecksum},
		{"a tarball one byte longer", append(bytes.Clone(good), 0), sum, false, "has sha256", ErrChecksum},
		{"the pinned tarball without the library", noLib, noLibSum, false, "no " + tarballLib, nil},
		{"not a tarball", []byte("<html>"), "", false, "not a gzipped tarball", nil},
		{"a registry without the package", good, sum, true, "404 Not Found", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			t.Setenv("MARINA_CACHE", cache)
			srv, _ := registry(t, tc.tarball)
			reg := srv.URL
			if tc.path {
				reg += "/mirror"
			}
			_, err := (&Installer{Registry: reg, sha256: tc.pin}).Install(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.sentinel != nil && !errors.Is(err, tc.sentinel)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if tc.sentinel != nil && !strings.Contains(err.Error(), TarballSHA256[:16]) && tc.pin == "" {
				t.Errorf("the error does not name the pinned checksum: %v", err)
			}
			left, _ := filepath.Glob(filepath.Join(cache, "onnxruntime", RuntimeVersion, "*"))
			left2, _ := filepath.Glob(filepath.Join(cache, "onnxruntime", RuntimeVersion, ".*"))
			if len(left)+len(left2) != 0 {
				t.Errorf("left behind: %v %v", left, left2)
			}
		})
	}
}

func TestInstallPinsWhatHackOnnxruntimeShPins(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "hack", "onnxruntime.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nversion=" + RuntimeVersion + "\n", "\ntarball_sha256=" + TarballSHA256 + "\n", tarballLib} {
		if !strings.Contains(string(b), want) {
			t.Errorf("hack/onnxruntime.sh does not have %q: the two installers must install the same library", want)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(TarballSHA256) {
		t.Errorf("TarballSHA256 %q", TarballSHA256)
	}
}
