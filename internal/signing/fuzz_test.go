package signing_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/marina-dev/marina/internal/signing"
)

// FuzzVerifyModel feeds arbitrary signature files to verification: an error of one of the three kinds, never a
// panic, never a success without the key's signature.
func FuzzVerifyModel(f *testing.F) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	privPEM, err := cryptoutils.MarshalPrivateKeyToPEM(priv)
	if err != nil {
		f.Fatal(err)
	}
	key, err := signing.ParsePrivateKey(privPEM, nil)
	if err != nil {
		f.Fatal(err)
	}
	pubPEM, _ := key.GetPublicKeyPem()
	pub, err := signing.ParsePublicKey("test.pub", []byte(pubPEM))
	if err != nil {
		f.Fatal(err)
	}
	good, err := signing.SignModel(context.Background(), key, signing.Manifest{Model: "m",
		Resources: []signing.Resource{signing.DigestResource("m.onnx", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"x"}},"dsseEnvelope":{"payload":"` +
		base64.StdEncoding.EncodeToString([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"m","digest":{"sha256":"00"}}]}`)) +
		`","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AAAA"}]}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := signing.VerifyModel(data, []signing.PublicKey{pub})
		if err == nil {
			if len(m.Resources) == 0 {
				t.Fatalf("verified a manifest without files: %s", data)
			}
			return
		}
		if !errors.Is(err, signing.ErrInvalidBundle) && !errors.Is(err, signing.ErrSignature) {
			t.Fatalf("error of no known kind: %v", err)
		}
	})
}

// FuzzParseModelStatement feeds arbitrary in-toto statements to the manifest parser.
func FuzzParseModelStatement(f *testing.F) {
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"m","digest":{"sha256":"x"}}],"predicateType":"https://model_signing/signature/v1.0","predicate":{"resources":[{"name":"a","algorithm":"sha256","digest":"00"}]}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, _, err := signing.ParseModelStatement(data)
		if err == nil && (m.Model == "" || len(m.Resources) == 0) {
			t.Fatalf("accepted an empty manifest: %s", data)
		}
		if err != nil && !errors.Is(err, signing.ErrInvalidBundle) {
			t.Fatalf("error of no known kind: %v", err)
		}
	})
}

// FuzzVerifyImage feeds arbitrary bundles to image verification: an error of a known kind, never a panic.
func FuzzVerifyImage(f *testing.F) {
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"x"}},"dsseEnvelope":{"payload":"` +
		base64.StdEncoding.EncodeToString([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"00"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`)) +
		`","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AAAA"}]}}`))
	f.Add([]byte(`{}`))
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		f.Fatal(err)
	}
	pub, err := signing.ParsePublicKey("test.pub", pubPEM)
	if err != nil {
		f.Fatal(err)
	}
	const manifest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	f.Fuzz(func(t *testing.T, data []byte) {
		err := signing.VerifyImage(data, manifest, []signing.PublicKey{pub})
		if err == nil {
			t.Fatalf("verified a bundle the key never signed: %s", data)
		}
		if !errors.Is(err, signing.ErrInvalidBundle) && !errors.Is(err, signing.ErrSignature) && !errors.Is(err, signing.ErrMismatch) {
			t.Fatalf("error of no known kind: %v", err)
		}
	})
}
