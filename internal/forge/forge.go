// Package forge is what a promotion by pull request needs of the forge hosting the model repository: find the
// open pull request from a head branch into a base branch or open one (its body kept up to date when it is found
// again), post a commit status, and read a pull request's state; and, as a Merger, read a commit's combined
// status and a pull request's reviews and merge it. Gitea is the one forge built, through its official Go SDK;
// GitHub and GitLab are not built yet.
//
// The token a Forge is given never appears in its errors: every error goes through repo.Redact, with the token
// registered there.
package forge

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/marina-dev/marina/internal/writeback"
)

// State is a pull request's state.
type State string

// The states of a pull request.
const (
	Open   State = "open"
	Merged State = "merged"
	Closed State = "closed"
)

// PullRequest is a pull request as the forge reports it.
type PullRequest struct {
	Number int64  `json:"number"`
	URL    string `json:"url"`
	State  State  `json:"state"`
	// Head and Base are the branch the request merges and the one it merges into; HeadSHA is Head's commit.
	Head    string `json:"head"`
	Base    string `json:"base"`
	HeadSHA string `json:"headSHA,omitempty"`
	Title   string `json:"title"`
	Body    string `json:"-"`
}

// Request asks for a pull request from Head into Base.
type Request struct {
	Head, Base  string
	Title, Body string
	// Labels are label names put on a pull request Ensure opens; a missing label is created.
	Labels []string
	// HeadSHA, when set, is Head's commit: a pull request from Head into Base merged at that commit is returned
	// (State Merged) rather than an empty one opened.
	HeadSHA string
}

// Status is a commit status (a check) on a commit.
type Status struct {
	// Context names the check, e.g. marina/ci.
	Context string
	// State is pending, success, failure or error.
	State       string
	Description string
	// TargetURL links the status to its details; optional.
	TargetURL string
}

// StatusStates are the states a Status may have.
var StatusStates = []string{"pending", "success", "failure", "error"}

// Forge is one repository on a forge.
type Forge interface {
	// Ensure returns the open pull request from req.Head into req.Base with its body made req.Body, or with
	// req.HeadSHA the one merged at that commit, or opens one; opened says which.
	Ensure(ctx context.Context, req Request) (pr *PullRequest, opened bool, err error)
	// Find returns the open pull request from head into base, nil when there is none.
	Find(ctx context.Context, head, base string) (*PullRequest, error)
	// Get reads pull request number.
	Get(ctx context.Context, number int64) (*PullRequest, error)
	// SetStatus posts a commit status on commit sha.
	SetStatus(ctx context.Context, sha string, s Status) error
}

// Names are the forges --forge accepts; Planned are those not built yet.
var (
	Names   = []string{"gitea"}
	Planned = []string{"github", "gitlab"}
)

// ErrNotBuilt means the forge is one marina does not talk to yet.
var ErrNotBuilt = errors.New("forge not built yet")

// Repository is where a repository lives on a forge: its API's base URL (the forge's root URL, without /api/v1)
// and its owner and name.
type Repository struct {
	// BaseURL is scheme://host[:port][/path], without a trailing slash: the forge's root URL.
	BaseURL string
	// Owner and Name are the repository's owner (user or organization) and name.
	Owner, Name string
}

// FullName is OWNER/NAME.
func (r Repository) FullName() string { return r.Owner + "/" + r.Name }

// ParseRepoURL maps a repository's HTTP(S) clone URL, scheme://HOST[:PORT][/PATH]/OWNER/REPO[.git], to its
// Repository: the root URL of a forge served below a path keeps that path. Userinfo in the URL is dropped and
// never quoted in the error; SSH and file URLs are refused, as the forge's API is reached over HTTP(S).
func ParseRepoURL(raw string) (Repository, error) {
	u, err := url.Parse(raw)
	if err == nil && u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" {
		return Repository{}, fmt.Errorf("repository URL %q: scheme %s: want http(s)://HOST/OWNER/REPO(.git), the clone URL over HTTP(S)", redactURL(raw), u.Scheme)
	}
	if err != nil || u.Scheme == "" || u.Host == "" {
		return Repository{}, fmt.Errorf("repository URL %q: want http(s)://HOST/OWNER/REPO(.git), the clone URL over HTTP(S) (an SSH remote cannot name the forge's API)", redactURL(raw))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Repository{}, fmt.Errorf("repository URL %q: a clone URL has no query or fragment", redactURL(raw))
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 {
		return Repository{}, fmt.Errorf("repository URL %q: want http(s)://HOST/OWNER/REPO(.git): the path names no OWNER/REPO", redactURL(raw))
	}
	owner, name := parts[len(parts)-2], strings.TrimSuffix(parts[len(parts)-1], ".git")
	if owner == "" || name == "" || owner == "." || owner == ".." || name == "." || name == ".." {
		return Repository{}, fmt.Errorf("repository URL %q: want http(s)://HOST/OWNER/REPO(.git): empty owner or repository", redactURL(raw))
	}
	base := url.URL{Scheme: u.Scheme, Host: u.Host}
	if prefix := parts[:len(parts)-2]; len(prefix) > 0 {
		base.Path = "/" + strings.Join(prefix, "/")
	}
	return Repository{BaseURL: base.String(), Owner: owner, Name: name}, nil
}

// redactURL drops the userinfo of a URL, for a message; a string that does not parse is left out.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			return "…" + raw[i:]
		}
		return raw
	}
	u.User = nil
	return u.String()
}

// New connects to the repository at repoURL on the forge called name (one of Names) with token.
func New(ctx context.Context, name, repoURL, token string) (Forge, error) {
	switch name {
	case "gitea":
		return NewGitea(ctx, repoURL, token, GiteaOptions{})
	case "github", "gitlab":
		return nil, fmt.Errorf("%w: %s (GitHub and GitLab are not built yet; gitea is)", ErrNotBuilt, name)
	default:
		return nil, fmt.Errorf("unknown forge %q: use gitea (GitHub and GitLab are not built yet)", name)
	}
}

// Opener is the writeback.PullRequestOpener of the forge called name (spec.gitWriteBack.pullRequest.forge), with
// the token of the write-back's credentials: their bearer token, or their password.
func Opener(name string, c writeback.Credentials) (writeback.PullRequestOpener, error) {
	token := c.BearerToken
	if token == "" {
		token = c.Password
	}
	switch name {
	case "gitea":
		if token == "" {
			return nil, errors.New("gitea: the forge's API needs a token: set password (or bearerToken) in the Secret spec.gitWriteBack.secretRef names")
		}
		return GiteaOpener{Token: token, Options: GiteaOptions{Username: c.Username}}, nil
	case "github", "gitlab":
		return nil, fmt.Errorf("%w: %s (GitHub and GitLab are not built yet; gitea is)", ErrNotBuilt, name)
	default:
		return nil, fmt.Errorf("unknown forge %q: use gitea (GitHub and GitLab are not built yet)", name)
	}
}
