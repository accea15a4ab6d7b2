package ci

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/schemas"
)

// ErrBase means the base revision cannot be resolved (a typo, or a shallow clone that lacks it).
var ErrBase = errors.New("cannot resolve the base revision")

// Kinds of change to a file or a registered version.
const (
	Added    = "added"
	Modified = "modified"
	Deleted  = "deleted"
)

// ChangeSet is what changed between the base commit and HEAD, in a deterministic order: models and
// applications by name, environments in marina.yaml's order.
type ChangeSet struct {
	// BaseRef says how the base was chosen, e.g. "origin/main" or "merge base with main".
	BaseRef string `json:"baseRef"`
	// Base is the base commit; empty when HEAD is the first commit.
	Base string `json:"base,omitempty"`
	Head string `json:"head"`
	// Everything is true when every model and environment is in scope: marina.yaml changed, or there is no base.
	Everything bool `json:"everything"`
	// Reason says why Everything is set.
	Reason string `json:"reason,omitempty"`
	// Files are the changed paths, sorted.
	Files        []string            `json:"files"`
	Models       []ModelChange       `json:"models"`
	Applications []ApplicationChange `json:"applications"`
	// Project is true when marina.yaml changed.
	Project        bool `json:"project"`
	Infrastructure bool `json:"infrastructure"`
	GitOps         bool `json:"gitops"`
	// CI is true when ci/, .github/ or .gitlab-ci.yml changed.
	CI bool `json:"ci"`
	// Other lists changed files outside marina's layout.
	Other []string `json:"other,omitempty"`
}

// ModelChange is a changed directory models/<model>/.
type ModelChange struct {
	Name string `json:"name"`
	// Versions are the changed v<semver>.json files, by semver.
	Versions []VersionChange `json:"versions,omitempty"`
	// Files are the other changed files (artifacts, eval sets).
	Files []string `json:"files,omitempty"`
}

// VersionChange is a registered version's metadata file that was added, modified or deleted.
type VersionChange struct {
	Version string `json:"version"`
	Change  string `json:"change"`
}

// ApplicationChange is a changed directory applications/<model>/.
type ApplicationChange struct {
	Model string      `json:"model"`
	Envs  []EnvChange `json:"envs"`
}

// EnvChange is one environment of an application whose deployment changed.
type EnvChange struct {
	Env string `json:"env"`
	// From and To are the versions deployed at the base and at HEAD; empty when none.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Spec is true when model.yaml changed what this environment runs (version or settings).
	Spec bool `json:"spec"`
	// Rendered is true when files under applications/<model>/<env>/ changed.
	Rendered bool `json:"rendered"`
}

// Application returns the change of model's application, if any.
func (c *ChangeSet) Application(model string) (ApplicationChange, bool) {
	for _, a := range c.Applications {
		if a.Model == model {
			return a, true
		}
	}
	return ApplicationChange{}, false
}

// Model returns the change of models/<name>/, if any.
func (c *ChangeSet) Model(name string) (ModelChange, bool) {
	for _, m := range c.Models {
		if m.Name == name {
			return m, true
		}
	}
	return ModelChange{}, false
}

// InScope reports whether the deployment of model in env is affected by the change: everything is in scope, its
// application changed for env, or its registered versions changed.
func (c *ChangeSet) InScope(model, env string) bool {
	if c.Everything {
		return true
	}
	if _, ok := c.Model(model); ok {
		return true
	}
	a, ok := c.Application(model)
	if !ok {
		return false
	}
	return slices.ContainsFunc(a.Envs, func(e EnvChange) bool { return e.Env == env })
}

// Empty reports whether nothing marina knows about changed.
func (c *ChangeSet) Empty() bool {
	return !c.Everything && len(c.Models) == 0 && len(c.Applications) == 0 && !c.Project && !c.Infrastructure && !c.GitOps && !c.CI
}

// Detect compares HEAD's tree with the base's. base is a branch, tag, remote branch (origin/main) or commit;
// "" means the merge base of HEAD with marina.yaml's spec.repository.branch (origin/<branch>, else <branch>) when
// that is not HEAD itself, else HEAD~1. With no base (HEAD is the first commit) everything changed. Uncommitted
// work-tree changes are never included: CI checks commits.
func Detect(r *repo.Repo, base string) (*ChangeSet, error) {
	g := r.Git()
	headRef, err := g.Head()
	if err != nil {
		return nil, fmt.Errorf("reading HEAD: %w (commit something first)", err)
	}
	head, err := g.CommitObject(headRef.Hash())
	if err != nil {
		return nil, fmt.Errorf("reading HEAD %s: %w", headRef.Hash(), err)
	}
	headTree, err := r.Tree(head)
	if err != nil {
		return nil, err
	}
	baseCommit, how, err := resolveBase(r, head, base)
	if err != nil {
		return nil, err
	}
	cs := &ChangeSet{BaseRef: how, Head: head.Hash.String(), Files: []string{}, Models: []ModelChange{}, Applications: []ApplicationChange{}}
	var baseTree *object.Tree
	if baseCommit == nil {
		cs.Everything, cs.Reason = true, "no base commit: "+how
	} else {
		cs.Base = baseCommit.Hash.String()
		if baseTree, err = r.Tree(baseCommit); err != nil {
			return nil, err
		}
	}
	changes, err := object.DiffTree(baseTree, headTree)
	if err != nil {
		return nil, fmt.Errorf("comparing %s with HEAD: %w", how, err)
	}
	kinds := map[string]string{}
	for _, ch := range changes {
		from, to := ch.From.Name, ch.To.Name
		switch {
		case from == "":
			kinds[to] = Added
		case to == "":
			kinds[from] = Deleted
		default:
			kinds[to] = Modified
			if from != to {
				kinds[from] = Deleted
			}
		}
	}
	for p := range kinds {
		cs.Files = append(cs.Files, p)
	}
	slices.Sort(cs.Files)
	envOrder := environmentOrder(headTree, baseTree)
	if err := cs.classify(kinds, baseTree, headTree, envOrder); err != nil {
		return nil, err
	}
	if cs.Project && !cs.Everything {
		cs.Everything, cs.Reason = true, project.ProjectFile+" changed"
	}
	return cs, nil
}

// resolveBase finds the base commit and says how it was chosen; a nil commit means HEAD has no base.
func resolveBase(r *repo.Repo, head *object.Commit, base string) (*object.Commit, string, error) {
	g := r.Git()
	if base != "" {
		h, err := g.ResolveRevision(plumbing.Revision(base))
		if err != nil {
			return nil, base, fmt.Errorf("%w %q: %v (check the name; a shallow clone needs the full history, e.g. actions/checkout with fetch-depth: 0 or GIT_DEPTH: 0, and git fetch origin BRANCH)", ErrBase, base, err)
		}
		c, err := g.CommitObject(*h)
		if err != nil {
			return nil, base, fmt.Errorf("%w %q: %v", ErrBase, base, err)
		}
		return c, base, nil
	}
	if branch := projectBranch(r); branch != "" {
		for _, name := range []string{"origin/" + branch, branch} {
			h, err := g.ResolveRevision(plumbing.Revision(name))
			if err != nil {
				continue
			}
			other, err := g.CommitObject(*h)
			if err != nil {
				continue
			}
			bases, err := head.MergeBase(other)
			if err != nil || len(bases) == 0 {
				continue
			}
			if bases[0].Hash != head.Hash {
				return bases[0], "merge base with " + name, nil
			}
			break // HEAD is on the branch itself: compare with its parent.
		}
	}
	if head.NumParents() == 0 {
		return nil, "HEAD is the first commit", nil
	}
	p, err := head.Parent(0)
	if err != nil {
		return nil, "HEAD~1", fmt.Errorf("%w HEAD~1: %v (a shallow clone needs the full history, e.g. fetch-depth: 0)", ErrBase, err)
	}
	return p, "HEAD~1", nil
}

// projectBranch reads spec.repository.branch from the work tree's marina.yaml; "" when it cannot.
func projectBranch(r *repo.Repo) string {
	p, err := project.Load(r)
	if err != nil {
		return ""
	}
	return p.Spec.Repository.Branch
}

// environmentOrder lists the environments of marina.yaml at HEAD, then those only the base lists.
func environmentOrder(trees ...*object.Tree) []string {
	var out []string
	for _, t := range trees {
		data, err := readBlob(t, project.ProjectFile, schemas.MaxFileSize)
		if err != nil || data == nil {
			continue
		}
		var p project.Project
		if schemas.Decode(schemas.Project, project.ProjectFile, data, &p) != nil {
			continue
		}
		for _, e := range p.EnvironmentNames() {
			if !slices.Contains(out, e) {
				out = append(out, e)
			}
		}
	}
	return out
}

// readBlob reads a file of tree, at most max bytes; nil without error when tree is nil or lacks the file.
func readBlob(t *object.Tree, p string, max int64) ([]byte, error) {
	if t == nil {
		return nil, nil
	}
	f, err := t.File(p)
	if errors.Is(err, object.ErrFileNotFound) || errors.Is(err, object.ErrDirectoryNotFound) || errors.Is(err, object.ErrEntryNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if f.Size > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, over the %d byte limit", repo.ErrTooLarge, p, f.Size, max)
	}
	rd, err := f.Reader()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	defer rd.Close()
	return io.ReadAll(io.LimitReader(rd, max))
}

// classify sorts changed paths into models, applications and the rest.
func (cs *ChangeSet) classify(kinds map[string]string, baseTree, headTree *object.Tree, envOrder []string) error {
	models := map[string]*ModelChange{}
	apps := map[string]map[string]*EnvChange{}
	appAll := map[string]bool{}
	appFileChanged := map[string]bool{}
	modelOf := func(name string) *ModelChange {
		if models[name] == nil {
			models[name] = &ModelChange{Name: name}
		}
		return models[name]
	}
	envOf := func(app, env string) *EnvChange {
		if apps[app] == nil {
			apps[app] = map[string]*EnvChange{}
		}
		if apps[app][env] == nil {
			apps[app][env] = &EnvChange{Env: env}
		}
		return apps[app][env]
	}
	for _, p := range cs.Files {
		parts := strings.Split(p, "/")
		switch {
		case p == project.ProjectFile:
			cs.Project = true
		case parts[0] == model.Dir && len(parts) >= 3:
			m := modelOf(parts[1])
			if v, ok := versionOfFile(parts); ok {
				m.Versions = append(m.Versions, VersionChange{Version: v, Change: kinds[p]})
			} else {
				m.Files = append(m.Files, p)
			}
		case parts[0] == project.ApplicationsDir && len(parts) >= 3:
			app := parts[1]
			if apps[app] == nil {
				apps[app] = map[string]*EnvChange{}
			}
			switch {
			case len(parts) == 3 && parts[2] == project.ApplicationFile:
				appFileChanged[app] = true
			case len(parts) >= 4 && slices.Contains(envOrder, parts[2]):
				envOf(app, parts[2]).Rendered = true
			default:
				// config.yaml, sealed secrets and anything else beside model.yaml feed every environment.
				appAll[app] = true
			}
		case parts[0] == "infrastructure":
			cs.Infrastructure = true
		case parts[0] == "gitops":
			cs.GitOps = true
		case parts[0] == "ci" || parts[0] == ".github" || p == ".gitlab-ci.yml":
			cs.CI = true
		default:
			cs.Other = append(cs.Other, p)
		}
	}
	for app := range apps {
		file := project.ApplicationPath(app)
		before, err := envSpecs(baseTree, file)
		if err != nil {
			return err
		}
		after, err := envSpecs(headTree, file)
		if err != nil {
			return err
		}
		for env, b := range before.envs {
			envOf(app, env).From = b.version
		}
		for env, a := range after.envs {
			envOf(app, env).To = a.version
		}
		if !appFileChanged[app] && !appAll[app] {
			continue
		}
		all := appAll[app] || before.shared != after.shared || before.broken || after.broken
		for env, e := range apps[app] {
			b, a := before.envs[env], after.envs[env]
			e.Spec = b != a || all && (a.version != "" || b.version != "")
		}
		if all {
			for env := range after.envs {
				envOf(app, env).Spec = true
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(models)) {
		m := models[name]
		slices.SortFunc(m.Versions, func(a, b VersionChange) int { return model.CompareVersions(a.Version, b.Version) })
		cs.Models = append(cs.Models, *m)
	}
	for _, app := range slices.Sorted(maps.Keys(apps)) {
		var envs []EnvChange
		for _, env := range orderEnvs(apps[app], envOrder) {
			e := apps[app][env]
			if e.Spec || e.Rendered {
				envs = append(envs, *e)
			}
		}
		if len(envs) > 0 {
			cs.Applications = append(cs.Applications, ApplicationChange{Model: app, Envs: envs})
		}
	}
	return nil
}

// versionOfFile returns the version of models/<model>/v<semver>.json.
func versionOfFile(parts []string) (string, bool) {
	if len(parts) != 3 || !strings.HasPrefix(parts[2], "v") || !strings.HasSuffix(parts[2], ".json") {
		return "", false
	}
	v := strings.TrimSuffix(strings.TrimPrefix(parts[2], "v"), ".json")
	if _, err := model.ParseSemver(v); err != nil {
		return "", false
	}
	return v, true
}

// appSpecs is a model.yaml reduced to what decides the rendered output: the shared fields, and per environment
// its version and resolved settings.
type appSpecs struct {
	shared string
	envs   map[string]envSpec
	broken bool
}

type envSpec struct {
	version  string
	settings string
}

// envSpecs reads file from tree; a missing file has no environments, a broken one is marked so every
// environment counts as changed.
func envSpecs(t *object.Tree, file string) (appSpecs, error) {
	out := appSpecs{envs: map[string]envSpec{}}
	data, err := readBlob(t, file, schemas.MaxFileSize)
	if err != nil {
		return out, err
	}
	if data == nil {
		return out, nil
	}
	app, _, err := project.ParseApplication(file, data)
	if err != nil {
		out.broken = true
		return out, nil
	}
	shared := app.Spec
	shared.Settings, shared.Environments = project.Settings{}, nil
	out.shared = canonical(shared)
	for env := range app.Spec.Environments {
		resolved, _ := app.Spec.Resolve(env)
		out.envs[env] = envSpec{version: resolved.Version, settings: canonical(resolved)}
	}
	return out, nil
}

// canonical is v as JSON with sorted map keys, for comparing.
func canonical(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	if err := enc.Encode(v); err != nil {
		return "!" + err.Error()
	}
	return b.String()
}

// orderEnvs lists m's environments in marina.yaml's order, then any others by name.
func orderEnvs[V any](m map[string]V, order []string) []string {
	var out []string
	for _, e := range order {
		if _, ok := m[e]; ok {
			out = append(out, e)
		}
	}
	var rest []string
	for e := range m {
		if !slices.Contains(order, e) {
			rest = append(rest, e)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

func hashOf(s string) plumbing.Hash { return plumbing.NewHash(s) }
