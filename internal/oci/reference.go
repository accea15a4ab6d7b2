package oci

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/registry"
)

// Scheme is the URI scheme of a model artifact in a registry: oci://HOST/REPO@sha256:….
const Scheme = "oci://"

// Reference is a repository in a registry, and a manifest in it when Digest is set.
type Reference struct {
	// Host is the registry, host[:port].
	Host string
	// Repository is the path of the repository in the registry, e.g. models/fraud-detector.
	Repository string
	// Digest pins the manifest, sha256:…; empty for a repository to push to.
	Digest string
}

// String is HOST/REPO, or HOST/REPO@sha256:… when pinned.
func (r Reference) String() string {
	s := r.Host + "/" + r.Repository
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// URI is the reference as artifact.uri records it: oci://HOST/REPO@sha256:….
func (r Reference) URI() string { return Scheme + r.String() }

// ParseRepository reads a repository to push to: HOST/REPO, with or without oci://. A tag or digest is refused:
// the digest comes from what is pushed.
func ParseRepository(s string) (Reference, error) {
	ref, err := parse(s)
	if err != nil {
		return Reference{}, err
	}
	if ref.Digest != "" {
		return Reference{}, fmt.Errorf("%q: name the repository only, HOST/REPO (the digest comes from what is pushed)", s)
	}
	return ref, nil
}

// ParseURI reads a pinned artifact reference, oci://HOST/REPO@sha256:… (oci:// optional). A tag is refused: a tag
// moves, a digest names one artifact.
func ParseURI(s string) (Reference, error) {
	ref, err := parse(s)
	if err != nil {
		return Reference{}, err
	}
	if ref.Digest == "" {
		return Reference{}, fmt.Errorf("%q: pin the artifact by digest, oci://HOST/REPO@sha256:… (marina model show NAME@VERSION prints it)", s)
	}
	return ref, nil
}

// parse reads [oci://]HOST/REPO[@sha256:…] with oras-go's reference grammar (the distribution spec's); a tag is
// refused.
func parse(s string) (Reference, error) {
	raw := strings.TrimPrefix(s, Scheme)
	if scheme, _, ok := strings.Cut(raw, "://"); ok {
		return Reference{}, fmt.Errorf("%q: %s:// is not a registry reference; write oci://HOST/REPO", s, scheme)
	}
	ref, err := registry.ParseReference(raw)
	if err != nil {
		return Reference{}, fmt.Errorf("%q: %v; want oci://HOST/REPO@sha256:…, e.g. oci://registry.example.com/models/fraud-detector@sha256:…", s, err)
	}
	out := Reference{Host: ref.Registry, Repository: ref.Repository}
	if ref.Reference == "" {
		return out, nil
	}
	d, err := ref.Digest()
	if err != nil {
		return Reference{}, fmt.Errorf("%q: the tag %q moves; pin the artifact by digest, HOST/REPO@sha256:…", s, ref.Reference)
	}
	if d.Algorithm() != digest.SHA256 {
		return Reference{}, fmt.Errorf("%q: digest algorithm %s; marina pins sha256", s, d.Algorithm())
	}
	out.Digest = d.String()
	return out, nil
}
