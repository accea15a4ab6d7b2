package ci

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/repo"
)

// ErrImageRef means an image reference is not pinned by a sha256 digest.
var ErrImageRef = errors.New("not an image reference pinned by digest")

var (
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	// repoRE is an image repository: an optional registry host[:port], then lowercase path components.
	repoRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)+$`)
)

// ParseImage splits REPOSITORY[:TAG]@sha256:DIGEST into an Image; the tag is dropped, as the digest decides what
// runs.
func ParseImage(s string) (model.Image, error) {
	ref, digest, ok := strings.Cut(s, "@")
	if !ok || !digestRE.MatchString(digest) {
		return model.Image{}, fmt.Errorf("%w: %q: want REGISTRY/REPOSITORY@sha256:<64 hex digits>, e.g. the digest docker/build-push-action outputs", ErrImageRef, s)
	}
	if i := strings.LastIndex(ref, "/"); i >= 0 && strings.Contains(ref[i:], ":") {
		ref = ref[:i+strings.Index(ref[i:], ":")]
	}
	if !repoRE.MatchString(ref) {
		return model.Image{}, fmt.Errorf("%w: %q: the repository %q must be lowercase REGISTRY/PATH, e.g. ghcr.io/acme/models/fraud-detector", ErrImageRef, s, ref)
	}
	return model.Image{Ref: ref, Digest: digest}, nil
}

// ImageResult says what RecordImage did.
type ImageResult struct {
	Version *model.Version
	// Previous is the image recorded before, if any.
	Previous *model.Image
	// Unchanged is true when the same image was already recorded (no commit).
	Unchanged bool
	Commit    string
}

// RecordImage writes the serving image built for name@version into models/<name>/v<version>.json and commits it.
// Recording the same image again does nothing; another digest (a rebuild) replaces it. The caller holds the
// repository lock.
func RecordImage(r *repo.Repo, name, version string, img model.Image) (*ImageResult, error) {
	v, err := (&registry.Registry{Repo: r}).Get(name, version)
	if err != nil {
		return nil, err
	}
	res := &ImageResult{Version: v, Previous: v.Image}
	if v.Image != nil && *v.Image == img {
		res.Unchanged = true
		return res, nil
	}
	v.Image = &img
	data, err := v.Marshal()
	if err != nil {
		return nil, err
	}
	file := model.File(name, version)
	if _, err := model.Parse(file, data); err != nil {
		return nil, err
	}
	commit, err := r.Commit(repo.Commit{
		Message: fmt.Sprintf("model: record the serving image of %s v%s\n\nImage: %s\n", name, version, img),
		Changes: []repo.Change{{Path: file, Data: data}},
	})
	if err != nil {
		return nil, err
	}
	res.Commit = commit.String()
	return res, nil
}
