package repo

import (
	"errors"
	"fmt"
	"os"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/http"
)

// Push sends branch to remote. HTTP(S) remotes authenticate with MARINA_GIT_TOKEN
// (and MARINA_GIT_USERNAME, default "marina"); the token never appears in errors.
func (r *Repo) Push(remote, branch string) error {
	rem, err := r.git.Remote(remote)
	if err != nil {
		return fmt.Errorf("remote %q: %w (add it with git remote add)", remote, err)
	}
	opts := &git.PushOptions{
		RemoteName: remote,
		RefSpecs:   []config.RefSpec{config.RefSpec("refs/heads/" + branch + ":refs/heads/" + branch)},
	}
	if urls := rem.Config().URLs; len(urls) > 0 {
		if ep, err := transport.NewEndpoint(urls[0]); err == nil && (ep.Protocol == "http" || ep.Protocol == "https") {
			rememberCredential(ep.User, ep.Password)
			if tok := os.Getenv("MARINA_GIT_TOKEN"); tok != "" {
				opts.Auth = &http.BasicAuth{Username: gitUsername(), Password: tok}
				rememberCredential(gitUsername(), tok)
			}
		}
	}
	err = r.git.Push(opts)
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pushing %s to %s: %s", branch, remote, Redact(err.Error()))
	}
	return nil
}
