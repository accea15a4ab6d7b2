package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/signing"
	"github.com/marina-dev/marina/internal/signing/signingtest"
)

const irisSignature = "models/iris-classifier/signatures/v1.0.0.sigstore.json"

// signedRepo is serveRepo with iris-classifier@1.0.0 signed by a new key; it returns the repository and the key pair.
func signedRepo(t *testing.T) (dir, private, public string) {
	t.Helper()
	dir = serveRepo(t, false)
	private, public = signingtest.KeyPair(t, signingtest.ECDSA)
	mustMarina(t, "--repo", dir, "model", "sign", "iris-classifier@1.0.0", "--key", private)
	return dir, private, public
}

func TestModelSignCommitsTheSignatureAndTheSigningFieldTogether(t *testing.T) {
	t.Parallel()
	dir := serveRepo(t, false)
	private, public := signingtest.KeyPair(t, signingtest.Ed25519)
	before := repotest.Git(t, dir, "rev-list", "--count", "HEAD")
	out := mustMarina(t, "--repo", dir, "model", "sign", "iris-classifier@1.0.0", "--key", private)
	if !strings.Contains(out, "signed iris-classifier@1.0.0") || !strings.Contains(out, irisSignature) {
		t.Fatalf("output: %s", out)
	}
	if after := repotest.Git(t, dir, "rev-list", "--count", "HEAD"); after == before || repotest.Git(t, dir, "status", "--porcelain") != "" {
		t.Fatalf("not one clean commit: %s → %s", before, after)
	}
	if files := repotest.Git(t, dir, "show", "--name-only", "--format=", "HEAD"); files != irisSignature+"\nmodels/iris-classifier/v1.0.0.json" {
		t.Fatalf("the commit changes %q", files)
	}
	var v model.Version
	if err := json.Unmarshal([]byte(mustMarina(t, "--repo", dir, "model", "show", "iris-classifier@1.0.0", "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Signing == nil || v.Signing.Bundle != irisSignature {
		t.Fatalf("signing %+v", v.Signing)
	}
	bundle, err := os.ReadFile(filepath.Join(dir, irisSignature))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signing.LoadPublicKey(public)
	if err != nil {
		t.Fatal(err)
	}
	m, err := signing.VerifyModel(bundle, []signing.PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Check(signing.DigestResource("v1.0.0.onnx", v.Artifact.Digest)); err != nil || m.Model != "iris-classifier" {
		t.Fatalf("signed %+v: %v", m, err)
	}
	// validate reads the signature directory without taking it for a version.
	mustMarina(t, "--repo", dir, "model", "list")
}

func TestModelSignRefusesWhatItCannotSign(t *testing.T) {
	t.Parallel()
	dir := serveRepo(t, false)
	tampered := serveRepo(t, true)
	private, public := signingtest.KeyPair(t, signingtest.ECDSA)
	cosignKey, _ := signingtest.KeyPair(t, signingtest.Cosign)
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no key", []string{"--repo", dir, "model", "sign", "iris-classifier@1.0.0"}, 2, "--key is required"},
		{"no version", []string{"--repo", dir, "model", "sign", "iris-classifier", "--key", private}, 2, "NAME@VERSION"},
		{"a public key", []string{"--repo", dir, "model", "sign", "iris-classifier@1.0.0", "--key", public}, 2, "not a usable PEM private key"},
		{"an encrypted key without COSIGN_PASSWORD", []string{"--repo", dir, "model", "sign", "iris-classifier@1.0.0", "--key", cosignKey}, 2, "set COSIGN_PASSWORD"},
		{"an unregistered version", []string{"--repo", dir, "model", "sign", "iris-classifier@9.9.9", "--key", private}, 1, "not registered"},
		{"an artifact that is not the registered one", []string{"--repo", tampered, "model", "sign", "iris-classifier@1.0.0", "--key", private}, 1, "refusing to sign a different artifact"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := marina(t, c.args...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d %q, want %d containing %q", code, errOut, c.code, c.want)
			}
		})
	}
	if s := repotest.Git(t, dir, "status", "--porcelain"); s != "" {
		t.Fatalf("a refused sign left changes: %s", s)
	}
}

func TestServeWithAVerifyKeyRefusesUnsignedTamperedAndForeignModels(t *testing.T) {
	t.Parallel()
	dir, _, public := signedRepo(t)
	_, otherPublic := signingtest.KeyPair(t, signingtest.ECDSA)
	unsigned := serveRepo(t, false)
	bundle := filepath.Join(dir, irisSignature)
	// A copy of the model with one byte changed, served as a file with the good signature.
	artifact, err := os.ReadFile(filepath.Join(dir, "models/iris-classifier/artifacts/v1.0.0.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	artifact[len(artifact)/2] ^= 1
	changed := filepath.Join(t.TempDir(), "v1.0.0.onnx")
	if err := os.WriteFile(changed, artifact, 0o644); err != nil {
		t.Fatal(err)
	}
	// The good signature with its signature bytes altered.
	altered := filepath.Join(t.TempDir(), "altered.sigstore.json")
	b, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(altered, []byte(strings.Replace(string(b), `"sig": "`, `"sig": "AAAA`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"an unsigned version", []string{"--repo", unsigned, "serve", "--model", "iris-classifier@1.0.0", "--verify-key", public}, 1, "is not signed"},
		{"a version signed with another key", []string{"--repo", dir, "serve", "--model", "iris-classifier@1.0.0", "--verify-key", otherPublic}, 1, "signature does not verify with " + otherPublic},
		{"a file changed by one byte", []string{"serve", "--model", changed, "--signature", bundle, "--verify-key", public}, 1, "not the signed content"},
		{"an altered signature", []string{"serve", "--model", changed, "--signature", altered, "--verify-key", public}, 1, "signature does not verify"},
		{"a signature without a key", []string{"serve", "--model", changed, "--signature", bundle}, 2, "--signature needs --verify-key"},
		{"a key that is not there", []string{"--repo", dir, "serve", "--model", "iris-classifier@1.0.0", "--verify-key", public + ".missing"}, 2, "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := marina(t, append(c.args, "--addr", "127.0.0.1:0")...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d %q, want %d containing %q", code, errOut, c.code, c.want)
			}
			if c.code == 1 && !strings.Contains(errOut, "refusing to serve") {
				t.Fatalf("no refusal: %s", errOut)
			}
		})
	}
}

func TestServeWithAVerifyKeyServesASignedVersion(t *testing.T) {
	inferencetest.Lib(t)
	dir, _, public := signedRepo(t)
	t.Setenv("MARINA_VERIFY_KEY", public)
	base, errOut := startServeLogging(t, "--repo", dir, "--model", "iris-classifier@1.0.0", "-v")
	if !strings.Contains(errOut.String(), "signature verified") || !strings.Contains(errOut.String(), irisSignature) {
		t.Errorf("no verification logged:\n%s", errOut.String())
	}
	if code, resp := post(t, base+"/v1/models/iris-classifier:predict", `{"instances":[[5.1,3.5,1.4,0.2]]}`); code != 200 || len(resp["predictions"].([]any)) != 1 {
		t.Fatalf("predict: %d %v", code, resp)
	}
}
