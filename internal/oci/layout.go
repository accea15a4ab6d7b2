package oci

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/marina-dev/marina/internal/model"
)

// Media types and annotation keys of a model artifact. ArtifactType and the org.cncf.model.* keys are the CNCF
// ModelPack specification's (its Go module is not served here, so they are written from the spec). The config and
// layer are an OCI image's, not ModelPack's application/vnd.cncf.model.config.v1+json and
// application/vnd.cncf.model.weight.v1.tar: container runtimes mount only images as Kubernetes image volumes.
const (
	// ArtifactType is the manifest's artifactType: a ModelPack model manifest.
	ArtifactType = "application/vnd.cncf.model.manifest.v1+json"
	// MediaTypeConfig is the config's media type: an OCI image config.
	MediaTypeConfig = ocispec.MediaTypeImageConfig
	// MediaTypeLayer is the single layer's media type: an uncompressed tar (models compress poorly, and an
	// uncompressed layer's digest is the digest of what a runtime unpacks).
	MediaTypeLayer = ocispec.MediaTypeImageLayer
	// AnnotationFilepath (ModelPack) names the model file in the layer: model/<file>.
	AnnotationFilepath = "org.cncf.model.filepath"
	// AnnotationModelDigest is the sha256 of the model file itself, the version's artifact.digest: what serve checks.
	AnnotationModelDigest = "dev.marina.model.digest"
	// AnnotationModelName is the registered model's name.
	AnnotationModelName = "dev.marina.model.name"
	// Dir is the directory of the layer holding the files: an image volume mounted at /models shows
	// /models/model/<file>.
	Dir = "model"
	// MetadataFile is the version's metadata beside the model file: model/marina.json.
	MetadataFile = "marina.json"
	// Platform of the config: runtimes match an image's platform when they mount it; a model file runs anywhere,
	// and Kubernetes nodes that mount image volumes are linux.
	platformOS, platformArch = "linux", "amd64"
	// maxManifest caps what is read of a manifest or config from a registry.
	maxManifest = 4 << 20
)

// ErrBadArtifact is returned for a manifest or layer that is not a marina model artifact, or does not hold what it
// says.
var ErrBadArtifact = errors.New("not a marina model artifact")

// Artifact is what a model version's artifact holds.
type Artifact struct {
	// File is the model file on this machine.
	File string
	// Name is the model file's name in the artifact, model/<Name>; see CheckFileName.
	Name string
	// Digest is the registered sha256 of the model file (artifact.digest): packing refuses a file without it.
	Digest string
	// Metadata is model/marina.json, the version's metadata.
	Metadata []byte
	// Model, Version and Created annotate the manifest (OCI title, version and created).
	Model, Version string
	Created        time.Time
}

// CheckFileName reports whether name can name the model file in an artifact: a plain file name, not marina.json.
func CheckFileName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("model file name %q: empty", name)
	case strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("model file name %q: a file name without directories", name)
	case name == MetadataFile:
		return fmt.Errorf("model file name %q: taken by the version's metadata; rename the model file", name)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("model file name %q: a hidden file; rename the model file", name)
	}
	return nil
}

// packed is an artifact laid out for a registry: the layer is streamed from the file (twice: once to hash it,
// once to upload it), the config and manifest are small.
type packed struct {
	layer, config, manifest  ocispec.Descriptor
	configJSON, manifestJSON []byte
}

// pack hashes the artifact's layer and builds its config and manifest, checking the model file's digest against
// a.Digest. The two digests are computed at once, each over its own read of the file (the page cache serves the
// second): a file that changed in between gives a layer whose model file has another digest, which pull refuses.
func pack(a Artifact) (*packed, error) {
	if err := CheckFileName(a.Name); err != nil {
		return nil, err
	}
	type fileDigest struct {
		digest string
		err    error
	}
	fileDone := make(chan fileDigest, 1)
	go func() {
		d, _, err := model.DigestFile(a.File)
		fileDone <- fileDigest{d, err}
	}()
	layerHash := sha256.New()
	size, err := writeLayer(layerHash, a)
	file := <-fileDone
	if err != nil {
		return nil, err
	}
	if file.err != nil {
		return nil, file.err
	}
	if file.digest != a.Digest {
		return nil, fmt.Errorf("%s has digest %s, but the version records %s: push the registered file", a.File, file.digest, a.Digest)
	}
	p := &packed{layer: ocispec.Descriptor{
		MediaType: MediaTypeLayer, Digest: digest.NewDigest(digest.SHA256, layerHash), Size: size,
		Annotations: map[string]string{AnnotationFilepath: path.Join(Dir, a.Name)},
	}}
	created := a.Created.UTC()
	config := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{OS: platformOS, Architecture: platformArch},
		Config:   ocispec.ImageConfig{Labels: map[string]string{ocispec.AnnotationTitle: a.Model, ocispec.AnnotationVersion: a.Version}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{p.layer.Digest}},
	}
	if p.configJSON, err = json.Marshal(config); err != nil {
		return nil, err
	}
	p.config = ocispec.Descriptor{MediaType: MediaTypeConfig, Digest: digest.FromBytes(p.configJSON), Size: int64(len(p.configJSON))}
	manifest := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactType,
		Config:       p.config,
		Layers:       []ocispec.Descriptor{p.layer},
		Annotations: map[string]string{
			ocispec.AnnotationTitle:   a.Model,
			ocispec.AnnotationVersion: a.Version,
			ocispec.AnnotationCreated: created.Format(time.RFC3339),
			AnnotationModelName:       a.Model,
			AnnotationModelDigest:     a.Digest,
		},
	}
	if p.manifestJSON, err = json.Marshal(manifest); err != nil {
		return nil, err
	}
	p.manifest = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: ArtifactType,
		Digest: digest.FromBytes(p.manifestJSON), Size: int64(len(p.manifestJSON))}
	return p, nil
}

// writeLayer writes the artifact's tar layer to w: model/ (0555), model/marina.json and model/<Name> (0444), owned
// by 0:0, modified at the Unix epoch, so the same inputs give the same bytes. It returns the layer's size.
func writeLayer(w io.Writer, a Artifact) (int64, error) {
	f, err := os.Open(a.File)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: not a regular file", a.File)
	}
	cw := &countingWriter{w: w}
	tw := tar.NewWriter(cw)
	epoch := time.Unix(0, 0)
	header := func(name string, mode, size int64, typ byte) *tar.Header {
		return &tar.Header{Typeflag: typ, Name: name, Mode: mode, Size: size, ModTime: epoch, Format: tar.FormatPAX}
	}
	if err := tw.WriteHeader(header(Dir+"/", 0o555, 0, tar.TypeDir)); err != nil {
		return 0, err
	}
	if err := tw.WriteHeader(header(path.Join(Dir, MetadataFile), 0o444, int64(len(a.Metadata)), tar.TypeReg)); err != nil {
		return 0, err
	}
	if _, err := tw.Write(a.Metadata); err != nil {
		return 0, err
	}
	if err := tw.WriteHeader(header(path.Join(Dir, a.Name), 0o444, fi.Size(), tar.TypeReg)); err != nil {
		return 0, err
	}
	n, err := io.Copy(tw, f)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", a.File, err)
	}
	if n != fi.Size() {
		return 0, fmt.Errorf("%s changed while it was read (%d bytes, then %d)", a.File, fi.Size(), n)
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// parseManifest reads a model artifact's manifest and returns it with the model file's name, after checking it is
// one: a config of MediaTypeConfig, one layer of MediaTypeLayer naming model/<file>, and the model file's digest.
func parseManifest(data []byte) (*ocispec.Manifest, string, error) {
	var m ocispec.Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return nil, "", fmt.Errorf("%w: the manifest is not JSON: %v", ErrBadArtifact, err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest {
		return nil, "", fmt.Errorf("%w: manifest mediaType %q, want %s (an index or a Docker manifest is not a model artifact)", ErrBadArtifact, m.MediaType, ocispec.MediaTypeImageManifest)
	}
	if m.Config.MediaType != MediaTypeConfig {
		return nil, "", fmt.Errorf("%w: config mediaType %q, want %s", ErrBadArtifact, m.Config.MediaType, MediaTypeConfig)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != MediaTypeLayer {
		return nil, "", fmt.Errorf("%w: want one layer of %s, got %d layers", ErrBadArtifact, MediaTypeLayer, len(m.Layers))
	}
	if err := m.Layers[0].Digest.Validate(); err != nil || m.Layers[0].Digest.Algorithm() != digest.SHA256 || m.Layers[0].Size < 0 {
		return nil, "", fmt.Errorf("%w: the layer's digest %q or size %d is invalid", ErrBadArtifact, m.Layers[0].Digest, m.Layers[0].Size)
	}
	dir, name := path.Split(m.Layers[0].Annotations[AnnotationFilepath])
	if dir != Dir+"/" {
		return nil, "", fmt.Errorf("%w: the layer's %s annotation is %q, want %s/<file>", ErrBadArtifact, AnnotationFilepath, m.Layers[0].Annotations[AnnotationFilepath], Dir)
	}
	if err := CheckFileName(name); err != nil {
		return nil, "", fmt.Errorf("%w: %s: %v", ErrBadArtifact, AnnotationFilepath, err)
	}
	if want := m.Annotations[AnnotationModelDigest]; digest.Digest(want).Validate() != nil || !strings.HasPrefix(want, "sha256:") {
		return nil, "", fmt.Errorf("%w: the manifest's %s annotation %q is not a sha256 digest", ErrBadArtifact, AnnotationModelDigest, want)
	}
	return &m, name, nil
}
