package release

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/repo"
)

// Sentinel errors callers test with errors.Is.
var (
	// ErrRefused means the change breaks a rule (blocked version, skipped environment).
	ErrRefused = errors.New("refused")
	// ErrUnknownEnv means the environment is not in marina.yaml.
	ErrUnknownEnv = errors.New("unknown environment")
)

// Promotion asks to deploy Model@Version to Environment.
type Promotion struct {
	Model       string
	Version     string
	Environment string
	// Strategy is canary, bluegreen, shadow, or "" to keep the environment's strategy.
	Strategy string
	// Force overrides the environment order of marina.yaml and what Check finds (never the blocked check); the
	// commit records what it overrode in a Marina-Forced trailer.
	Force bool
	// Branch puts the commit on a new branch instead of the current one.
	Branch string
	// Check, when set, judges what the promotion would commit before it is committed (validate's policy, gate and
	// strategy rules); a problem refuses the promotion unless Force.
	Check func(Prospect) []Problem
}

// Prospect is what a promotion is about to commit, for Promotion.Check.
type Prospect struct {
	Project *project.Project
	// AppFile and AppData are applications/<model>/model.yaml as it would be committed.
	AppFile string
	AppData []byte
	Env     string
	// Lookup returns a registered version's metadata.
	Lookup func(name, version string) (*model.Version, error)
}

// Problem is one rule a prospect breaks.
type Problem struct {
	// Rule is the validate rule id, e.g. policy-digest.
	Rule string
	// Text says where, what and how to fix it, on one line.
	Text string
}

// Result is the commit an operation made.
type Result struct {
	Model       string `json:"model"`
	Environment string `json:"environment"`
	From        string `json:"from,omitempty"`
	To          string `json:"to"`
	Commit      string `json:"commit,omitempty"`
	Branch      string `json:"branch,omitempty"`
	// Unchanged is true when the environment already ran the version: nothing was committed.
	Unchanged bool `json:"unchanged,omitempty"`
	// StillRunning lists the other environments (in marina.yaml's order) that still deploy the version a rollback
	// blocked: each needs its own rollback.
	StillRunning []string `json:"stillRunning,omitempty"`
}

// Promote makes one commit that sets the environment's version. The caller holds the repository lock.
func Promote(r *repo.Repo, p Promotion) (*Result, error) {
	proj, err := project.Load(r)
	if err != nil {
		return nil, err
	}
	env, ok := proj.Environment(p.Environment)
	if !ok {
		return nil, fmt.Errorf("%w %q: marina.yaml lists %s", ErrUnknownEnv, p.Environment, strings.Join(proj.EnvironmentNames(), ", "))
	}
	reg := &registry.Registry{Repo: r}
	v, err := reg.Get(p.Model, p.Version)
	if err != nil {
		return nil, err
	}
	if v.State == model.StateBlocked {
		return nil, fmt.Errorf("%w: %s@%s is blocked (%s); register a fixed version instead", ErrRefused, p.Model, v.Version, v.StateReason)
	}
	var forced []string
	if err := checkRequires(r, proj, env, p.Model, v.Version); err != nil {
		if !p.Force {
			return nil, err
		}
		forced = append(forced, "requires")
	}
	var app *application
	if r.Exists(project.ApplicationPath(p.Model)) {
		if app, err = loadApplication(r, p.Model); err != nil {
			return nil, err
		}
	} else if app, err = newApplication(p.Model); err != nil {
		return nil, err
	}
	from := app.spec.Spec.Environments[env.Name].Version
	res := &Result{Model: p.Model, Environment: env.Name, From: from, To: v.Version, Branch: p.Branch}
	app.setVersion(env.Name, v.Version)
	if p.Strategy != "" {
		if err := app.setStrategy(env.Name, p.Strategy); err != nil {
			return nil, err
		}
	}
	appData, newApp, err := app.bytes()
	if err != nil {
		return nil, err
	}
	if p.Check != nil {
		problems := p.Check(Prospect{Project: proj, AppFile: app.file, AppData: appData, Env: env.Name, Lookup: reg.Get})
		if len(problems) > 0 && !p.Force {
			return nil, refusal(p, problems)
		}
		for _, pr := range problems {
			forced = append(forced, pr.Rule)
		}
	}
	changes, err := withRendered(r, proj, app.file, appData, newApp, env.Name)
	if err != nil {
		return nil, err
	}
	if len(changes) == 0 {
		res.Unchanged = true
		return res, nil
	}
	if v.State == model.StateRegistered {
		data, err := registry.SetState(v, model.StateActive, "")
		if err != nil {
			return nil, err
		}
		changes = append(changes, repo.Change{Path: model.File(v.Name, v.Version), Data: data})
	}
	msg := fmt.Sprintf("promote: %s %s → %s in %s\n\n%s", p.Model, orNone(from), v.Version, env.Name, trailers(p.Model, env.Name, from, v.Version))
	if len(forced) > 0 {
		slices.Sort(forced)
		msg += "Marina-Forced: " + strings.Join(slices.Compact(forced), ", ") + "\n"
	}
	commit, err := r.Commit(repo.Commit{Message: msg, Changes: changes, Branch: p.Branch})
	if err != nil {
		return nil, err
	}
	res.Commit = commit.String()
	return res, nil
}

// refusal is the error of a promotion that breaks the rules Check applies.
func refusal(p Promotion, problems []Problem) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s@%s in %s would break %d rule(s) that marina validate checks:", p.Model, p.Version, p.Environment, len(problems))
	for _, pr := range problems {
		b.WriteString("\n  " + pr.Text)
	}
	b.WriteString("\nfix them and promote again, or pass --force to override (the commit records it as Marina-Forced)")
	return fmt.Errorf("%w: %s", ErrRefused, b.String())
}

// withRendered returns the changes of an edit to model.yaml: the file itself and the
// environment's re-rendered manifests, so both land in one commit. Nothing when
// neither changes.
func withRendered(r *repo.Repo, proj *project.Project, appFile string, appData []byte, app *project.ModelApplication, env string) ([]repo.Change, error) {
	outs, err := render.Application(r, proj, app, []string{env})
	if err != nil {
		return nil, err
	}
	index, err := render.FluxIndex(r, proj, app, env)
	if err != nil {
		return nil, err
	}
	outs = append(outs, index...)
	changes, err := render.Changes(r, outs)
	if err != nil {
		return nil, err
	}
	if cur, err := r.ReadFile(appFile, int64(len(appData))); err != nil || !bytes.Equal(cur, appData) {
		changes = append([]repo.Change{{Path: appFile, Data: appData}}, changes...)
	}
	return changes, nil
}

// checkRequires refuses a version that has not run in the environments env requires.
func checkRequires(r *repo.Repo, proj *project.Project, env project.Environment, modelName, version string) error {
	for _, req := range env.Requires {
		changes, err := History(r, modelName, req)
		if err != nil {
			return err
		}
		seen := false
		for _, c := range changes {
			if c.To == version {
				seen = true
				break
			}
		}
		if !seen {
			return fmt.Errorf("%w: %s requires a version to run in %s first, and %s@%s never has; promote it to %s, or pass --force", ErrRefused, env.Name, req, modelName, version, req)
		}
	}
	return nil
}

// Rollback asks to move Environment back from its current version.
type Rollback struct {
	Model       string
	Environment string
	// To is the version to go back to; "" means the one deployed before the current one.
	To string
	// Reason is recorded on the blocked version.
	Reason string
	Branch string
	Now    func() time.Time
}

// RollBack makes one revert-style commit: the environment goes back to the previous
// (or given) version and the current version is marked blocked. The caller holds the lock.
func RollBack(r *repo.Repo, rb Rollback) (*Result, error) {
	proj, err := project.Load(r)
	if err != nil {
		return nil, err
	}
	if _, ok := proj.Environment(rb.Environment); !ok {
		return nil, fmt.Errorf("%w %q: marina.yaml lists %s", ErrUnknownEnv, rb.Environment, strings.Join(proj.EnvironmentNames(), ", "))
	}
	app, err := loadApplication(r, rb.Model)
	if err != nil {
		return nil, err
	}
	current := app.spec.Spec.Environments[rb.Environment].Version
	if current == "" {
		return nil, fmt.Errorf("%w: %s has no version in %s to roll back", ErrRefused, rb.Model, rb.Environment)
	}
	reg := &registry.Registry{Repo: r}
	target := rb.To
	if target == "" {
		if target, err = previousVersion(r, reg, rb.Model, rb.Environment, current); err != nil {
			return nil, err
		}
	}
	if target == current {
		return nil, fmt.Errorf("%w: %s already runs %s in %s", ErrRefused, rb.Model, current, rb.Environment)
	}
	tv, err := reg.Get(rb.Model, target)
	if err != nil {
		return nil, err
	}
	if tv.State == model.StateBlocked {
		return nil, fmt.Errorf("%w: %s@%s is blocked (%s); choose another version with --to", ErrRefused, rb.Model, target, tv.StateReason)
	}
	bad, err := reg.Get(rb.Model, current)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if rb.Now != nil {
		now = rb.Now
	}
	reason := fmt.Sprintf("rolled back in %s on %s", rb.Environment, now().UTC().Format(time.RFC3339))
	if rb.Reason != "" {
		reason += ": " + rb.Reason
	}
	app.setVersion(rb.Environment, target)
	appData, newApp, err := app.bytes()
	if err != nil {
		return nil, err
	}
	changes, err := withRendered(r, proj, app.file, appData, newApp, rb.Environment)
	if err != nil {
		return nil, err
	}
	badData, err := registry.SetState(bad, model.StateBlocked, reason)
	if err != nil {
		return nil, err
	}
	changes = append(changes, repo.Change{Path: model.File(bad.Name, bad.Version), Data: badData})
	msg := fmt.Sprintf("rollback: %s %s → %s in %s\n\n%s\n\n%s", rb.Model, current, target, rb.Environment,
		"Blocks "+rb.Model+"@"+current+": "+reason, trailers(rb.Model, rb.Environment, current, target))
	commit, err := r.Commit(repo.Commit{Message: msg, Branch: rb.Branch, Changes: changes})
	if err != nil {
		return nil, err
	}
	var still []string
	for _, e := range proj.EnvironmentNames() {
		if e != rb.Environment && app.spec.Spec.Environments[e].Version == current {
			still = append(still, e)
		}
	}
	return &Result{Model: rb.Model, Environment: rb.Environment, From: current, To: target, Commit: commit.String(), Branch: rb.Branch, StillRunning: still}, nil
}

// previousVersion walks the environment's history back to the newest version that
// is not the current one and not blocked.
func previousVersion(r *repo.Repo, reg *registry.Registry, modelName, env, current string) (string, error) {
	changes, err := History(r, modelName, env)
	if err != nil {
		return "", err
	}
	for _, c := range changes {
		for _, cand := range []string{c.To, c.From} {
			if cand == "" || cand == current {
				continue
			}
			v, err := reg.Get(modelName, cand)
			if err != nil || v.State == model.StateBlocked {
				continue
			}
			return cand, nil
		}
	}
	return "", fmt.Errorf("%w: %s has no earlier unblocked version in %s's history; name one with --to", ErrRefused, modelName, env)
}

func orNone(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

// trailers are machine-readable lines at the end of marina's commit messages.
func trailers(modelName, env, from, to string) string {
	return fmt.Sprintf("Marina-Model: %s\nMarina-Environment: %s\nMarina-From: %s\nMarina-To: %s\n", modelName, env, orNone(from), to)
}
