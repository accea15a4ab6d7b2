package cli_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/oci"
	"github.com/marina-dev/marina/internal/signing"
	"github.com/marina-dev/marina/internal/signing/signingtest"
	"github.com/marina-dev/marina/internal/testenv"
)

// dockerLogin points DOCKER_CONFIG at a config.json holding r's credentials with password, as docker login writes
// it, and returns the file.
func dockerLogin(t *testing.T, r *testenv.Registry, password string) string {
	t.Helper()
	d := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(r.Username + ":" + password))
	file := filepath.Join(d, "config.json")
	if err := os.WriteFile(file, []byte(`{"auths":{"`+r.Host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", d)
	return file
}

// pushManifest pushes an OCI image manifest holding content to r's repository repo and returns it, pinned.
func pushManifest(t *testing.T, r *testenv.Registry, o oci.Options, repo, content string) oci.Reference {
	t.Helper()
	file := filepath.Join(t.TempDir(), "layer.bin")
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	d, _, err := model.DigestFile(file)
	if err != nil {
		t.Fatal(err)
	}
	to, err := oci.ParseRepository(r.Host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := oci.Push(t.Context(), o, oci.Artifact{File: file, Name: "layer.bin", Digest: d, Metadata: []byte("{}"),
		Model: "image", Version: "1.0.0", Created: time.Unix(0, 0)}, to)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestImageSignAttachesASignatureThatImageVerifyChecks(t *testing.T) {
	// not parallel: DOCKER_CONFIG
	r := testenv.StartRegistry(t, testenv.RegistryOptions{TLS: true, BasicAuth: true})
	o := oci.Options{CAFile: r.CAFile, DockerConfig: dockerLogin(t, r, r.Password)}
	image := pushManifest(t, r, o, "marina/marina-serve", "an image")
	other := pushManifest(t, r, o, "marina/marina-serve", "another image")
	private, public := signingtest.KeyPair(t, signingtest.ECDSA)
	_, stranger := signingtest.KeyPair(t, signingtest.Ed25519)
	ca := []string{"--ca-file", r.CAFile}

	// other carries a good signature of image, copied over: a signature for another digest
	key, err := signing.LoadPrivateKey(private, cryptoutils.StaticPasswordFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	copied, err := signing.SignImage(t.Context(), key, image.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oci.Attach(t.Context(), o, other, copied, signing.ImagePredicateType); err != nil {
		t.Fatal(err)
	}
	missing := image
	missing.Digest = digest.FromString("no such image").String()

	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"an unsigned image is refused", []string{"image", "verify", image.String(), "--key", public}, 1, "no signature attached"},
		{"a tag is refused", []string{"image", "sign", r.Host + "/marina/marina-serve:1.0.0", "--key", private}, 2, "by digest"},
		{"signing a missing image names the registry's answer", []string{"image", "sign", missing.String(), "--key", private}, 2, "no such artifact"},
		{"signing", []string{"image", "sign", image.String(), "--key", private}, 0, "signed " + image.String()},
		{"the signature verifies with the key", []string{"image", "verify", image.String(), "--key", public}, 0, "verified " + image.String()},
		{"one of two keys suffices", []string{"image", "verify", image.String(), "--key", stranger, "--key", public}, 0, "verified"},
		{"another key is refused", []string{"image", "verify", image.String(), "--key", stranger}, 1, "no signature verifies with " + stranger},
		{"a signature of another digest is refused", []string{"image", "verify", other.String(), "--key", public}, 1, "is for " + image.Digest + ", not " + other.Digest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := marina(t, append(tc.args, ca...)...)
			if code != tc.code || !strings.Contains(out+errOut, tc.says) {
				t.Fatalf("exit %d, want %d saying %q:\n%s%s", code, tc.code, tc.says, out, errOut)
			}
		})
	}

	var res struct{ Image, Signature string }
	if err := json.Unmarshal([]byte(mustMarina(t, append([]string{"image", "verify", image.String(), "--key", public, "-o", "json"}, ca...)...)), &res); err != nil {
		t.Fatal(err)
	}
	if res.Image != image.String() || !strings.HasPrefix(res.Signature, r.Host+"/marina/marina-serve@sha256:") {
		t.Fatalf("-o json: %+v", res)
	}

	dockerLogin(t, r, "wrong")
	code, out, errOut := marina(t, append([]string{"image", "verify", image.String(), "--key", public}, ca...)...)
	if code != 2 || !strings.Contains(errOut, "docker login "+r.Host) || strings.Contains(out+errOut, r.Password) {
		t.Fatalf("wrong password: exit %d\n%s%s", code, out, errOut)
	}
}
