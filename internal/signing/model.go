package signing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/marina-dev/marina/internal/model"
)

// Media and predicate types of the OpenSSF model-signing format v1.0.
const (
	// InTotoPayloadType is the DSSE payload type of an in-toto statement.
	InTotoPayloadType = "application/vnd.in-toto+json"
	// StatementType is the in-toto statement version the format uses.
	StatementType = "https://in-toto.io/Statement/v1"
	// ModelPredicateType names a model signature's predicate.
	ModelPredicateType = "https://model_signing/signature/v1.0"
	// BundleMediaType is the media type of a Sigstore bundle v0.3, the signature file's format.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
)

// MaxBundleSize caps a signature file: a bundle over a few thousand files stays well under it.
const MaxBundleSize = 4 << 20

// Errors callers tell apart with errors.Is.
var (
	// ErrInvalidBundle: the file is not a Sigstore bundle carrying a signature of the kind asked for.
	ErrInvalidBundle = errors.New("not a marina signature")
	// ErrSignature: no given key verifies the bundle's signature (wrong key, or the bundle was altered).
	ErrSignature = errors.New("signature does not verify")
	// ErrMismatch: the signature is over other content (model files, or an image digest) than the one checked.
	ErrMismatch = errors.New("not the signed content")
)

// Resource is one signed file of a model: its name inside the model and its digest.
type Resource struct {
	Name      string `json:"name"`
	Algorithm string `json:"algorithm"`
	// Digest is hex, without an algorithm prefix, as the format writes it.
	Digest string `json:"digest"`
}

// Manifest is what a model signature states: the model's name and its files, sorted by name.
type Manifest struct {
	Model     string
	Resources []Resource
}

// statement is the in-toto statement of the model-signing format.
type statement struct {
	Type          string    `json:"_type"`
	Subject       []subject `json:"subject"`
	PredicateType string    `json:"predicateType"`
	Predicate     predicate `json:"predicate"`
}

type subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

type predicate struct {
	Serialization serialization `json:"serialization"`
	Resources     []Resource    `json:"resources"`
}

// serialization says how the model was turned into resources: file by file, sha256, no symlinks followed.
type serialization struct {
	Method        string   `json:"method"`
	HashType      string   `json:"hash_type"`
	AllowSymlinks bool     `json:"allow_symlinks"`
	IgnorePaths   []string `json:"ignore_paths"`
}

// FileResource hashes the file at path as the model's file name.
func FileResource(name, path string) (Resource, error) {
	d, _, err := model.DigestFile(path)
	if err != nil {
		return Resource{}, err
	}
	return Resource{Name: name, Algorithm: "sha256", Digest: strings.TrimPrefix(d, "sha256:")}, nil
}

// DigestResource is a file known by its recorded digest (sha256:…), without reading it.
func DigestResource(name, digest string) Resource {
	return Resource{Name: name, Algorithm: "sha256", Digest: strings.TrimPrefix(digest, "sha256:")}
}

// ReadBundle reads a signature file, refusing one over MaxBundleSize.
func ReadBundle(file string) ([]byte, error) {
	return readCapped(file, MaxBundleSize)
}

// rootDigest is the statement's subject digest: sha256 over the resources' raw digests in name order.
func rootDigest(res []Resource) ([]byte, error) {
	h := sha256.New()
	for _, r := range res {
		if r.Algorithm != "sha256" {
			return nil, fmt.Errorf("resource %q: algorithm %q, want sha256", r.Name, r.Algorithm)
		}
		b, err := hex.DecodeString(r.Digest)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("resource %q: digest %q is not 64 hex digits", r.Name, r.Digest)
		}
		h.Write(b)
	}
	return h.Sum(nil), nil
}

// normalize sorts the resources by name and refuses an empty or ambiguous list.
func (m Manifest) normalize() (Manifest, error) {
	if m.Model == "" {
		return m, errors.New("the manifest names no model")
	}
	if len(m.Resources) == 0 {
		return m, errors.New("the manifest lists no file")
	}
	res := slices.Clone(m.Resources)
	slices.SortFunc(res, func(a, b Resource) int { return strings.Compare(a.Name, b.Name) })
	for i := range res {
		if res[i].Name == "" {
			return m, errors.New("a resource has no name")
		}
		if i > 0 && res[i].Name == res[i-1].Name {
			return m, fmt.Errorf("resource %q is listed twice", res[i].Name)
		}
	}
	m.Resources = res
	return m, nil
}

// SignModel signs a model's manifest with key and returns the Sigstore bundle as JSON.
func SignModel(ctx context.Context, key *PrivateKey, m Manifest) ([]byte, error) {
	m, err := m.normalize()
	if err != nil {
		return nil, err
	}
	rd, err := rootDigest(m.Resources)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(statement{
		Type:          StatementType,
		Subject:       []subject{{Name: m.Model, Digest: map[string]string{"sha256": hex.EncodeToString(rd)}}},
		PredicateType: ModelPredicateType,
		Predicate: predicate{
			Serialization: serialization{Method: "files", HashType: "sha256", IgnorePaths: []string{}},
			Resources:     m.Resources,
		},
	})
	if err != nil {
		return nil, err
	}
	return signDSSE(ctx, key, payload)
}

// signDSSE wraps payload, an in-toto statement, in a DSSE envelope signed by key, inside a Sigstore bundle.
func signDSSE(ctx context.Context, key *PrivateKey, payload []byte) ([]byte, error) {
	pb, err := sign.Bundle(&sign.DSSEData{Data: payload, PayloadType: InTotoPayloadType}, key, sign.BundleOptions{Context: ctx})
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		return nil, err
	}
	out, err := b.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, out, "", "  "); err != nil {
		return nil, err
	}
	indented.WriteByte('\n')
	return indented.Bytes(), nil
}

// parseBundle reads a Sigstore bundle with a DSSE envelope and returns the bundle and the envelope's payload
// (not yet verified).
func parseBundle(data []byte) (*bundle.Bundle, []byte, error) {
	if len(data) > MaxBundleSize {
		return nil, nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidBundle, MaxBundleSize)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		return nil, nil, fmt.Errorf("%w: not a Sigstore bundle: %v", ErrInvalidBundle, err)
	}
	env, err := b.Envelope()
	if err != nil || env == nil {
		return nil, nil, fmt.Errorf("%w: the bundle carries no DSSE envelope (a message signature over a blob): marina signs and reads DSSE signatures", ErrInvalidBundle)
	}
	raw := env.RawEnvelope()
	if raw.PayloadType != InTotoPayloadType {
		return nil, nil, fmt.Errorf("%w: DSSE payload type %q, want %q", ErrInvalidBundle, raw.PayloadType, InTotoPayloadType)
	}
	payload, err := raw.DecodeB64Payload()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: DSSE payload: %v", ErrInvalidBundle, err)
	}
	return &b, payload, nil
}

// ParseModelStatement reads the manifest a model signature's in-toto statement carries, checking that its
// subject digest matches its files. It verifies no signature: Verify does.
func ParseModelStatement(payload []byte) (Manifest, []byte, error) {
	var st statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return Manifest{}, nil, fmt.Errorf("%w: in-toto statement: %v", ErrInvalidBundle, err)
	}
	if st.Type != StatementType {
		return Manifest{}, nil, fmt.Errorf("%w: statement type %q, want %q", ErrInvalidBundle, st.Type, StatementType)
	}
	if st.PredicateType != ModelPredicateType {
		return Manifest{}, nil, fmt.Errorf("%w: predicate type %q, want %q", ErrInvalidBundle, st.PredicateType, ModelPredicateType)
	}
	if len(st.Subject) != 1 {
		return Manifest{}, nil, fmt.Errorf("%w: %d subjects, want one (the model)", ErrInvalidBundle, len(st.Subject))
	}
	m, err := Manifest{Model: st.Subject[0].Name, Resources: st.Predicate.Resources}.normalize()
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("%w: %v", ErrInvalidBundle, err)
	}
	rd, err := rootDigest(m.Resources)
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("%w: %v", ErrInvalidBundle, err)
	}
	if got := st.Subject[0].Digest["sha256"]; got != hex.EncodeToString(rd) {
		return Manifest{}, nil, fmt.Errorf("%w: the subject digest %q is not the digest of the listed files", ErrInvalidBundle, got)
	}
	return m, rd, nil
}

// VerifyModel checks that one of keys signed the bundle and returns the signed manifest. It does not read the
// model's files: compare them with Manifest.Check.
func VerifyModel(data []byte, keys []PublicKey) (Manifest, error) {
	b, payload, err := parseBundle(data)
	if err != nil {
		return Manifest{}, err
	}
	m, rd, err := ParseModelStatement(payload)
	if err != nil {
		return Manifest{}, err
	}
	if err := verifyBundle(b, rd, keys); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// verifyBundle checks the bundle's signature with each key in turn, and that its statement's subject has the
// sha256 digest subjectDigest.
func verifyBundle(b *bundle.Bundle, subjectDigest []byte, keys []PublicKey) error {
	if len(keys) == 0 {
		return errNoKeys
	}
	var names []string
	for _, k := range keys {
		trusted := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
			return root.NewExpiringKey(k.verifier, time.Time{}, time.Time{}), nil
		})
		v, err := verify.NewVerifier(trusted, verify.WithNoObserverTimestamps())
		if err != nil {
			return err
		}
		if _, err := v.Verify(b, verify.NewPolicy(verify.WithArtifactDigest("sha256", subjectDigest), verify.WithKey())); err == nil {
			return nil
		}
		names = append(names, k.File)
	}
	return fmt.Errorf("%w with %s: signed with another key, or the signature file was altered", ErrSignature, strings.Join(names, ", "))
}

// Check compares a single-file model as it is with the signed file: the signature must list exactly one file,
// with the same digest. The name may differ (a pulled model is renamed), so only the digest counts.
func (m Manifest) Check(file Resource) error {
	if len(m.Resources) != 1 {
		names := make([]string, len(m.Resources))
		for i, r := range m.Resources {
			names[i] = r.Name
		}
		return fmt.Errorf("%w: the signature lists %d files (%s), marina serves one", ErrMismatch, len(m.Resources), strings.Join(names, ", "))
	}
	s := m.Resources[0]
	if s.Algorithm != file.Algorithm || s.Digest != file.Digest {
		return fmt.Errorf("%w: %s has %s:%s, but the signed %s has %s:%s", ErrMismatch, file.Name, file.Algorithm, file.Digest, s.Name, s.Algorithm, s.Digest)
	}
	return nil
}
