package ci

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/marina-dev/marina/internal/check"
	"github.com/marina-dev/marina/internal/gate"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/validate"
	"github.com/marina-dev/marina/schemas"
)

// Options configure Run.
type Options struct {
	// Base is the revision to compare HEAD with; "" chooses one (see Detect).
	Base string
	// CRDDirs hold extra CustomResourceDefinitions for validate.
	CRDDirs []string
	// Concurrency bounds validate's workers; 0 means GOMAXPROCS.
	Concurrency int
	// Checks is one of ChecksModes: whether the ONNX versions whose gates ci evaluates are run in ONNX Runtime
	// (model checks), their measured metrics feeding the gates. "" is ChecksOff.
	Checks string
	// Check tunes the model checks (runs, warm-up).
	Check check.Options
}

// Result is everything one `marina ci` run found.
type Result struct {
	Changes *ChangeSet    `json:"changes"`
	Gates   []gate.Result `json:"gates"`
	// Stale lists rendered files of changed models and environments that differ from what render produces.
	Stale []StaleFile `json:"stale"`
	// RenderError is set when the repository could not be rendered at all (validate says why in detail).
	RenderError string `json:"renderError,omitempty"`
	// Validate is validate's report on the whole repository.
	Validate *validate.Report `json:"validate"`
	// Checks are the model checks of the versions whose gates ci evaluates, in the order of Gates.
	Checks []ModelCheck `json:"checks"`
	// ChecksSkipped says why no model check ran although they were asked for (ONNX Runtime is not installed).
	ChecksSkipped string `json:"checksSkipped,omitempty"`
	// Builds are the versions registered by this change whose serving image CI builds on the main branch.
	Builds []Build `json:"builds"`
	// Passed is false when a gate or a model check failed, the rendered output is stale, or validate found errors.
	Passed bool `json:"passed"`
}

// StaleFile is a rendered file that `marina render --write` would change.
type StaleFile struct {
	Path string `json:"path"`
	// Change is added, modified or deleted: what render --write would do to the file.
	Change string `json:"change"`
}

// Build is a version whose artifact is a file in the repository and that records no serving image yet.
type Build struct {
	Model    string `json:"model"`
	Version  string `json:"version"`
	Artifact string `json:"artifact"`
}

// Ref is NAME@VERSION.
func (b Build) Ref() string { return b.Model + "@" + b.Version }

// Errors counts validate's error findings.
func (res *Result) Errors() int { return res.Validate.Errors() }

// FailedGates lists the gates that did not pass.
func (res *Result) FailedGates() []gate.Result {
	var out []gate.Result
	for _, g := range res.Gates {
		if !g.Passed {
			out = append(out, g)
		}
	}
	return out
}

// Reasons says why the run failed, one line each; empty when it passed.
func (res *Result) Reasons() []string {
	var out []string
	if n := len(res.FailedGates()); n > 0 {
		out = append(out, plural(n, "quality gate", "quality gates")+" failed")
	}
	for _, c := range res.FailedChecks() {
		var steps []string
		for _, s := range c.FailedSteps() {
			steps = append(steps, s.Name)
		}
		out = append(out, fmt.Sprintf("the model check of %s failed: %s", c.Ref(), strings.Join(steps, ", ")))
	}
	if res.RenderError != "" {
		out = append(out, "the repository does not render: "+res.RenderError)
	}
	if n := len(res.Stale); n > 0 {
		out = append(out, plural(n, "rendered file is", "rendered files are")+" stale: run marina render --write and commit")
	}
	if n := res.Errors(); n > 0 {
		out = append(out, "validate found "+plural(n, "error", "errors"))
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Run detects the change against opts.Base, validates the repository (every error fails, not only those in
// changed files: a red main branch must not stay red), checks that the rendered output of the changed models and
// environments is up to date, and checks the gates of the changed versions. Change detection and gates read
// commits; validate and render read the work tree, which in CI is HEAD. The error is for problems that stop the
// run (an unknown base, an unreadable repository), never for what it finds.
func Run(ctx context.Context, r *repo.Repo, opts Options) (*Result, error) {
	cs, err := Detect(r, opts.Base)
	if err != nil {
		return nil, err
	}
	res := &Result{Changes: cs, Gates: []gate.Result{}, Stale: []StaleFile{}, Checks: []ModelCheck{}, Builds: []Build{}}
	if res.Validate, err = validate.Run(ctx, r, validate.Options{ExtraCRDDirs: opts.CRDDirs, Concurrency: opts.Concurrency}); err != nil {
		return nil, err
	}
	if res.Validate.Findings == nil {
		res.Validate.Findings = []validate.Finding{}
	}
	if res.Validate.Files == nil {
		res.Validate.Files = []string{}
	}
	if err := res.checkRendered(r); err != nil {
		return nil, err
	}
	head, err := headState(r, cs.Head)
	if err != nil {
		return nil, err
	}
	c := &checker{r: r, mode: opts.Checks, opts: opts.Check, res: res}
	if res.Gates, res.Builds, err = head.gatesAndBuilds(ctx, cs, c); err != nil {
		return nil, err
	}
	res.Passed = len(res.Reasons()) == 0
	return res, nil
}

// checkRendered renders the repository and keeps the differences in scope of the change.
func (res *Result) checkRendered(r *repo.Repo) error {
	outs, err := render.Repo(r, render.Options{})
	if err != nil {
		res.RenderError = err.Error()
		return nil
	}
	cs := res.Changes
	var scoped []render.Output
	for _, o := range outs {
		switch {
		case o.Model == "" && (cs.Everything || cs.GitOps || len(cs.Applications) > 0):
			scoped = append(scoped, o) // a Flux index lists the applications of an environment
		case o.Model != "" && cs.InScope(o.Model, o.Env):
			scoped = append(scoped, o)
		}
	}
	changes, err := render.Changes(r, scoped)
	if err != nil {
		res.RenderError = err.Error()
		return nil
	}
	for _, c := range changes {
		kind := Modified
		switch {
		case c.Delete:
			kind = Deleted
		case !r.Exists(c.Path):
			kind = Added
		}
		res.Stale = append(res.Stale, StaleFile{Path: c.Path, Change: kind})
	}
	slices.SortFunc(res.Stale, func(a, b StaleFile) int { return cmp.Compare(a.Path, b.Path) })
	return nil
}

// state is what HEAD's commit holds: marina.yaml and the applications and versions gates read.
type state struct {
	tree    *object.Tree
	project *project.Project
	apps    map[string]*project.ModelApplication
}

func headState(r *repo.Repo, head string) (*state, error) {
	c, err := r.Git().CommitObject(hashOf(head))
	if err != nil {
		return nil, err
	}
	t, err := r.Tree(c)
	if err != nil {
		return nil, err
	}
	s := &state{tree: t, apps: map[string]*project.ModelApplication{}}
	if data, err := readBlob(t, project.ProjectFile, schemas.MaxFileSize); err == nil && data != nil {
		var p project.Project
		if schemas.Decode(schemas.Project, project.ProjectFile, data, &p) == nil {
			s.project = &p
		}
	}
	if dir, err := t.Tree(project.ApplicationsDir); err == nil {
		for _, e := range dir.Entries {
			if e.Mode.IsFile() {
				continue
			}
			file := project.ApplicationPath(e.Name)
			data, err := readBlob(t, file, schemas.MaxFileSize)
			if err != nil || data == nil {
				continue
			}
			if app, _, err := project.ParseApplication(file, data); err == nil {
				s.apps[e.Name] = app // a broken model.yaml is validate's to report
			}
		}
	}
	return s, nil
}

// version reads models/<name>/v<version>.json at HEAD; nil when absent or broken (validate reports why).
func (s *state) version(name, version string) *model.Version {
	file := model.File(name, version)
	data, err := readBlob(s.tree, file, schemas.MaxFileSize)
	if err != nil || data == nil {
		return nil
	}
	v, err := model.Parse(file, data)
	if err != nil {
		return nil
	}
	return v
}

// deploys reports whether some environment deploys name@version at HEAD.
func (s *state) deploys(name, version string) bool {
	app := s.apps[name]
	if app == nil {
		return false
	}
	for _, e := range app.Spec.Environments {
		if e.Version == version {
			return true
		}
	}
	return false
}

// gatesAndBuilds checks the gates of the versions the change deploys or registers, on the metrics c measures
// when it checks them, and lists the versions registered by it whose serving image CI should build. The error
// is c's: ONNX Runtime missing with ChecksOn, ctx cancelled.
func (s *state) gatesAndBuilds(ctx context.Context, cs *ChangeSet, c *checker) ([]gate.Result, []Build, error) {
	type key struct{ model, version string }
	candidates := map[key]bool{}
	for _, a := range cs.Applications {
		for _, e := range a.Envs {
			if e.To != "" && e.To != e.From {
				candidates[key{a.Model, e.To}] = true
			}
		}
	}
	builds := []Build{}
	for _, m := range cs.Models {
		for _, v := range m.Versions {
			if v.Change == Added || v.Change == Modified && s.deploys(m.Name, v.Version) {
				candidates[key{m.Name, v.Version}] = true
			}
			if v.Change == Added {
				if b, ok := s.build(m.Name, v.Version); ok {
					builds = append(builds, b)
				}
			}
		}
	}
	if cs.Everything {
		for name, app := range s.apps {
			for _, e := range app.Spec.Environments {
				candidates[key{name, e.Version}] = true
			}
		}
	}
	keys := slices.Collect(maps.Keys(candidates))
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.model, b.model), model.CompareVersions(a.version, b.version))
	})
	results := []gate.Result{}
	for _, k := range keys {
		v := s.version(k.model, k.version)
		if v == nil {
			continue // not registered: validate reports it
		}
		measured, err := c.check(ctx, v)
		if err != nil {
			return nil, nil, err
		}
		if s.project == nil || s.project.Spec.Gates == nil {
			continue
		}
		results = append(results, gate.Check(s.project.Spec.Gates, measured, s.reference(cs, v))...)
	}
	return results, builds, nil
}

// reference is the version a regression of v is measured against: the one deployed in the last environment at
// HEAD, or, when that is v itself (this change promotes it there), the one deployed there at the base.
func (s *state) reference(cs *ChangeSet, v *model.Version) gate.Reference {
	envs := s.project.EnvironmentNames()
	if len(envs) == 0 {
		return gate.Reference{Note: "marina.yaml lists no environments"}
	}
	last := envs[len(envs)-1]
	ref := gate.Reference{Env: last}
	app := s.apps[v.Name]
	if app == nil {
		return ref
	}
	e, ok := app.Spec.Environments[last]
	if !ok {
		return ref
	}
	version := e.Version
	if version == v.Version {
		version = ""
		if a, ok := cs.Application(v.Name); ok {
			for _, ec := range a.Envs {
				if ec.Env == last && ec.From != v.Version {
					version = ec.From
				}
			}
		}
		if version == "" {
			ref.Note = fmt.Sprintf("%s@%s is the version deployed in %s", v.Name, v.Version, last)
			return ref
		}
	}
	ref.Version = s.version(v.Name, version)
	if ref.Version == nil {
		ref.Note = fmt.Sprintf("%s@%s, deployed in %s, is not registered", v.Name, version, last)
	}
	return ref
}

// build returns the image build of a newly registered version whose artifact is a file in the repository.
func (s *state) build(name, version string) (Build, bool) {
	v := s.version(name, version)
	if v == nil || v.Image != nil {
		return Build{}, false
	}
	uri := v.Artifact.URI
	if strings.Contains(uri, "://") || path.IsAbs(uri) || repo.CheckPath(uri) != nil {
		return Build{}, false
	}
	if _, err := s.tree.File(uri); err != nil {
		return Build{}, false
	}
	return Build{Model: name, Version: version, Artifact: uri}, true
}
