package cli

import (
	"strings"

	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/release"
	"github.com/marina-dev/marina/internal/repo"
)

// unknownModel is the error of a query for a model the repository does not know (exit 1), naming the ones it does.
func unknownModel(r *repo.Repo, name string) error {
	names, _, err := (&registry.Registry{Repo: r}).Models()
	if err != nil {
		return err
	}
	known := "none yet (register one with `marina model register NAME --file MODEL --version 1.0.0`)"
	if len(names) > 0 {
		known = strings.Join(names, ", ")
	}
	return failedf("model %q: %w: no models/%s/ and no applications/%s/model.yaml; registered models: %s", name, registry.ErrNotFound, name, name, known)
}

// knownEnv fails (exit 1) when marina.yaml does not list env.
func knownEnv(r *repo.Repo, env string) error {
	proj, err := project.Load(r)
	if err != nil {
		return err
	}
	if _, ok := proj.Environment(env); !ok {
		return failedf("--env: %w %q: marina.yaml lists %s", release.ErrUnknownEnv, env, strings.Join(proj.EnvironmentNames(), ", "))
	}
	return nil
}
