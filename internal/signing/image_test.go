package signing_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/marina-dev/marina/internal/signing"
	"github.com/marina-dev/marina/internal/signing/signingtest"
)

func TestAnImageSignatureIsCosignsStatementOverTheDigest(t *testing.T) {
	t.Parallel()
	priv, _ := keys(t, signingtest.ECDSA)
	manifest := digest.FromString("manifest").String()
	b, err := signing.SignImage(context.Background(), priv, manifest)
	if err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		MediaType    string `json:"mediaType"`
		DSSEEnvelope struct {
			Payload     string `json:"payload"`
			PayloadType string `json:"payloadType"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(bundle.DSSEEnvelope.Payload)
	if err != nil {
		t.Fatal(err)
	}
	// What cosign sign --key writes in its bundle format (cmd/cosign/cli/sign/sign.go, signDigestBundle).
	want := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + strings.TrimPrefix(manifest, "sha256:") +
		`"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`
	if bundle.MediaType != signing.BundleMediaType || bundle.DSSEEnvelope.PayloadType != signing.InTotoPayloadType || string(payload) != want {
		t.Fatalf("bundle %s, %s, payload\n%s\nwant\n%s", bundle.MediaType, bundle.DSSEEnvelope.PayloadType, payload, want)
	}
}

func TestImageVerificationRefusesWhatTheKeyDidNotSignForTheDigest(t *testing.T) {
	t.Parallel()
	priv, pub := keys(t, signingtest.ECDSA)
	edPriv, edPub := keys(t, signingtest.Ed25519)
	_, other := keys(t, signingtest.ECDSA)
	manifest := digest.FromString("manifest").String()
	another := digest.FromString("another").String()
	sign := func(k *signing.PrivateKey, d string) []byte {
		b, err := signing.SignImage(context.Background(), k, d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := sign(priv, manifest)
	modelSig := signModel(t, priv, modelFile(t, "weights"))
	cases := []struct {
		name   string
		bundle []byte
		digest string
		keys   []signing.PublicKey
		want   error
		says   string
	}{
		{"the signed digest verifies with the key", good, manifest, []signing.PublicKey{pub}, nil, ""},
		{"an Ed25519 key signs and verifies too", sign(edPriv, manifest), manifest, []signing.PublicKey{edPub}, nil, ""},
		{"one of several keys suffices", good, manifest, []signing.PublicKey{other, pub}, nil, ""},
		{"a signature for another digest is refused naming both", good, another, []signing.PublicKey{pub}, signing.ErrMismatch, "is for " + manifest + ", not " + another},
		{"another key is refused naming the key file", good, manifest, []signing.PublicKey{other}, signing.ErrSignature, other.File},
		{"a statement moved to another digest is refused", retarget(t, good, another), another, []signing.PublicKey{pub}, signing.ErrSignature, "does not verify"},
		{"a model signature is no image signature", modelSig, manifest, []signing.PublicKey{pub}, signing.ErrInvalidBundle, signing.ImagePredicateType},
		{"not JSON is refused", []byte("{"), manifest, []signing.PublicKey{pub}, signing.ErrInvalidBundle, "not a Sigstore bundle"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := signing.VerifyImage(c.bundle, c.digest, c.keys)
			if !errors.Is(err, c.want) || (c.want != nil && !strings.Contains(err.Error(), c.says)) {
				t.Fatalf("got %v, want %v saying %q", err, c.want, c.says)
			}
		})
	}
	if err := signing.VerifyImage(good, "latest", []signing.PublicKey{pub}); err == nil || !strings.Contains(err.Error(), "want a manifest digest") {
		t.Fatalf("a tag as the digest: %v", err)
	}
}

// retarget rewrites an image signature's statement to name digest d, keeping the signature.
func retarget(t *testing.T, bundle []byte, d string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(bundle, &m); err != nil {
		t.Fatal(err)
	}
	env := m["dsseEnvelope"].(map[string]any)
	payload := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + strings.TrimPrefix(d, "sha256:") +
		`"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`
	env["payload"] = base64.StdEncoding.EncodeToString([]byte(payload))
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
