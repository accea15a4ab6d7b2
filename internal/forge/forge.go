// Package forge is what a promotion by pull request needs of the forge hosting the model repository: find the
// open pull request from a head branch into a base branch or open one (its body kept up to date when it is found
// again), post a commit status, read a pull request's state, read a commit's combined status and a pull request's
// reviews, and merge it. Each forge is reached through its own Go client: Gitea's SDK, go-github and GitLab's
// client-go.
//
// The token a Forge is given never appears in its errors: every error goes through repo.Redact, with the token
// registered there.
package forge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/marina-dev/marina/internal/repo"
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
	// Reviewers are the usernames asked to review a pull request Ensure opens.
	Reviewers []string
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

// check refuses, before any call to the forge, a status with a state not in StatusStates or without a context,
// or no commit sha to post it on.
func (s Status) check(sha string) error {
	if !slices.Contains(StatusStates, s.State) {
		return fmt.Errorf("forge: status state %q: want one of pending, success, failure, error", s.State)
	}
	if s.Context == "" || sha == "" {
		return errors.New("forge: a commit status needs a commit and a context")
	}
	return nil
}

// errNoCommit refuses reading a combined status without naming a commit.
var errNoCommit = errors.New("forge: reading a combined status needs a commit")

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
	// CombinedStatus reads the statuses of commit sha.
	CombinedStatus(ctx context.Context, sha string) (*CombinedStatus, error)
	// Reviews lists the reviews of pull request number, oldest first.
	Reviews(ctx context.Context, number int64) ([]Review, error)
	// Close closes pull request number with a comment saying why.
	Close(ctx context.Context, number int64, why string) error
	// Merge merges pull request number with a merge commit, provided its head is still headSHA. The decision to
	// merge (checks green, approvals counted) is marina's own, so that it is the same on every forge.
	Merge(ctx context.Context, number int64, headSHA string) error
}

// pulls is what ensure needs of a forge: the pull requests from a head into a base.
type pulls interface {
	Find(ctx context.Context, head, base string) (*PullRequest, error)
	// findMerged returns the pull request from head into base merged at commit sha, nil when there is none.
	findMerged(ctx context.Context, head, base, sha string) (*PullRequest, error)
	// edit sets the title and body of pull request number.
	edit(ctx context.Context, number int64, title, body string) (*PullRequest, error)
	// open opens the pull request req asks for, with its labels, and asks its reviewers for a review.
	open(ctx context.Context, req Request) (*PullRequest, error)
}

// ensure is Forge.Ensure on any forge: the open pull request from req.Head into req.Base, its title and body
// made req's; or, with req.HeadSHA, the one merged from req.Head at that commit (a second run after the merge),
// rather than an empty new one; or a new one.
func ensure(ctx context.Context, f pulls, req Request) (*PullRequest, bool, error) {
	if req.Head == "" || req.Base == "" || req.Title == "" {
		return nil, false, errors.New("forge: a pull request needs a head branch, a base branch and a title")
	}
	existing, err := f.Find(ctx, req.Head, req.Base)
	if err != nil {
		return nil, false, err
	}
	if existing != nil {
		if existing.Body == req.Body && existing.Title == req.Title {
			return existing, false, nil
		}
		pr, err := f.edit(ctx, existing.Number, req.Title, req.Body)
		return pr, false, err
	}
	if req.HeadSHA != "" {
		merged, err := f.findMerged(ctx, req.Head, req.Base, req.HeadSHA)
		if err != nil || merged != nil {
			return merged, false, err
		}
	}
	pr, err := f.open(ctx, req)
	if err != nil {
		return nil, false, err
	}
	return pr, true, nil
}

// pages calls list for each page of a paginated list, from page 1, and each for every item, until each returns
// false or there is no next page: list returns a page's items and the number of the next page, 0 after the last.
func pages[T any](list func(page int) (items []T, next int, err error), each func(T) bool) error {
	for page := 1; ; {
		items, next, err := list(page)
		if err != nil {
			return err
		}
		for _, it := range items {
			if !each(it) {
				return nil
			}
		}
		if next == 0 || len(items) == 0 {
			return nil
		}
		page = next
	}
}

// labelColor is the color of a label Ensure creates, six hex digits.
const labelColor = "0e8a16"

// ensureLabels returns the IDs of a repository's labels names, each once, creating the ones it lacks: list fills
// byName with the repository's labels, create makes one and returns its ID.
func ensureLabels[ID comparable](names []string, list func(byName map[string]ID) error, create func(name string) (ID, error)) ([]ID, error) {
	if len(names) == 0 {
		return nil, nil
	}
	byName := map[string]ID{}
	if err := list(byName); err != nil {
		return nil, err
	}
	var ids []ID
	for _, name := range names {
		id, ok := byName[name]
		if !ok {
			var err error
			if id, err = create(name); err != nil {
				return nil, err
			}
			byName[name] = id
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Options tune a forge's client.
type Options struct {
	// HTTPClient makes the API calls; nil is a client with a 30 s timeout.
	HTTPClient *http.Client
	// Username is the account the token belongs to, for Redact's basic-auth forms; "" is marina.
	Username string
	// APIURL is the root of the forge's API when it is not the one the repository's URL implies (tests).
	APIURL string
}

// httpClient is o.HTTPClient, or a client with a 30 s timeout.
func (o Options) httpClient() *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// remember registers token (of o.Username, or marina) with repo.Redact, so that no message carries it.
func (o Options) remember(token string) {
	user := o.Username
	if user == "" {
		user = "marina"
	}
	repo.RememberCredential(user, token)
}

// constructors are the forges marina talks to, by the name --forge and spec.gitWriteBack.pullRequest.forge use.
var constructors = map[string]func(ctx context.Context, repoURL, token string, opts Options) (Forge, error){
	"gitea": func(ctx context.Context, repoURL, token string, opts Options) (Forge, error) {
		return newGitea(ctx, repoURL, token, opts)
	},
	"github": func(ctx context.Context, repoURL, token string, opts Options) (Forge, error) {
		return newGitHub(ctx, repoURL, token, opts)
	},
	"gitlab": func(ctx context.Context, repoURL, token string, opts Options) (Forge, error) {
		return newGitLab(ctx, repoURL, token, opts)
	},
}

// Names are the forges marina talks to, sorted.
var Names = slices.Sorted(maps.Keys(constructors))

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

// New connects to the repository at repoURL on the forge called name (one of Names) with token, which is
// registered with repo.Redact and never appears in an error.
func New(ctx context.Context, name, repoURL, token string, opts Options) (Forge, error) {
	newForge, ok := constructors[name]
	if !ok {
		return nil, fmt.Errorf("unknown forge %q: use one of %s", name, strings.Join(Names, ", "))
	}
	if token == "" {
		return nil, fmt.Errorf("%s: no token: the forge's API needs one (MARINA_GIT_TOKEN)", name)
	}
	opts.remember(token)
	return newForge(ctx, repoURL, token, opts)
}

// Opener is the writeback.PullRequestOpener of the forge called name (spec.gitWriteBack.pullRequest.forge), with
// the token of the write-back's credentials: their bearer token, or their password.
func Opener(name string, c writeback.Credentials) (writeback.PullRequestOpener, error) {
	token := c.BearerToken
	if token == "" {
		token = c.Password
	}
	if _, ok := constructors[name]; !ok {
		return nil, fmt.Errorf("unknown forge %q: use one of %s", name, strings.Join(Names, ", "))
	}
	if token == "" {
		return nil, fmt.Errorf("%s: the forge's API needs a token: set password (or bearerToken) in the Secret spec.gitWriteBack.secretRef names", name)
	}
	return PullRequestOpener{Forge: name, Token: token, Options: Options{Username: c.Username}}, nil
}

// PullRequestOpener opens the controller's write-back pull requests on a forge: a writeback.PullRequestOpener.
type PullRequestOpener struct {
	// Forge names the forge (one of Names); Token authenticates to its API.
	Forge, Token string
	// Options tune the client.
	Options Options
}

var _ writeback.PullRequestOpener = PullRequestOpener{}

// OpenPullRequest opens the pull request from pr.Head into pr.Base on the forge serving pr.RepoURL, or finds the
// open one (its body updated) or the one merged at pr.Commit, and returns its web URL.
func (o PullRequestOpener) OpenPullRequest(ctx context.Context, pr writeback.PullRequest) (string, error) {
	f, err := New(ctx, o.Forge, pr.RepoURL, o.Token, o.Options)
	if err != nil {
		return "", err
	}
	got, _, err := f.Ensure(ctx, Request{Head: pr.Head, Base: pr.Base, Title: pr.Title, Body: pr.Body, Labels: pr.Labels, HeadSHA: pr.Commit})
	if err != nil {
		return "", err
	}
	return got.URL, nil
}
