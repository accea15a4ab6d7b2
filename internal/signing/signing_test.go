package signing_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/marina-dev/marina/internal/signing"
	"github.com/marina-dev/marina/internal/signing/signingtest"
)

// keys loads a new key pair of kind.
func keys(t *testing.T, kind string) (*signing.PrivateKey, signing.PublicKey) {
	t.Helper()
	privFile, pubFile := signingtest.KeyPair(t, kind)
	priv, err := signing.LoadPrivateKey(privFile, cryptoutils.StaticPasswordFunc([]byte(signingtest.Password)))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signing.LoadPublicKey(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// modelFile writes a model file and returns its path.
func modelFile(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "v1.0.0.onnx")
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func resource(t *testing.T, file string) signing.Resource {
	t.Helper()
	r, err := signing.FileResource(filepath.Base(file), file)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func signModel(t *testing.T, key *signing.PrivateKey, file string) []byte {
	t.Helper()
	b, err := signing.SignModel(context.Background(), key, signing.Manifest{Model: "iris", Resources: []signing.Resource{resource(t, file)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestASignedModelVerifiesWithItsKeyOfEveryKind(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{signingtest.ECDSA, signingtest.SEC1, signingtest.Ed25519, signingtest.Cosign} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			priv, pub := keys(t, kind)
			file := modelFile(t, "weights")
			m, err := signing.VerifyModel(signModel(t, priv, file), []signing.PublicKey{pub})
			if err != nil {
				t.Fatal(err)
			}
			if m.Model != "iris" || len(m.Resources) != 1 || m.Resources[0].Name != "v1.0.0.onnx" {
				t.Fatalf("manifest %+v", m)
			}
			if err := m.Check(resource(t, file)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVerificationRefusesWhatIsNotTheSignedModelByTheKey(t *testing.T) {
	t.Parallel()
	priv, pub := keys(t, signingtest.ECDSA)
	_, other := keys(t, signingtest.ECDSA)
	file := modelFile(t, "weights")
	bundle := signModel(t, priv, file)
	tampered := modelFile(t, "weightz")
	two, err := signing.SignModel(context.Background(), priv, signing.Manifest{Model: "iris", Resources: []signing.Resource{resource(t, file), signing.DigestResource("extra.bin", resource(t, tampered).Digest)}})
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		bundle []byte
		keys   []signing.PublicKey
		file   *signing.Resource
		want   error
		says   string
	}{
		{"a file with one byte changed is refused with both digests", bundle, []signing.PublicKey{pub},
			new(signing.DigestResource("v1.0.0.onnx", resource(t, tampered).Digest)), signing.ErrMismatch, "but the signed v1.0.0.onnx has sha256:"},
		{"the same file under another name verifies (a pulled model is renamed)", bundle, []signing.PublicKey{pub},
			new(signing.DigestResource("model.onnx", resource(t, file).Digest)), nil, ""},
		{"a signature over two files does not sign one of them alone", two, []signing.PublicKey{pub}, new(resource(t, file)), signing.ErrMismatch, "lists 2 files (extra.bin, v1.0.0.onnx)"},
		{"a bundle signed by another key is refused, naming the key file", bundle, []signing.PublicKey{other}, nil, signing.ErrSignature, other.File},
		{"one of several keys suffices", bundle, []signing.PublicKey{other, pub}, new(resource(t, file)), nil, ""},
		{"an altered statement in the bundle is refused", alterPayload(t, bundle), []signing.PublicKey{pub}, nil, signing.ErrSignature, "does not verify"},
		{"a bundle without an envelope is refused", []byte(`{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}`), []signing.PublicKey{pub}, nil, signing.ErrInvalidBundle, "Sigstore bundle"},
		{"not JSON is refused", []byte("sig"), []signing.PublicKey{pub}, nil, signing.ErrInvalidBundle, "not a Sigstore bundle"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, err := signing.VerifyModel(c.bundle, c.keys)
			if err == nil && c.file != nil {
				err = m.Check(*c.file)
			}
			if !errors.Is(err, c.want) || (c.want != nil && !strings.Contains(err.Error(), c.says)) {
				t.Fatalf("got %v, want %v saying %q", err, c.want, c.says)
			}
		})
	}
}

// alterPayload replaces the statement in a bundle by one listing another digest, keeping the signature.
func alterPayload(t *testing.T, bundle []byte) []byte {
	t.Helper()
	s := string(bundle)
	i := strings.Index(s, `"payload": "`)
	if i < 0 {
		t.Fatalf("no payload in %s", s)
	}
	i += len(`"payload": "`)
	j := i + strings.Index(s[i:], `"`)
	if _, err := base64.StdEncoding.DecodeString(s[i:j]); err != nil {
		t.Fatal(err)
	}
	// The digest of another file, with the subject digest recomputed: only the signature can tell.
	file := sha256.Sum256([]byte("evil"))
	root := sha256.Sum256(file[:])
	forged := fmt.Sprintf(`{"_type":%q,"subject":[{"name":"iris","digest":{"sha256":%q}}],"predicateType":%q,`+
		`"predicate":{"resources":[{"name":"v1.0.0.onnx","algorithm":"sha256","digest":%q}]}}`,
		signing.StatementType, hex.EncodeToString(root[:]), signing.ModelPredicateType, hex.EncodeToString(file[:]))
	return []byte(s[:i] + base64.StdEncoding.EncodeToString([]byte(forged)) + s[j:])
}

func TestKeysMarinaCannotUseAreRefusedWithTheFix(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cosignKey, cosignPub := signingtest.KeyPair(t, signingtest.Cosign)
	rsaKey := filepath.Join(dir, "rsa.key")
	if out, err := exec.Command("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsaKey).CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	garbage := filepath.Join(dir, "garbage.key")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	noPassword := func(bool) ([]byte, error) { return nil, errors.New("set COSIGN_PASSWORD") }
	cases := []struct {
		name string
		load func() error
		says string
	}{
		{"an encrypted key without its password", func() error { _, err := signing.LoadPrivateKey(cosignKey, noPassword); return err }, "COSIGN_PASSWORD"},
		{"an encrypted key with a wrong password", func() error {
			_, err := signing.LoadPrivateKey(cosignKey, cryptoutils.StaticPasswordFunc([]byte("wrong")))
			return err
		}, cosignKey},
		{"an RSA key", func() error { _, err := signing.LoadPrivateKey(rsaKey, noPassword); return err }, "want ECDSA or Ed25519"},
		{"a file that is no key", func() error { _, err := signing.LoadPrivateKey(garbage, noPassword); return err }, "openssl genpkey"},
		{"a private key given as the public key", func() error { _, err := signing.LoadPublicKey(cosignKey); return err }, "openssl pkey -pubout"},
		{"a missing public key", func() error { _, err := signing.LoadPublicKey(filepath.Join(dir, "none.pub")); return err }, "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if err := c.load(); err == nil || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("got %v, want an error saying %q", err, c.says)
			}
		})
	}
	if _, err := signing.LoadPublicKey(cosignPub); err != nil {
		t.Fatalf("cosign.pub: %v", err)
	}
}
