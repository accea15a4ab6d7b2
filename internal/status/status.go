package status

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/marina-dev/marina/internal/gate"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/release"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/repo"
)

// Unregistered is a row's State when models/ has no metadata for the version model.yaml names.
const Unregistered = "unregistered"

// Errors of a Filter that names nothing in the repository, for errors.Is; the messages name the value and the fix.
var (
	// ErrUnknownEnvironment means Filter.Environment is not an environment of marina.yaml.
	ErrUnknownEnvironment = errors.New("is not an environment of " + project.ProjectFile)
	// ErrNoEnvironment means no environment of marina.yaml (with Filter.Environment) deploys to Filter.Namespace.
	ErrNoEnvironment = errors.New("no environment of " + project.ProjectFile + " deploys to it")
)

// UnknownModelError means Filter.Model is neither deployed (applications/NAME/model.yaml) nor registered
// (models/NAME/).
type UnknownModelError struct {
	Name string
}

func (e *UnknownModelError) Error() string {
	return fmt.Sprintf("model %q: neither %s nor %s/%s/ exists (marina model list shows the registered models)", e.Name, project.ApplicationPath(e.Name), model.Dir, e.Name)
}

// Filter narrows the rows; a zero Filter keeps every model in every environment.
type Filter struct {
	// Model keeps this model only.
	Model string
	// Environment keeps this environment only.
	Environment string
	// Namespace keeps the environments that deploy to this namespace.
	Namespace string
	// Gates checks each row's version against marina.yaml's spec.gates into Row.Gates.
	Gates bool
}

// Row is one model in one environment: what Git says, and with a cluster what runs.
type Row struct {
	Model       string `json:"model"`
	Environment string `json:"environment,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	// Version is the environment's version in model.yaml; empty for a registered model no environment deploys.
	Version string `json:"version,omitempty"`
	// State is the version's registry state, or Unregistered when models/ has no metadata for it.
	State      string          `json:"state,omitempty"`
	LastChange *release.Change `json:"lastChange,omitempty"`
	// Blocked lists the model's blocked versions.
	Blocked []string `json:"blocked"`
	// Gates are marina.yaml's quality gates checked against Version, regressions measured from the version of the
	// last environment, when the Filter asks for them and the version is registered.
	Gates []gate.Result `json:"gates,omitempty"`
	// Cluster is what the cluster runs, once Cluster.Read has read it.
	Cluster *Running `json:"cluster,omitempty"`

	backend string
}

// Read reads marina.yaml, every model.yaml, models/ and the history of each model.yaml into rows, sorted by
// model then by the order of marina.yaml's environments. A model that is registered but deployed nowhere has one
// row without an environment (unless the filter names an environment or a namespace).
func Read(r *repo.Repo, f Filter) ([]Row, error) {
	models, err := read(r, f)
	if err != nil {
		return nil, err
	}
	rows := []Row{}
	for _, m := range models {
		rows = append(rows, m.Rows...)
	}
	return rows, nil
}

// Model is one model's rows with what they were read from.
type Model struct {
	Rows []Row
	// Versions are its registered versions, oldest first; none when models/ has none.
	Versions []model.Version
	// History is the history of its model.yaml, newest first.
	History []release.Change
}

// ReadModel is Read of one model (Filter{Model: name}), handing back its registered versions and its history.
func ReadModel(r *repo.Repo, name string) (Model, error) {
	models, err := read(r, Filter{Model: name})
	if err != nil {
		return Model{}, err
	}
	return models[0], nil
}

// read is Read by model, in the order of their names, each with its versions and history.
func read(r *repo.Repo, f Filter) ([]Model, error) {
	proj, err := project.Load(r)
	if err != nil {
		return nil, err
	}
	envs := map[string]bool{}
	for _, e := range proj.Spec.Environments {
		if (f.Environment == "" || e.Name == f.Environment) && (f.Namespace == "" || e.Namespace == f.Namespace) {
			envs[e.Name] = true
		}
	}
	if f.Environment != "" {
		if _, ok := proj.Environment(f.Environment); !ok {
			return nil, fmt.Errorf("%q %w: use one of %s", f.Environment, ErrUnknownEnvironment, strings.Join(proj.EnvironmentNames(), ", "))
		}
	}
	if len(envs) == 0 {
		return nil, fmt.Errorf("%s: %w", f.Namespace, ErrNoEnvironment)
	}
	apps, err := render.Applications(r)
	if err != nil {
		return nil, err
	}
	reg := &registry.Registry{Repo: r}
	registered, problems, err := reg.Models()
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, problems[0]
	}
	names := slices.Clone(apps)
	for _, n := range registered {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if f.Model != "" {
		if !slices.Contains(names, f.Model) {
			return nil, &UnknownModelError{Name: f.Model}
		}
		names = []string{f.Model}
	}
	// The history is one walk of the log, beside the models' files read in parallel as render reads them.
	var histories map[string][]release.Change
	var historyErr error
	models := make([]Model, len(names))
	errs := make([]error, len(names))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	g.Go(func() error {
		histories, historyErr = release.Histories(r, names)
		if historyErr != nil {
			historyErr = fmt.Errorf("%s: reading their history: %w", project.ApplicationPath("*"), historyErr)
		}
		return historyErr
	})
	for i, name := range names {
		g.Go(func() error {
			models[i].Rows, models[i].Versions, errs[i] = readModel(r, reg, proj, name, slices.Contains(apps, name), envs, f)
			return errs[i]
		})
	}
	if g.Wait() != nil {
		return nil, cmp.Or(append(errs, historyErr)...) // the first in names' order, not in time: one input, one message
	}
	for i := range models {
		m := &models[i]
		m.History = histories[names[i]]
		for j := range m.Rows {
			for k := range m.History {
				if m.History[k].Environment == m.Rows[j].Environment {
					m.Rows[j].LastChange = &m.History[k]
					break
				}
			}
		}
	}
	return models, nil
}

// readModel is one row per environment the model deploys to, without its last change, or one row without an
// environment for a model that is registered but deployed nowhere; and the model's registered versions.
func readModel(r *repo.Repo, reg *registry.Registry, proj *project.Project, name string, deployed bool, envs map[string]bool, f Filter) ([]Row, []model.Version, error) {
	versions, err := reg.List(name)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return nil, nil, err
	}
	blocked := []string{}
	states := map[string]string{}
	for _, v := range versions {
		states[v.Version] = v.State
		if v.State == model.StateBlocked {
			blocked = append(blocked, v.Version)
		}
	}
	if !deployed {
		if f.Environment != "" || f.Namespace != "" {
			return nil, versions, nil
		}
		return []Row{{Model: name, Blocked: blocked}}, versions, nil
	}
	app, _, err := project.LoadApplication(r, name)
	if err != nil {
		return nil, nil, err
	}
	var rows []Row
	for _, env := range proj.Spec.Environments {
		if !envs[env.Name] {
			continue
		}
		settings, ok := app.Spec.Resolve(env.Name)
		if !ok {
			continue
		}
		row := Row{Model: name, Environment: env.Name, Namespace: env.Namespace, Version: settings.Version, State: states[settings.Version], Blocked: blocked, backend: app.Spec.BackendName()}
		if row.State == "" {
			row.State = Unregistered
		}
		if f.Gates {
			row.Gates = gates(proj, app, versions, row)
		}
		rows = append(rows, row)
	}
	return rows, versions, nil
}

// gates checks row's version against marina.yaml's gates, a regression measured from the version of the last
// environment (nothing to measure in the last environment itself); none for an unregistered version.
func gates(proj *project.Project, app *project.ModelApplication, versions []model.Version, row Row) []gate.Result {
	find := func(version string) *model.Version {
		for i := range versions {
			if versions[i].Version == version {
				return &versions[i]
			}
		}
		return nil
	}
	v := find(row.Version)
	if v == nil || len(proj.Spec.Environments) == 0 {
		return nil
	}
	last := proj.Spec.Environments[len(proj.Spec.Environments)-1].Name
	ref := gate.Reference{Env: last}
	if row.Environment == last {
		ref.Note = row.Environment + " is the last environment, which regressions are measured from"
	} else if settings, ok := app.Spec.Resolve(last); ok {
		ref.Version = find(settings.Version)
	}
	return gate.Check(proj.Spec.Gates, v, ref)
}
