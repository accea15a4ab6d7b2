package signing

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// ImagePredicateType is the predicate type of an image signature as cosign v3 writes it (cosign sign, new bundle
// format): an in-toto statement whose only subject is the manifest's digest and whose predicate is empty.
const ImagePredicateType = "https://sigstore.dev/cosign/sign/v1"

// imageStatement is the statement cosign's sign command writes for a digest (cmd/cosign/cli/sign/sign.go,
// signDigestBundle): the subject has a digest and no name.
type imageStatement struct {
	Type          string         `json:"_type"`
	Subject       []imageSubject `json:"subject"`
	PredicateType string         `json:"predicateType"`
	Predicate     map[string]any `json:"predicate"`
}

type imageSubject struct {
	Digest map[string]string `json:"digest"`
}

// SignImage signs an OCI manifest digest (sha256:…) with key, as cosign sign --key does in its bundle format: a
// Sigstore bundle v0.3 holding a DSSE envelope around an in-toto statement of predicate type ImagePredicateType.
func SignImage(ctx context.Context, key *PrivateKey, manifest string) ([]byte, error) {
	d, err := sha256Hex(manifest)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(imageStatement{
		Type:          StatementType,
		Subject:       []imageSubject{{Digest: map[string]string{"sha256": d}}},
		PredicateType: ImagePredicateType,
		Predicate:     map[string]any{},
	})
	if err != nil {
		return nil, err
	}
	return signDSSE(ctx, key, payload)
}

// VerifyImage checks that one of keys signed the bundle and that it is an image signature of manifest
// (sha256:…). A bundle for another digest wraps ErrMismatch and names both digests.
func VerifyImage(data []byte, manifest string, keys []PublicKey) error {
	want, err := sha256Hex(manifest)
	if err != nil {
		return err
	}
	b, payload, err := parseBundle(data)
	if err != nil {
		return err
	}
	var st imageStatement
	if err := json.Unmarshal(payload, &st); err != nil {
		return fmt.Errorf("%w: in-toto statement: %v", ErrInvalidBundle, err)
	}
	if st.Type != StatementType || st.PredicateType != ImagePredicateType {
		return fmt.Errorf("%w: statement %q of predicate type %q, want an image signature (%q)", ErrInvalidBundle, st.Type, st.PredicateType, ImagePredicateType)
	}
	if len(st.Subject) != 1 || st.Subject[0].Digest["sha256"] == "" {
		return fmt.Errorf("%w: want one subject with a sha256 digest, got %d subjects", ErrInvalidBundle, len(st.Subject))
	}
	if got := st.Subject[0].Digest["sha256"]; got != want {
		return fmt.Errorf("%w: the signature is for sha256:%s, not %s", ErrMismatch, got, manifest)
	}
	raw, _ := hex.DecodeString(want)
	return verifyBundle(b, raw, keys)
}

// sha256Hex is the hex part of a sha256:… digest, refusing anything else.
func sha256Hex(d string) (string, error) {
	parsed, err := digest.Parse(d)
	if err != nil || parsed.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("%q: want a manifest digest, sha256: and 64 hex digits", d)
	}
	return strings.ToLower(parsed.Encoded()), nil
}
