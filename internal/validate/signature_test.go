package validate_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/marina-dev/marina/internal/signing"
	"github.com/marina-dev/marina/internal/signing/signingtest"
	"github.com/marina-dev/marina/internal/validate"
)

const (
	// fixtureDigest is the artifact digest versionJSON records.
	fixtureDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	bundlePath    = "models/m/signatures/v1.0.0.sigstore.json"
)

// signedBy signs the fixture's m@1.0.0 artifact digest with a new key of kind and returns the bundle and the PEM
// public key.
func signedBy(t *testing.T, kind, digest string) (bundle, public string) {
	t.Helper()
	privFile, pubFile := signingtest.KeyPair(t, kind)
	key, err := signing.LoadPrivateKey(privFile, cryptoutils.StaticPasswordFunc([]byte(signingtest.Password)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := signing.SignModel(context.Background(), key, signing.Manifest{Model: "m", Resources: []signing.Resource{signing.DigestResource("1.0.0.onnx", digest)}})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), string(pub)
}

func TestTheSignaturePolicyVerifiesSignaturesWithTheProjectsKeys(t *testing.T) {
	t.Parallel()
	good, pub := signedBy(t, signingtest.ECDSA, fixtureDigest)
	_, otherPub := signedBy(t, signingtest.Ed25519, fixtureDigest)
	otherArtifact, otherArtifactPub := signedBy(t, signingtest.ECDSA, "sha256:"+strings.Repeat("2", 64))
	policy := replace("marina.yaml", "requireLimits: true", "requireLimits: true\n        requireSignedArtifacts: true")
	trust := func(keys ...string) func(map[string]string) {
		return replace("marina.yaml", "  gates:\n", "  signing:\n    publicKeys: ["+strings.Join(keys, ", ")+"]\n  gates:\n")
	}
	signed := func(bundle string) func(map[string]string) {
		return all(set(bundlePath, bundle), set("models/m/v1.0.0.json", versionJSON("1.0.0", "active", `, "signing": {"bundle": "`+bundlePath+`"}`)))
	}
	cases := []struct {
		name string
		edit func(map[string]string)
		want *validate.Finding
	}{
		{"a version signed by a key marina.yaml trusts passes",
			all(policy, signed(good), set("keys/release.pub", pub), trust("keys/release.pub")), nil},
		{"one of several keys suffices",
			all(policy, signed(good), set("keys/other.pub", otherPub), set("keys/release.pub", pub), trust("keys/other.pub", "keys/release.pub")), nil},
		{"a signature by another key names the bundle and the fix",
			all(policy, signed(good), set("keys/other.pub", otherPub), trust("keys/other.pub")),
			&validate.Finding{Rule: "policy-signed", File: bundlePath, Hint: "sign it again with a key marina.yaml trusts: marina model sign m@1.0.0 --key KEY, or add the signer's public key to spec.signing.publicKeys"}},
		{"a bundle with an altered signature",
			all(policy, signed(strings.Replace(good, `"sig": "`, `"sig": "AAAA`, 1)), set("keys/release.pub", pub), trust("keys/release.pub")),
			&validate.Finding{Rule: "policy-signed", File: bundlePath}},
		{"a signature over another artifact than the version records",
			all(policy, signed(otherArtifact), set("keys/release.pub", otherArtifactPub), trust("keys/release.pub")),
			&validate.Finding{Rule: "policy-signed", File: bundlePath}},
		{"a signing field whose bundle is missing",
			all(policy, set("models/m/v1.0.0.json", versionJSON("1.0.0", "active", `, "signing": {"bundle": "`+bundlePath+`"}`)), set("keys/release.pub", pub), trust("keys/release.pub")),
			&validate.Finding{Rule: "policy-signed", File: bundlePath}},
		{"a signed version without keys in marina.yaml",
			all(policy, signed(good)),
			&validate.Finding{Rule: "policy-signed", File: app, Path: "spec.environments.prod.version", Line: 18}},
		{"a key marina.yaml names that is not in the repository",
			all(policy, signed(good), trust("keys/release.pub")),
			&validate.Finding{Rule: "signing-key", File: "marina.yaml", Path: "spec.signing.publicKeys[0]", Line: 19}},
		{"a file that is no public key",
			all(set("keys/release.pub", good), trust("keys/release.pub")),
			&validate.Finding{Rule: "signing-key", File: "marina.yaml", Path: "spec.signing.publicKeys[0]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := run(t, fixture(t, c.edit, nil), validate.Options{})
			found := false
			for _, f := range rep.Findings {
				if c.want == nil && (f.Rule == "policy-signed" || f.Rule == "signing-key") {
					t.Fatalf("want no signature finding:\n%s", dump(rep))
				}
				found = found || (c.want != nil && matches(f, *c.want))
			}
			if c.want != nil && !found {
				t.Fatalf("want %+v, got:\n%s", *c.want, dump(rep))
			}
		})
	}
}
