package oci_test

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/oci"
	"github.com/marina-dev/marina/internal/testenv"
)

// artifact writes a model file of size random bytes and returns the artifact of version 1.0.0 of model "fraud".
func artifact(t *testing.T, size int) oci.Artifact {
	t.Helper()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	file := filepath.Join(t.TempDir(), "v1.0.0.onnx")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	d, _, err := model.DigestFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return oci.Artifact{File: file, Name: "v1.0.0.onnx", Digest: d, Metadata: []byte(`{"name":"fraud"}`),
		Model: "fraud", Version: "1.0.0", Created: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
}

// dockerConfig writes a Docker config.json holding r's credentials and returns its path.
func dockerConfig(t *testing.T, host, username, password string) string {
	t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte(username + ":" + password))
	file := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(file, []byte(`{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// options are the Options that reach r: its CA, plain HTTP without TLS, its credentials in a Docker config.
func options(t *testing.T, r *testenv.Registry) oci.Options {
	o := oci.Options{PlainHTTP: r.CAFile == "", CAFile: r.CAFile, DockerConfig: filepath.Join(t.TempDir(), "none.json")}
	if r.Username != "" {
		o.DockerConfig = dockerConfig(t, r.Host, r.Username, r.Password)
	}
	return o
}

func repository(t *testing.T, r *testenv.Registry) oci.Reference {
	ref, err := oci.ParseRepository(r.Host + "/models/fraud")
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// entries lists dir's files.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// onEachRegistry runs test, in parallel, against each kind of registry the round trips run against, started for it,
// with the options that reach it.
func onEachRegistry(t *testing.T, test func(t *testing.T, r *testenv.Registry, o oci.Options)) {
	for _, tc := range []struct {
		name string
		o    testenv.RegistryOptions
	}{
		{name: "plain HTTP on loopback"},
		{name: "TLS with a private CA and basic auth from the Docker config", o: testenv.RegistryOptions{TLS: true, BasicAuth: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := testenv.StartRegistry(t, tc.o)
			test(t, r, options(t, r))
		})
	}
}

func TestPushedVersionPullsBackByteForByteAndTheSecondPullIsCached(t *testing.T) {
	t.Parallel()
	onEachRegistry(t, func(t *testing.T, r *testenv.Registry, o oci.Options) {
		a := artifact(t, 3<<20)
		ref, err := oci.Push(t.Context(), o, a, repository(t, r))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ref.URI(), "oci://"+r.Host+"/models/fraud@sha256:") {
			t.Fatalf("pushed to %s", ref.URI())
		}
		dir := filepath.Join(t.TempDir(), "models")
		p, err := oci.Pull(t.Context(), o, ref, dir, a.Digest)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(a.File)
		got, err := os.ReadFile(filepath.Join(dir, "v1.0.0.onnx"))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("pulled file differs from the pushed one (%v)", err)
		}
		if p.File != filepath.Join(dir, "v1.0.0.onnx") || p.Digest != a.Digest || string(p.Metadata) != string(a.Metadata) || p.Cached ||
			p.Model != "fraud" || p.Version != "1.0.0" {
			t.Fatalf("pulled %+v", p)
		}
		if names := entries(t, dir); len(names) != 1 {
			t.Fatalf("the model directory holds %v, want the model file only", names)
		}
		again, err := oci.Pull(t.Context(), o, ref, dir, "")
		if err != nil || !again.Cached {
			t.Fatalf("second pull: cached=%v err=%v", again != nil && again.Cached, err)
		}
	})
}

func TestTheSameVersionPushedTwiceOrToAnotherRegistryHasOneDigest(t *testing.T) {
	t.Parallel()
	r1 := testenv.StartRegistry(t, testenv.RegistryOptions{})
	r2 := testenv.StartRegistry(t, testenv.RegistryOptions{})
	a := artifact(t, 1<<20)
	var digests []string
	for _, r := range []*testenv.Registry{r1, r1, r2} {
		ref, err := oci.Push(t.Context(), options(t, r), a, repository(t, r))
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, ref.Digest)
	}
	if digests[0] != digests[1] || digests[0] != digests[2] {
		t.Fatalf("digests differ: %v", digests)
	}
}

// TestTheArtifactIsAnImageAContainerRuntimeCanMount reads what was pushed with plain HTTP, as containerd would.
func TestTheArtifactIsAnImageAContainerRuntimeCanMount(t *testing.T) {
	t.Parallel()
	r := testenv.StartRegistry(t, testenv.RegistryOptions{})
	a := artifact(t, 4096)
	ref, err := oci.Push(t.Context(), options(t, r), a, repository(t, r))
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, accept string) []byte { return registryGet(t, r, path, accept) }
	var m ocispec.Manifest
	if err := json.Unmarshal(get("manifests/1.0.0", ocispec.MediaTypeImageManifest), &m); err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != oci.ArtifactType || m.Config.MediaType != ocispec.MediaTypeImageConfig || len(m.Layers) != 1 ||
		m.Layers[0].MediaType != ocispec.MediaTypeImageLayer || m.Annotations[oci.AnnotationModelDigest] != a.Digest ||
		m.Layers[0].Annotations[oci.AnnotationFilepath] != "model/v1.0.0.onnx" {
		t.Fatalf("manifest tagged 1.0.0: %+v", m)
	}
	var config ocispec.Image
	if err := json.Unmarshal(get("blobs/"+m.Config.Digest.String(), "*/*"), &config); err != nil {
		t.Fatal(err)
	}
	if config.OS != "linux" || config.RootFS.Type != "layers" || len(config.RootFS.DiffIDs) != 1 || config.RootFS.DiffIDs[0] != m.Layers[0].Digest {
		t.Fatalf("config: %+v", config)
	}
	tr := tar.NewReader(bytes.NewReader(get("blobs/"+m.Layers[0].Digest.String(), "*/*")))
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: uid %d gid %d mtime %s, want 0, 0, the epoch", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		got = append(got, h.Name+" "+os.FileMode(h.Mode).String())
	}
	want := []string{"model/ -r-xr-xr-x", "model/marina.json -r--r--r--", "model/v1.0.0.onnx -r--r--r--"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("layer holds %v, want %v", got, want)
	}
	if digest.FromBytes(get("manifests/1.0.0", ocispec.MediaTypeImageManifest)).String() != ref.Digest {
		t.Fatalf("the tag 1.0.0 names another manifest than %s", ref.Digest)
	}
}
