package registry

import (
	"fmt"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/repo"
)

// RecordPush records that v's artifact now lives at uri, as file in it (artifact.uri and artifact.file), in one
// commit; recording what v already records is a no-op. The caller holds the repository lock and has pushed the
// artifact.
func (g *Registry) RecordPush(v *model.Version, uri, file string) (*Result, error) {
	if v.Artifact.URI == uri && v.Artifact.File == file {
		return &Result{Version: v, Unchanged: true}, nil
	}
	previous := v.Artifact.URI
	v.Artifact.URI, v.Artifact.File = uri, file
	path := model.File(v.Name, v.Version)
	data, err := encode(path, v)
	if err != nil {
		return nil, err
	}
	commit, err := g.Repo.Commit(repo.Commit{
		Message: fmt.Sprintf("model: push %s v%s to %s\n\nArtifact: %s\nPrevious: %s\nDigest: %s\n", v.Name, v.Version, uri, uri, previous, v.Artifact.Digest),
		Changes: []repo.Change{{Path: path, Data: data}},
	})
	if err != nil {
		return nil, err
	}
	return &Result{Version: v, Updated: []string{"artifact.uri: " + previous + " → " + uri}, Commit: commit.String()}, nil
}
