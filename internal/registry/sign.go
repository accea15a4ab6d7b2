package registry

import (
	"fmt"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/repo"
)

// RecordSignature writes bundle, a signature of v's artifact, to model.SignatureFile and records it in v's
// signing field, both in one commit. It returns the commit.
func (g *Registry) RecordSignature(v *model.Version, bundle []byte, signer string) (string, error) {
	file := model.File(v.Name, v.Version)
	sig := model.SignatureFile(v.Name, v.Version)
	v.Signing = &model.Signing{Bundle: sig}
	data, err := encode(file, v)
	if err != nil {
		return "", err
	}
	commit, err := g.Repo.Commit(repo.Commit{
		Message: fmt.Sprintf("model: sign %s v%s\n\nSignature: %s\nArtifact: %s\nKey: %s\n", v.Name, v.Version, sig, v.Artifact.Digest, signer),
		Changes: []repo.Change{{Path: sig, Data: bundle}, {Path: file, Data: data}},
	})
	if err != nil {
		return "", err
	}
	return commit.String(), nil
}
