package signingtest

import (
	"crypto/elliptic"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/marina-dev/marina/internal/prereq"
)

// Kinds of key pairs.
const (
	// ECDSA is a P-256 key from openssl genpkey (PKCS#8).
	ECDSA = "ecdsa"
	// SEC1 is a P-256 key from openssl ecparam -genkey (BEGIN EC PRIVATE KEY).
	SEC1 = "sec1"
	// Ed25519 is an Ed25519 key from openssl genpkey.
	Ed25519 = "ed25519"
	// Cosign is a P-256 key encrypted with Password, as cosign generate-key-pair writes it.
	Cosign = "cosign"
)

// Password encrypts Cosign keys.
const Password = "correct horse battery staple"

// KeyPair writes a new key pair of kind into a temporary directory and returns the private and public key files.
func KeyPair(t testing.TB, kind string) (private, public string) {
	t.Helper()
	dir := t.TempDir()
	private, public = filepath.Join(dir, kind+".key"), filepath.Join(dir, kind+".pub")
	if kind == Cosign {
		priv, pub, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.StaticPasswordFunc([]byte(Password)))
		if err != nil {
			t.Fatal(err)
		}
		write(t, private, priv)
		write(t, public, pub)
		return private, public
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		prereq.Missing(t, "openssl is not on PATH: apt-get install openssl")
	}
	gen := map[string][]string{
		ECDSA:   {"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", private},
		SEC1:    {"ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", private},
		Ed25519: {"genpkey", "-algorithm", "ED25519", "-out", private},
	}[kind]
	if gen == nil {
		t.Fatalf("signingtest: unknown key kind %q", kind)
	}
	openssl(t, gen...)
	openssl(t, "pkey", "-in", private, "-pubout", "-out", public)
	return private, public
}

func openssl(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
}

func write(t testing.TB, file string, data []byte) {
	t.Helper()
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
