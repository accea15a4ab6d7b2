package model

import (
	"fmt"
	"strings"

	"github.com/marina-dev/marina/internal/repo"
)

// RemoteSchemes are the URI schemes an artifact.uri may name: marina records them for the cluster and never
// reads them itself.
var RemoteSchemes = []string{"oci", "s3", "gs", "https", "http"}

// Location is where a version's artifact lives: a remote URI, or a file in the repository.
type Location struct {
	// Remote is the URI when the artifact is remote (oci://, s3://, gs://, https://).
	Remote string
	// Path is the artifact's path relative to the repository root when it is in the repository.
	Path string
}

// Locate classifies an artifact.uri. A file must be in the repository, named by a clean path relative to
// its root: an absolute path or file:// URI would make validate, model check and serve read a file that
// the repository does not hold, and render write a host path into a Deployment.
func (a Artifact) Locate() (Location, error) {
	uri := a.URI
	if scheme, _, ok := strings.Cut(uri, "://"); ok {
		for _, s := range RemoteSchemes {
			if strings.EqualFold(scheme, s) {
				return Location{Remote: uri}, nil
			}
		}
		if strings.EqualFold(scheme, "file") {
			return Location{}, fmt.Errorf("artifact.uri %q: %w: file:// URIs are not allowed; commit the artifact into the repository and write its path relative to the repository root, or upload it (marina model push) and record oci://…", uri, repo.ErrBadPath)
		}
		return Location{}, fmt.Errorf("artifact.uri %q: %w: unknown scheme %q; use %s://…, or a path relative to the repository root", uri, repo.ErrBadPath, scheme, strings.Join(RemoteSchemes, "://, "))
	}
	if err := repo.CheckPath(uri); err != nil {
		return Location{}, fmt.Errorf("artifact.uri: %w; write the path of the artifact relative to the repository root (it must be committed there), or record a remote URI (oci://, s3://, gs://, https://)", err)
	}
	return Location{Path: uri}, nil
}
