package ui

import (
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/marina-dev/marina/internal/gate"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/release"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/status"
)

// layout is what every page shows around its content.
type layout struct {
	Title string
	// Project is marina.yaml's metadata.name; Branch and Commit are Git's HEAD when the page was read.
	Project, Branch, Commit string
	Now                     time.Time
	// Refresh, when not 0, reloads the page every Refresh seconds (a meta refresh: the pages run no script), and
	// says it read the cluster rather than Git.
	Refresh int
}

// matrixView is the matrix page: one row per model, one column per environment of marina.yaml.
type matrixView struct {
	layout
	Environments []string
	Models       []matrixRow
	// Cluster says the cells show what the cluster runs; ClusterError why they do not, when reading it failed.
	Cluster      bool
	ClusterError string
}

// matrixRow is one model: a cell per environment, in the order of matrixView.Environments.
type matrixRow struct {
	Name    string
	Cells   []cell
	Blocked []string
}

// cell is a model in an environment; Row is nil where the model does not deploy.
type cell struct {
	Environment string
	Row         *status.Row
}

// modelView is a model's page.
type modelView struct {
	layout
	Name string
	// Rows are the model's environments now, as the matrix shows them; one row without an environment for a model
	// no environment deploys.
	Rows         []status.Row
	Versions     []versionView
	History      []timeline
	Cluster      bool
	ClusterError string
}

// versionView is a registered version with the environments whose model.yaml names it, and what changed since the
// version registered before it (Since; empty for the first).
type versionView struct {
	model.Version
	DeployedIn []string
	Since      string
	Changes    []string
}

// timeline is the history of one environment's version, newest first.
type timeline struct {
	Environment string
	Current     string
	Changes     []release.Change
}

// pageLayout reads what the layout shows of the repository.
func pageLayout(r *repo.Repo, proj *project.Project, title string, now time.Time) layout {
	l := layout{Title: title, Project: proj.Metadata.Name, Now: now}
	if ref, hash, err := r.Head(); err == nil {
		l.Branch, l.Commit = ref.Short(), hash.String()
	}
	return l
}

func (d *dashboard) matrix(w http.ResponseWriter, req *http.Request) {
	var v matrixView
	err := d.read(func(r *repo.Repo) error {
		proj, err := project.Load(r)
		if err != nil {
			return err
		}
		rows, err := status.Read(r, status.Filter{Gates: true})
		if err != nil {
			return err
		}
		v = matrixView{layout: pageLayout(r, proj, "Models × environments", d.opts.Now()), Environments: proj.EnvironmentNames()}
		v.Cluster, v.ClusterError = d.readCluster(req, rows)
		v.Models = matrixRows(rows, v.Environments)
		return nil
	})
	if err != nil {
		d.fail(w, req, http.StatusInternalServerError, "The repository could not be read", err.Error())
		return
	}
	d.render(w, req, http.StatusOK, matrixTemplate(), v)
}

// readCluster adds what the cluster runs to rows, when the dashboard has a cluster; a cluster that cannot be read
// leaves the Git view whole and says why.
func (d *dashboard) readCluster(req *http.Request, rows []status.Row) (bool, string) {
	if d.opts.Cluster == nil {
		return false, ""
	}
	if err := d.opts.Cluster.Read(req.Context(), rows); err != nil {
		d.opts.Log.Warn("reading the cluster", "error", err)
		for i := range rows { // what was read before the error, so the page shows Git alone as it says
			rows[i].Cluster = nil
		}
		return true, err.Error()
	}
	return true, ""
}

// matrixRows groups status rows, sorted by model, into one row per model with a cell per environment.
func matrixRows(rows []status.Row, envs []string) []matrixRow {
	var out []matrixRow
	for i := range rows {
		row := &rows[i]
		if len(out) == 0 || out[len(out)-1].Name != row.Model {
			cells := make([]cell, len(envs))
			for j, e := range envs {
				cells[j].Environment = e
			}
			out = append(out, matrixRow{Name: row.Model, Cells: cells, Blocked: row.Blocked})
		}
		if j := slices.Index(envs, row.Environment); j >= 0 {
			out[len(out)-1].Cells[j].Row = row
		}
	}
	return out
}

func (d *dashboard) model(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("name")
	var v modelView
	err := d.read(func(r *repo.Repo) error {
		proj, err := project.Load(r)
		if err != nil {
			return err
		}
		m, err := status.ReadModel(r, name)
		if err != nil {
			return err
		}
		v = modelView{layout: pageLayout(r, proj, name, d.opts.Now()), Name: name, Rows: m.Rows}
		v.Cluster, v.ClusterError = d.readCluster(req, m.Rows)
		v.Versions = versionViews(m.Versions, m.Rows)
		v.History = timelines(m.History, m.Rows, proj.EnvironmentNames())
		return nil
	})
	var unknown *status.UnknownModelError
	switch {
	case errors.As(err, &unknown):
		d.fail(w, req, http.StatusNotFound, "No such model", err.Error())
	case err != nil:
		d.fail(w, req, http.StatusInternalServerError, "The repository could not be read", err.Error())
	default:
		d.render(w, req, http.StatusOK, modelTemplate(), v)
	}
}

// versionViews lists the registered versions newest first, each with the environments deploying it.
func versionViews(versions []model.Version, rows []status.Row) []versionView {
	out := make([]versionView, 0, len(versions))
	for i, v := range slices.Backward(versions) {
		vv := versionView{Version: v}
		if i > 0 {
			vv.Since, vv.Changes = versions[i-1].Version, model.Changes(versions[i-1], v)
		}
		for _, row := range rows {
			if row.Environment != "" && row.Version == v.Version {
				vv.DeployedIn = append(vv.DeployedIn, row.Environment)
			}
		}
		out = append(out, vv)
	}
	return out
}

// timelines splits the model's history by environment: marina.yaml's environments first, in its order, then the
// environments the history names that marina.yaml no longer has.
func timelines(changes []release.Change, rows []status.Row, envs []string) []timeline {
	byEnv := map[string][]release.Change{}
	for _, c := range changes {
		byEnv[c.Environment] = append(byEnv[c.Environment], c)
	}
	var out []timeline
	add := func(env string) {
		t := timeline{Environment: env, Changes: byEnv[env]}
		for _, row := range rows {
			if row.Environment == env {
				t.Current = row.Version
			}
		}
		if t.Current != "" || len(t.Changes) > 0 {
			out = append(out, t)
		}
		delete(byEnv, env)
	}
	for _, e := range envs {
		add(e)
	}
	for _, e := range slices.Sorted(maps.Keys(byEnv)) {
		add(e)
	}
	return out
}

// funcs format values for the templates; html/template escapes what they return.
var funcs = template.FuncMap{
	"short":      func(commit string) string { return commit[:min(12, len(commit))] },
	"changeAt":   func(now time.Time, c release.Change) changeAt { return changeAt{Change: c, Now: now} },
	"authorName": authorName,
	"ago":        ago,
	"abs":        func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"size":       model.FormatSize,
	"shape":      model.FormatShape,
	"metrics":    metrics,
	"labels":     func(m map[string]string) []string { return pairs(m, func(v string) string { return v }) },
	"stateClass": stateClass,
	"drift":      drift,
	"gates":      gateSummary,
	"eventTime":  status.EventTime,
	"percent":    func(n int32) int32 { return min(max(n, 0), 100) },
}

// changeAt is what the "change" template shows: a change from Git, and the time the page was read for how long ago
// it was.
type changeAt struct {
	release.Change
	Now time.Time
}

// authorName is the name of a "Name <email>" author.
func authorName(author string) string {
	if i := strings.Index(author, " <"); i > 0 {
		return author[:i]
	}
	return author
}

// ago says how long before now t was, in its largest whole unit.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		return "in the future"
	}
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"year", 365 * 24 * time.Hour}, {"month", 30 * 24 * time.Hour}, {"day", 24 * time.Hour}, {"hour", time.Hour}, {"minute", time.Minute}} {
		if n := int(d / u.d); n >= 1 {
			if n == 1 {
				return "1 " + u.name + " ago"
			}
			return strconv.Itoa(n) + " " + u.name + "s ago"
		}
	}
	return "just now"
}

// metrics lists a version's metrics as "name value", sorted by name.
func metrics(m map[string]float64) []string {
	return pairs(m, func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) })
}

// pairs lists a map as "key value" strings sorted by key.
func pairs[V any](m map[string]V, format func(V) string) []string {
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+" "+format(m[k]))
	}
	return out
}

// stateClass is the CSS class of a registry state; a state marina does not know gets none of the known colours.
func stateClass(state string) string {
	switch state {
	case model.StateRegistered, model.StateActive, model.StateBlocked, model.StateArchived, status.Unregistered:
		return "state-" + state
	}
	return "state-other"
}

// gates is a cell's summary of its gate results: how many passed (a skipped gate passes), coloured by whether any
// failed, with each failure's reason on hover (up to its hint: the model page and marina validate give the rest).
type gates struct {
	Class, Text, Title string
}

func gateSummary(results []gate.Result) gates {
	var failed []string
	for _, r := range results {
		if !r.Passed {
			reason, _, _ := strings.Cut(r.Message, ";")
			failed = append(failed, r.Gate+": "+reason)
		}
	}
	if len(failed) == 0 {
		return gates{Class: "gate-passed", Text: fmt.Sprintf("gates %d/%d passed", len(results), len(results)), Title: "every gate of marina.yaml passes"}
	}
	return gates{Class: "gate-failed", Text: fmt.Sprintf("gates %d/%d passed", len(results)-len(failed), len(results)), Title: strings.Join(failed, "\n")}
}

// drift reports whether what the cluster runs differs from Git: anything but in-sync. Without a cluster there is
// none to show.
func drift(r *status.Running) bool {
	return r != nil && r.Sync != status.InSync
}
