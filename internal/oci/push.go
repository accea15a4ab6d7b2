package oci

import (
	"bytes"
	"context"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
)

// Push packs a into its artifact and pushes it to the repository to (its Digest is ignored), tagged with the
// version; blobs the repository already has are not sent again. It returns the pinned reference,
// to@sha256:<manifest digest>. The same artifact pushed twice has the same digest.
func Push(ctx context.Context, o Options, a Artifact, to Reference) (Reference, error) {
	to.Digest = ""
	what := "pushing " + a.Model + "@" + a.Version + " to " + to.String()
	p, err := pack(a)
	if err != nil {
		return Reference{}, err
	}
	repo, err := o.repository(to)
	if err != nil {
		return Reference{}, err
	}
	if err := pushBlob(ctx, repo, p.layer, func() io.ReadCloser { return layerReader(a) }); err != nil {
		return Reference{}, o.explain(err, what, to)
	}
	if err := pushBlob(ctx, repo, p.config, func() io.ReadCloser { return io.NopCloser(bytes.NewReader(p.configJSON)) }); err != nil {
		return Reference{}, o.explain(err, what, to)
	}
	if err := repo.PushReference(ctx, p.manifest, bytes.NewReader(p.manifestJSON), a.Version); err != nil {
		return Reference{}, o.explain(err, what, to)
	}
	to.Digest = p.manifest.Digest.String()
	return to, nil
}

// pushBlob pushes the blob that open reads unless the repository has it.
func pushBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, open func() io.ReadCloser) error {
	ok, err := repo.Blobs().Exists(ctx, desc)
	if err != nil || ok {
		return err
	}
	r := open()
	defer r.Close()
	return repo.Blobs().Push(ctx, desc, r)
}

// layerReader streams the artifact's layer as writeLayer writes it; a read error ends the stream with that error,
// and the registry refuses content whose digest differs from the descriptor's.
func layerReader(a Artifact) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		_, err := writeLayer(pw, a)
		pw.CloseWithError(err)
	}()
	return pr
}
