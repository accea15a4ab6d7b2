package inference

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// The npm package hack/onnxruntime.sh and Install take ONNX Runtime from: onnxruntime-node ships
// libonnxruntime.so.1 for linux/x64, and the tarball's sha256 is pinned.
const (
	// TarballSHA256 is the sha256 of onnxruntime-node-<RuntimeVersion>.tgz.
	TarballSHA256 = "6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75"
	// DefaultRegistry is npm's public registry.
	DefaultRegistry = "https://registry.npmjs.org"
	// tarballLib is the library's path inside the tarball.
	tarballLib = "package/bin/napi-v6/linux/x64/libonnxruntime.so.1"
	// maxTarball caps the download (the 1.30.0 tarball is 113 MB) and maxLib the extracted library (45 MB).
	maxTarball = 512 << 20
	maxLib     = 256 << 20
)

// ErrChecksum means a tarball is not the pinned one: tampered with, corrupt, or another version.
var ErrChecksum = errors.New("checksum mismatch")

// Installer puts the ONNX Runtime library where LibPath looks for it (CacheLibPath), as hack/onnxruntime.sh does:
// the npm tarball, checked against its pinned sha256, and that one file out of it. No npm and no install script.
type Installer struct {
	// Registry is the npm registry's base URL (default DefaultRegistry).
	Registry string
	// Tarball installs from a copy of the tarball instead of downloading it.
	Tarball string
	// Client downloads the tarball (default http.DefaultClient).
	Client *http.Client
	// Progress, when set, is told what happens.
	Progress io.Writer

	sha256 string // TarballSHA256 unless a test pins another tarball
}

// TarballURL is where a registry serves onnxruntime-node's tarball.
func TarballURL(registry string) string {
	return strings.TrimSuffix(registry, "/") + "/onnxruntime-node/-/onnxruntime-node-" + RuntimeVersion + ".tgz"
}

// Install installs the library unless it is there already, and returns its path.
func (in *Installer) Install(ctx context.Context) (string, error) {
	lib := CacheLibPath()
	if fi, err := os.Stat(lib); err == nil && fi.Size() > 0 {
		return lib, nil
	}
	want := in.sha256
	if want == "" {
		want = TarballSHA256
	}
	src, name, err := in.open(ctx)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dir := filepath.Dir(lib)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// The tarball is read once: hashed as it is extracted to a temporary file that becomes the library only when
	// the whole tarball had the pinned checksum.
	tmp, err := os.CreateTemp(dir, ".libonnxruntime-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	found, err := extract(io.TeeReader(io.LimitReader(src, maxTarball+1), h), tmp)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return "", fmt.Errorf("%w: %s has sha256 %s, but onnxruntime-node@%s is %s: refusing to install it (a tampered or corrupt download; retry, or pass the right file with --tarball)",
			ErrChecksum, name, got, RuntimeVersion, want)
	}
	if !found {
		return "", fmt.Errorf("%s: no %s in the tarball", name, tarballLib)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), lib); err != nil {
		return "", err
	}
	return lib, nil
}

// open returns the tarball's content and a name for it in messages.
func (in *Installer) open(ctx context.Context) (io.ReadCloser, string, error) {
	if in.Tarball != "" {
		f, err := os.Open(in.Tarball)
		return f, in.Tarball, err
	}
	registry := in.Registry
	if registry == "" {
		registry = DefaultRegistry
	}
	url := TarballURL(registry)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, url, fmt.Errorf("--registry %s: %w", registry, err)
	}
	client := in.Client
	if client == nil {
		client = http.DefaultClient
	}
	if in.Progress != nil {
		fmt.Fprintf(in.Progress, "downloading %s (~113 MB)\n", url)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, url, fmt.Errorf("downloading onnxruntime-node@%s: %w (pass --registry for a mirror, or --tarball FILE)", RuntimeVersion, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, url, fmt.Errorf("downloading %s: %s (pass --registry for a mirror, or --tarball FILE)", url, resp.Status)
	}
	return resp.Body, url, nil
}

// extract copies the library out of the gzipped tarball r into dst, and reads r to its end so the whole of it is
// hashed. It reports whether the library was there.
func extract(r io.Reader, dst io.Writer) (bool, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return false, fmt.Errorf("not a gzipped tarball: %w", err)
	}
	tr := tar.NewReader(zr)
	found := false
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, fmt.Errorf("reading the tarball: %w", err)
		}
		if hdr.Name != tarballLib || hdr.Typeflag != tar.TypeReg || found {
			continue
		}
		n, err := io.Copy(dst, io.LimitReader(tr, maxLib+1))
		if err != nil {
			return false, err
		}
		if n > maxLib {
			return false, fmt.Errorf("%s is larger than %d bytes", tarballLib, maxLib)
		}
		found = true
	}
	// Whatever follows the gzip stream is hashed too.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return false, err
	}
	return found, nil
}
