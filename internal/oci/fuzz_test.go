package oci

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// FuzzParseManifest feeds parseManifest what a registry could send: it never panics, and what it accepts names a
// plain model file in model/.
func FuzzParseManifest(f *testing.F) {
	file := filepath.Join(f.TempDir(), "m.onnx")
	if err := os.WriteFile(file, []byte("model"), 0o644); err != nil {
		f.Fatal(err)
	}
	p, err := pack(Artifact{File: file, Name: "m.onnx", Digest: digest.FromString("model").String(), Model: "m", Version: "1.0.0", Created: time.Unix(0, 0)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(p.manifestJSON)
	f.Add([]byte(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","annotations":{"org.cncf.model.filepath":"model/../x"}}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, name, err := parseManifest(data)
		if err != nil {
			return
		}
		if CheckFileName(name) != nil {
			t.Fatalf("accepted a manifest naming %q", name)
		}
	})
}
