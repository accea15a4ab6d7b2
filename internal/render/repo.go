package render

import (
	"bytes"
	"cmp"
	"fmt"
	"path"
	"runtime"
	"slices"
	"strings"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/schemas"
	"golang.org/x/sync/errgroup"
)

// MaxManifestSize caps a rendered or committed manifest file that render reads back.
const MaxManifestSize = 8 << 20

// maxKeySize caps a public key file of spec.signing.publicKeys: PEM keys are a few hundred bytes.
const maxKeySize = 64 << 10

// Options selects what to render; empty fields mean all.
type Options struct {
	Env   string
	Model string
}

// Output is one directory render owns: a model's environment, or an environment's Flux index.
type Output struct {
	Model string
	Env   string
	// Dir is the directory; files in it that are not in Files are stale.
	Dir   string
	Files []File
}

// Repo renders every application (or the one in opts) for every environment it
// deploys to (or opts.Env), in a stable order: applications by name, environments in
// marina.yaml's order. Applications render concurrently. Its Files carry no Object:
// holding every application's object trees until the end tripled render's peak memory.
func Repo(r *repo.Repo, opts Options) ([]Output, error) {
	proj, err := project.Load(r)
	if err != nil {
		return nil, err
	}
	if opts.Env != "" {
		if _, ok := proj.Environment(opts.Env); !ok {
			return nil, fmt.Errorf("environment %q is not in marina.yaml (it lists %v)", opts.Env, proj.EnvironmentNames())
		}
	}
	names, err := Applications(r)
	if err != nil {
		return nil, err
	}
	if opts.Model != "" {
		if !r.Exists(project.ApplicationPath(opts.Model)) {
			return nil, fmt.Errorf("%s does not exist: marina promote %s@VERSION --env ENV creates it", project.ApplicationPath(opts.Model), opts.Model)
		}
		names = []string{opts.Model}
	}
	var envs []string
	if opts.Env != "" {
		envs = []string{opts.Env}
	}
	results := make([][]Output, len(names))
	errs := make([]error, len(names))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, name := range names {
		g.Go(func() error {
			app, _, err := project.LoadApplication(r, name)
			if err == nil {
				results[i], err = Application(r, proj, app, envs)
			}
			for _, o := range results[i] {
				for j := range o.Files {
					o.Files[j].Object = nil
				}
			}
			errs[i] = err
			return err
		})
	}
	if g.Wait() != nil {
		return nil, cmp.Or(errs...) // the first in names' order, not in time: one input, one message
	}
	var out []Output
	deployed := map[string][]string{}
	for i := range names {
		out = append(out, results[i]...)
		for _, o := range results[i] {
			deployed[o.Env] = append(deployed[o.Env], o.Model)
		}
	}
	if opts.Model == "" && usesFlux(proj) {
		for _, env := range proj.EnvironmentNames() {
			if opts.Env == "" || opts.Env == env {
				out = append(out, fluxIndex(env, deployed[env]))
			}
		}
	}
	return out, nil
}

func usesFlux(p *project.Project) bool {
	return slices.Contains(p.Spec.Engines, "flux")
}

// FluxIndexDir is the Kustomization path Flux applies for env: it lists the rendered
// applications/<model>/<env>/ directories.
func FluxIndexDir(env string) string {
	return path.Join("gitops", "flux", "apps", env)
}

// fluxIndex is the output owning gitops/flux/apps/<env>/.
func fluxIndex(env string, models []string) Output {
	return Output{Env: env, Dir: FluxIndexDir(env), Files: []File{FluxIndexFile(env, models)}}
}

// FluxIndexFile is gitops/flux/apps/<env>/kustomization.yaml for the models deployed to env.
func FluxIndexFile(env string, models []string) File {
	models = slices.Sorted(slices.Values(models))
	var b strings.Builder
	fmt.Fprintf(&b, "# Maintained by marina render: one entry per model deployed to %s.\n", env)
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
	if len(models) == 0 {
		b.WriteString("resources: []\n")
	} else {
		b.WriteString("resources:\n")
		for _, m := range models {
			fmt.Fprintf(&b, "  - ../../../../%s\n", Dir(m, env))
		}
	}
	return File{Path: path.Join(FluxIndexDir(env), "kustomization.yaml"), Data: []byte(b.String())}
}

// FluxIndex renders env's Flux index after app changes: every application on disk
// deployed to env, with app's own entry as given. Nil when the project does not use Flux.
func FluxIndex(r *repo.Repo, proj *project.Project, app *project.ModelApplication, env string) ([]Output, error) {
	if !usesFlux(proj) {
		return nil, nil
	}
	names, err := Applications(r)
	if err != nil {
		return nil, err
	}
	var models []string
	if !slices.Contains(names, app.Spec.Model) {
		names = append(names, app.Spec.Model)
	}
	for _, n := range names {
		a := app
		if n != app.Spec.Model {
			if a, _, err = project.LoadApplication(r, n); err != nil {
				return nil, err
			}
		}
		if _, ok := a.Spec.Environments[env]; ok {
			models = append(models, n)
		}
	}
	return []Output{fluxIndex(env, models)}, nil
}

// Applications lists the models that have an applications/<model>/model.yaml, sorted.
func Applications(r *repo.Repo) ([]string, error) {
	entries, err := r.ReadDir(project.ApplicationsDir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && r.Exists(project.ApplicationPath(e.Name())) {
			if err := registry.CheckName(e.Name()); err != nil {
				return nil, fmt.Errorf("%s/%q: %w", project.ApplicationsDir, e.Name(), err)
			}
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// VersionLookup returns a registered version's metadata.
type VersionLookup func(model, version string) (*model.Version, error)

// Application renders app for envs (all the environments it deploys to when envs is
// empty), reading the version metadata, config and sealed secrets it names from r.
func Application(r *repo.Repo, proj *project.Project, app *project.ModelApplication, envs []string) ([]Output, error) {
	reg := &registry.Registry{Repo: r}
	return ApplicationWithVersions(r, proj, app, envs, reg.Get)
}

// ApplicationWithVersions is Application with the version metadata from lookup, for a
// caller that has parsed the registry already.
func ApplicationWithVersions(r *repo.Repo, proj *project.Project, app *project.ModelApplication, envs []string, lookup VersionLookup) ([]Output, error) {
	appDir := path.Join(project.ApplicationsDir, app.Spec.Model)
	appFile := path.Join(appDir, project.ApplicationFile)
	if len(envs) == 0 {
		for _, e := range proj.EnvironmentNames() {
			if _, ok := app.Spec.Environments[e]; ok {
				envs = append(envs, e)
			}
		}
	}
	for e := range app.Spec.Environments {
		if _, ok := proj.Environment(e); !ok {
			return nil, fmt.Errorf("%s: spec.environments.%s: no such environment in marina.yaml (it lists %v)", appFile, e, proj.EnvironmentNames())
		}
	}
	var config []byte
	if f := app.Spec.Config; f != "" {
		var err error
		if config, err = r.ReadFile(path.Join(appDir, f), schemas.MaxFileSize); err != nil {
			return nil, fmt.Errorf("%s: spec.config: %w", appFile, err)
		}
	}
	sealed := map[string][]byte{}
	for _, s := range app.Spec.Secrets {
		if s.SealedSecret == nil {
			continue
		}
		b, err := r.ReadFile(path.Join(appDir, s.SealedSecret.File), MaxManifestSize)
		if err != nil {
			return nil, fmt.Errorf("%s: secrets[%s].sealedSecret: %w", appFile, s.Name, err)
		}
		sealed[s.Name] = b
	}
	var keys [][]byte
	if proj.Spec.Signing != nil {
		for i, k := range proj.Spec.Signing.PublicKeys {
			b, err := r.ReadFile(k, maxKeySize)
			if err != nil {
				return nil, fmt.Errorf("%s: spec.signing.publicKeys[%d]: %w", project.ProjectFile, i, err)
			}
			keys = append(keys, b)
		}
	}
	versions := map[string]*model.Version{}
	var out []Output
	for _, env := range envs {
		spec, ok := app.Spec.Environments[env]
		if !ok {
			continue
		}
		v, found := versions[spec.Version]
		if !found {
			var err error
			if v, err = lookup(app.Spec.Model, spec.Version); err != nil {
				return nil, fmt.Errorf("%s: spec.environments.%s.version: %w", appFile, env, err)
			}
			if _, err := v.Artifact.Locate(); err != nil {
				return nil, fmt.Errorf("%s: %w", model.File(v.Name, v.Version), err)
			}
			versions[spec.Version] = v
		}
		files, err := Render(Input{Project: proj, App: app, Env: env, Version: v, Config: config, SealedSecrets: sealed, PublicKeys: keys})
		if err != nil {
			return nil, err
		}
		out = append(out, Output{Model: app.Spec.Model, Env: env, Dir: Dir(app.Spec.Model, env), Files: files})
	}
	return out, nil
}

// Changes compares outputs with the work tree: files to write (new or different) and
// files in the rendered directories that render no longer produces, to delete.
// An empty result means the committed output is up to date.
func Changes(r *repo.Repo, outs []Output) ([]repo.Change, error) {
	var changes []repo.Change
	for _, o := range outs {
		want := map[string]bool{}
		for _, f := range o.Files {
			want[path.Base(f.Path)] = true
			cur, err := r.ReadFile(f.Path, MaxManifestSize)
			if err == nil && bytes.Equal(cur, f.Data) {
				continue
			}
			if err != nil && r.Exists(f.Path) {
				return nil, err
			}
			changes = append(changes, repo.Change{Path: f.Path, Data: f.Data})
		}
		dir := o.Dir
		entries, err := r.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() {
				return nil, fmt.Errorf("%s/%s is a directory; marina render owns %s/, move it elsewhere", dir, e.Name(), dir)
			}
			if !want[e.Name()] {
				changes = append(changes, repo.Change{Path: path.Join(dir, e.Name()), Delete: true})
			}
		}
	}
	return changes, nil
}
