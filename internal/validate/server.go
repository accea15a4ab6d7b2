package validate

import (
	"context"
	"path"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/marina-dev/marina/internal/dryrun"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/repo"
)

// ServerOptions select what Server checks and how.
type ServerOptions struct {
	// Env limits the check to one environment's directories; "" checks all.
	Env string
	// Namespace is given to objects that name none; "default" when empty.
	Namespace   string
	Concurrency int
}

// Server applies everything the repository deploys to the API server of cfg with a server-side dry run and
// returns the server's verdicts as k8s-server findings (k8s-server-skipped for what could not be checked).
// The error is for an unreachable server or an unreadable repository.
func Server(ctx context.Context, r *repo.Repo, cfg *rest.Config, opts ServerOptions) ([]Finding, error) {
	var skip func(string) bool
	if opts.Env != "" {
		proj, err := project.Load(r)
		if err != nil {
			return nil, err
		}
		skip = func(dir string) bool { return otherEnv(proj, opts.Env, dir) }
	}
	objs, problems, err := dryrun.Collect(r, skip)
	if err != nil {
		return nil, err
	}
	rejected, err := dryrun.Check(ctx, cfg, objs, dryrun.Options{Namespace: opts.Namespace, Concurrency: opts.Concurrency})
	if err != nil {
		return nil, err
	}
	var out []Finding
	for _, p := range append(problems, rejected...) {
		rule, hint := "k8s-server", p.Hint
		if p.Skipped {
			rule = "k8s-server-skipped"
		} else if hint == "" {
			hint = "fix the field the server names; for rendered files fix model.yaml and run `marina render --write`"
		}
		msg := p.Message
		if p.Object != "" {
			msg = p.Object + ": " + msg
		}
		out = append(out, finding(rule, p.File, p.Field, 0, hint, "%s", msg))
	}
	return out, nil
}

// otherEnv reports whether dir is the per-environment directory of an environment other than env: an
// application's rendered output, an infrastructure overlay or a Flux index.
func otherEnv(proj *project.Project, env, dir string) bool {
	parent, base := path.Dir(dir), path.Base(dir)
	if _, isEnv := proj.Environment(base); !isEnv || base == env {
		return false
	}
	parts := strings.Split(parent, "/")
	return parent == "infrastructure/overlays" || parent == "gitops/flux/apps" ||
		(len(parts) == 2 && parts[0] == project.ApplicationsDir)
}

// Add appends findings to the report, keeping its order.
func (r *Report) Add(fs ...Finding) {
	r.Findings = sortFindings(append(r.Findings, fs...))
}
