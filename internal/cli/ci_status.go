package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/marina-dev/marina/internal/ci"
	"github.com/marina-dev/marina/internal/forge"
	"github.com/marina-dev/marina/internal/repo"
)

// ciStatusContext is the context of the commit status marina ci --post-status posts.
const ciStatusContext = "marina/ci"

// validateStatus checks the --post-status flags: --forge and --remote go with it, the forge must be built and
// the token set.
func (o *ciOptions) validateStatus() error {
	if !o.postStatus {
		if o.forge != "" || o.remote != "origin" {
			return usagef("--forge and --remote go with --post-status")
		}
		return nil
	}
	if err := checkForgeName(o.forge, "--post-status"); err != nil {
		return err
	}
	return needForgeToken("--post-status", "")
}

// statusPoster posts marina ci's outcome as a commit status on one commit; a nil one posts nothing.
type statusPoster struct {
	f      forge.Forge
	commit plumbing.Hash
	errOut io.Writer
}

// statusPoster connects to the forge with --post-status, before ci runs: a remote that names no forge, or one
// that cannot be reached, is a usage error of its own. Without --post-status it is nil.
func (o *ciOptions) statusPoster(ctx context.Context, r *repo.Repo) (*statusPoster, error) {
	if !o.postStatus {
		return nil, nil
	}
	_, head, err := r.Head()
	if err != nil {
		return nil, err
	}
	f, err := connectForge(ctx, r, o.remote, o.forge)
	if err != nil {
		return nil, err
	}
	return &statusPoster{f: f, commit: head, errOut: o.errOut}, nil
}

// ciStatus is the commit status of a run: success or failure, the headline as its description, and a link to
// marina ui's page of the model the headline is about (the matrix when there is none) when uiURL is set.
func ciStatus(res *ci.Result, uiURL string) forge.Status {
	s := forge.Status{Context: ciStatusContext, State: "success", Description: res.Headline()}
	if !res.Passed {
		s.State = "failure"
	}
	if uiURL != "" {
		s.TargetURL = uiURL + "/"
		if m := res.Subject(); m != "" {
			s.TargetURL = ci.ModelPage(uiURL, m)
		}
	}
	return s
}

// outcome posts the run's outcome; a status that cannot be posted is an error.
func (p *statusPoster) outcome(ctx context.Context, res *ci.Result, uiURL string) error {
	if p == nil {
		return nil
	}
	return p.post(ctx, ciStatus(res, uiURL))
}

// couldNotRun posts the state error, the reason as its description, and returns runErr; a status that cannot be
// posted is a warning on stderr then, runErr being what matters.
func (p *statusPoster) couldNotRun(ctx context.Context, runErr error) error {
	if p == nil {
		return runErr
	}
	s := forge.Status{Context: ciStatusContext, State: "error",
		Description: ci.Truncate("marina ci could not run: "+repo.Redact(runErr.Error()), ci.StatusDescriptionMax)}
	if err := p.post(ctx, s); err != nil {
		fmt.Fprintf(p.errOut, "warning: %v\n", err)
	}
	return runErr
}

// post posts s on the commit and says so on stderr.
func (p *statusPoster) post(ctx context.Context, s forge.Status) error {
	if err := p.f.SetStatus(ctx, p.commit.String(), s); err != nil {
		return fmt.Errorf("posting the commit status %s: %w", s.Context, err)
	}
	fmt.Fprintf(p.errOut, "posted the commit status %s on %s: %s (%s)\n", s.Context, p.commit.String()[:12], s.State, s.Description)
	return nil
}
