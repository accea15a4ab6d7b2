package repo

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

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
			if tok := os.Getenv("MARINA_GIT_TOKEN"); tok != "" {
				user := os.Getenv("MARINA_GIT_USERNAME")
				if user == "" {
					user = "marina"
				}
				opts.Auth = &http.BasicAuth{Username: user, Password: tok}
			}
		}
	}
	err = r.git.Push(opts)
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pushing %s to %s: %s", branch, remote, redact(err.Error()))
	}
	return nil
}

// redact removes credentials embedded in URLs from a message.
func redact(msg string) string {
	fields := strings.Fields(msg)
	for _, f := range fields {
		if u, err := url.Parse(strings.Trim(f, `"'(),`)); err == nil && u.User != nil {
			msg = strings.ReplaceAll(msg, u.User.String()+"@", "***@")
		}
	}
	if tok := os.Getenv("MARINA_GIT_TOKEN"); tok != "" {
		msg = strings.ReplaceAll(msg, tok, "***")
	}
	return msg
}
