package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
)

// A signature attached to a manifest is an OCI referrer laid out as cosign v3 attaches its bundles
// (pkg/oci/remote/write.go, WriteAttestationNewBundleFormat and WriteReferrer): an image manifest whose
// artifactType is the Sigstore bundle's media type, whose config is the empty descriptor, whose one layer is the
// bundle (of the same media type), whose subject is the signed manifest, annotated with the bundle's content and
// predicate type. cosign verify finds it through the referrers API, and so does Signatures.
const (
	// SignatureArtifactType is the referrer's artifactType and its layer's media type: a Sigstore bundle v0.3.
	SignatureArtifactType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// AnnotationBundleContent says what the bundle carries: marina's signatures are DSSE envelopes.
	AnnotationBundleContent = "dev.sigstore.bundle.content"
	// AnnotationBundlePredicateType is the predicate type of the bundle's in-toto statement.
	AnnotationBundlePredicateType = "dev.sigstore.bundle.predicateType"
	// maxSignatures caps how many signatures of one manifest are read: a registry cannot make marina fetch forever.
	maxSignatures = 64
	// maxBundle caps one bundle, as package signing does.
	maxBundle = 4 << 20
)

// Signature is a Sigstore bundle attached to a manifest.
type Signature struct {
	// Referrer is the manifest that attaches the bundle, pinned by digest.
	Referrer Reference
	// Bundle is the Sigstore bundle, as JSON; not verified.
	Bundle []byte
}

// Attach attaches bundle, a Sigstore bundle whose DSSE statement has predicateType, to the manifest ref (pinned by
// digest) as an OCI referrer, and returns the referrer. Registries without the referrers API get the referrers tag
// schema (sha256-<digest>), which oras-go maintains.
func Attach(ctx context.Context, o Options, ref Reference, bundle []byte, predicateType string) (Reference, error) {
	what := "attaching a signature to " + ref.String()
	repo, subject, err := o.subject(ctx, ref, what)
	if err != nil {
		return Reference{}, err
	}
	layer, err := oras.PushBytes(ctx, repo, SignatureArtifactType, bundle)
	if err != nil {
		return Reference{}, o.explain(err, what, ref)
	}
	desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, SignatureArtifactType, oras.PackManifestOptions{
		Subject: &subject,
		Layers:  []ocispec.Descriptor{layer},
		ManifestAnnotations: map[string]string{
			ocispec.AnnotationCreated:     time.Now().UTC().Format(time.RFC3339),
			AnnotationBundleContent:       "dsse-envelope",
			AnnotationBundlePredicateType: predicateType,
		},
	})
	if err != nil {
		return Reference{}, o.explain(err, what, ref)
	}
	out := ref
	out.Digest = desc.Digest.String()
	return out, nil
}

// Signatures fetches the Sigstore bundles attached to the manifest ref (pinned by digest) as referrers, through the
// referrers API or the referrers tag schema. None is an empty list; a missing manifest wraps ErrNotFound.
func Signatures(ctx context.Context, o Options, ref Reference) ([]Signature, error) {
	what := "reading the signatures of " + ref.String()
	repo, subject, err := o.subject(ctx, ref, what)
	if err != nil {
		return nil, err
	}
	var referrers []ocispec.Descriptor
	err = repo.Referrers(ctx, subject, SignatureArtifactType, func(page []ocispec.Descriptor) error {
		referrers = append(referrers, page...)
		if len(referrers) > maxSignatures {
			return fmt.Errorf("%w: more than %d signatures attached", ErrBadArtifact, maxSignatures)
		}
		return nil
	})
	if err != nil {
		return nil, o.explain(err, what, ref)
	}
	var out []Signature
	for _, desc := range referrers {
		b, err := fetchBundle(ctx, repo, desc)
		if err != nil {
			return nil, o.explain(fmt.Errorf("referrer %s: %w", desc.Digest, err), what, ref)
		}
		r := ref
		r.Digest = desc.Digest.String()
		out = append(out, Signature{Referrer: r, Bundle: b})
	}
	return out, nil
}

// subject resolves the manifest ref names, which must exist.
func (o Options) subject(ctx context.Context, ref Reference, what string) (*remote.Repository, ocispec.Descriptor, error) {
	if ref.Digest == "" {
		return nil, ocispec.Descriptor{}, fmt.Errorf("%s: pin the manifest by digest, HOST/REPO@sha256:…", what)
	}
	repo, err := o.repository(ref)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	desc, err := repo.Resolve(ctx, ref.Digest)
	if err != nil {
		return nil, ocispec.Descriptor{}, o.explain(err, what, ref)
	}
	return repo, desc, nil
}

// fetchBundle reads the bundle a signature referrer holds: its one layer of SignatureArtifactType, size-capped and
// digest-checked.
func fetchBundle(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size > maxManifest {
		return nil, fmt.Errorf("%w: the manifest is %d bytes", ErrBadArtifact, desc.Size)
	}
	data, err := content.FetchAll(ctx, repo.Manifests(), desc)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadArtifact, err)
	}
	var layers []ocispec.Descriptor
	for _, l := range m.Layers {
		if strings.HasPrefix(l.MediaType, "application/vnd.dev.sigstore.bundle") {
			layers = append(layers, l)
		}
	}
	if len(layers) != 1 {
		return nil, fmt.Errorf("%w: %d Sigstore bundle layers, want one", ErrBadArtifact, len(layers))
	}
	if layers[0].Size > maxBundle {
		return nil, fmt.Errorf("%w: the bundle is %d bytes, over %d", ErrBadArtifact, layers[0].Size, maxBundle)
	}
	return content.FetchAll(ctx, repo.Blobs(), layers[0])
}
