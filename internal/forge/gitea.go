package forge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"code.gitea.io/sdk/gitea"

	"github.com/marina-dev/marina/internal/repo"
)

// Gitea is one repository on a Gitea server, reached through Gitea's Go SDK with a token.
type Gitea struct {
	repo Repository
	// mu serializes the calls: the SDK's client carries one context for all of its calls.
	mu     sync.Mutex
	client *gitea.Client
}

var _ Forge = (*Gitea)(nil)

// newGitea connects to the Gitea serving repoURL (a clone URL, see ParseRepoURL; opts.APIURL, when set, is
// Gitea's root URL) with token. The SDK asks the server its version here. Use New, which keeps the token out of
// every message, rather than this.
func newGitea(ctx context.Context, repoURL, token string, opts Options) (*Gitea, error) {
	r, err := ParseRepoURL(repoURL)
	if err != nil {
		return nil, err
	}
	if opts.APIURL != "" {
		r.BaseURL = strings.TrimSuffix(opts.APIURL, "/")
	}
	c, err := gitea.NewClient(r.BaseURL, gitea.SetToken(token), gitea.SetHTTPClient(opts.httpClient()), gitea.SetContext(ctx),
		gitea.SetUserAgent("marina"))
	if err != nil {
		return nil, redact(fmt.Errorf("gitea at %s: %w", r.BaseURL, err))
	}
	return &Gitea{repo: r, client: c}, nil
}

// Repository is the repository the Gitea works on.
func (g *Gitea) Repository() Repository { return g.repo }

// redact removes every remembered credential from err's message; nil stays nil.
func redact(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(repo.Redact(err.Error()))
}

// call runs f with the client bound to ctx, and wraps its error with what was done, redacted.
func (g *Gitea) call(ctx context.Context, what string, f func(c *gitea.Client) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.client.SetContext(ctx)
	if err := f(g.client); err != nil {
		return redact(fmt.Errorf("gitea %s: %s: %w", g.repo.FullName(), what, err))
	}
	return nil
}

// Find returns the open pull request from head into base of the repository (head a branch of the repository
// itself), nil when there is none.
func (g *Gitea) Find(ctx context.Context, head, base string) (*PullRequest, error) {
	pr, err := g.find(ctx, gitea.StateOpen, func(pr *gitea.PullRequest) bool { return branches(pr, head, base) })
	if err != nil || pr == nil {
		return nil, err
	}
	return fromGitea(pr), nil
}

// branches reports whether pr is from head into base, both branches of the repository.
func branches(pr *gitea.PullRequest, head, base string) bool {
	return pr.Head != nil && pr.Base != nil && pr.Head.Ref == head && pr.Base.Ref == base &&
		(pr.Head.RepoID == 0 || pr.Base.RepoID == 0 || pr.Head.RepoID == pr.Base.RepoID)
}

// find returns the first pull request in state (open or closed, newest first) that match accepts, nil when none
// does.
func (g *Gitea) find(ctx context.Context, state gitea.StateType, match func(*gitea.PullRequest) bool) (*gitea.PullRequest, error) {
	var found *gitea.PullRequest
	err := g.call(ctx, fmt.Sprintf("listing the %s pull requests", state), func(c *gitea.Client) error {
		return giteaPages(func(lo gitea.ListOptions) ([]*gitea.PullRequest, *gitea.Response, error) {
			return c.ListRepoPullRequests(g.repo.Owner, g.repo.Name, gitea.ListPullRequestsOptions{State: state, ListOptions: lo})
		}, func(pr *gitea.PullRequest) bool {
			if match(pr) {
				found = pr
			}
			return found == nil
		})
	})
	return found, err
}

// giteaPageSize is how many items a list call of the Gitea API asks for at once.
const giteaPageSize = 50

// giteaPages is pages over a list of Gitea's SDK: list is called with each page's ListOptions.
func giteaPages[T any](list func(gitea.ListOptions) ([]T, *gitea.Response, error), each func(T) bool) error {
	return pages(func(page int) ([]T, int, error) {
		items, resp, err := list(gitea.ListOptions{Page: page, PageSize: giteaPageSize})
		if resp == nil {
			return items, 0, err
		}
		return items, resp.NextPage, err
	}, each)
}

// Ensure returns the open pull request from req.Head into req.Base, its body made req.Body (and its title
// req.Title); or, with req.HeadSHA, the one merged from req.Head at that commit; or opens one with req.Labels.
func (g *Gitea) Ensure(ctx context.Context, req Request) (*PullRequest, bool, error) {
	return ensure(ctx, g, req)
}

// findMerged returns the pull request from head into base merged at commit sha, nil when there is none.
func (g *Gitea) findMerged(ctx context.Context, head, base, sha string) (*PullRequest, error) {
	pr, err := g.find(ctx, gitea.StateClosed, func(pr *gitea.PullRequest) bool {
		return pr.HasMerged && branches(pr, head, base) && pr.Head.Sha == sha
	})
	if err != nil || pr == nil {
		return nil, err
	}
	return fromGitea(pr), nil
}

// edit sets the title and body of pull request number.
func (g *Gitea) edit(ctx context.Context, number int64, title, body string) (*PullRequest, error) {
	var pr *gitea.PullRequest
	err := g.call(ctx, fmt.Sprintf("updating pull request #%d", number), func(c *gitea.Client) error {
		var err error
		pr, _, err = c.EditPullRequest(g.repo.Owner, g.repo.Name, number, gitea.EditPullRequestOption{Title: title, Body: &body})
		return err
	})
	if err != nil {
		return nil, err
	}
	return fromGitea(pr), nil
}

// Close closes pull request number with a comment saying why.
func (g *Gitea) Close(ctx context.Context, number int64, why string) error {
	return g.call(ctx, fmt.Sprintf("closing pull request #%d", number), func(c *gitea.Client) error {
		if _, _, err := c.CreateIssueComment(g.repo.Owner, g.repo.Name, number, gitea.CreateIssueCommentOption{Body: why}); err != nil {
			return err
		}
		closed := gitea.StateClosed
		_, _, err := c.EditPullRequest(g.repo.Owner, g.repo.Name, number, gitea.EditPullRequestOption{State: &closed})
		return err
	})
}

// open opens the pull request req asks for, with its labels, and asks its reviewers for a review.
func (g *Gitea) open(ctx context.Context, req Request) (*PullRequest, error) {
	labels, err := g.labelIDs(ctx, req.Labels)
	if err != nil {
		return nil, err
	}
	var pr *gitea.PullRequest
	err = g.call(ctx, fmt.Sprintf("opening a pull request from %s into %s", req.Head, req.Base), func(c *gitea.Client) error {
		var err error
		pr, _, err = c.CreatePullRequest(g.repo.Owner, g.repo.Name, gitea.CreatePullRequestOption{
			Head: req.Head, Base: req.Base, Title: req.Title, Body: req.Body, Labels: labels})
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(req.Reviewers) > 0 {
		err = g.call(ctx, fmt.Sprintf("asking %s to review pull request #%d", strings.Join(req.Reviewers, ", "), pr.Index), func(c *gitea.Client) error {
			_, err := c.CreateReviewRequests(g.repo.Owner, g.repo.Name, pr.Index, gitea.PullReviewRequestOptions{Reviewers: req.Reviewers})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("%w (pull request #%d is open: %s)", err, pr.Index, pr.HTMLURL)
		}
	}
	return fromGitea(pr), nil
}

// labelIDs returns the IDs of the repository's labels names, creating the missing ones.
func (g *Gitea) labelIDs(ctx context.Context, names []string) ([]int64, error) {
	return ensureLabels(names, func(byName map[string]int64) error {
		return g.call(ctx, "listing the labels", func(c *gitea.Client) error {
			return giteaPages(func(lo gitea.ListOptions) ([]*gitea.Label, *gitea.Response, error) {
				return c.ListRepoLabels(g.repo.Owner, g.repo.Name, gitea.ListLabelsOptions{ListOptions: lo})
			}, func(l *gitea.Label) bool {
				byName[l.Name] = l.ID
				return true
			})
		})
	}, func(name string) (int64, error) {
		var id int64
		err := g.call(ctx, fmt.Sprintf("creating the label %q", name), func(c *gitea.Client) error {
			l, _, err := c.CreateLabel(g.repo.Owner, g.repo.Name, gitea.CreateLabelOption{Name: name, Color: "#" + labelColor})
			if err == nil {
				id = l.ID
			}
			return err
		})
		return id, err
	})
}

// Get reads pull request number.
func (g *Gitea) Get(ctx context.Context, number int64) (*PullRequest, error) {
	var pr *gitea.PullRequest
	err := g.call(ctx, fmt.Sprintf("reading pull request #%d", number), func(c *gitea.Client) error {
		var err error
		pr, _, err = c.GetPullRequest(g.repo.Owner, g.repo.Name, number)
		return err
	})
	if err != nil {
		return nil, err
	}
	return fromGitea(pr), nil
}

// SetStatus posts a commit status on commit sha.
func (g *Gitea) SetStatus(ctx context.Context, sha string, s Status) error {
	if err := s.check(sha); err != nil {
		return err
	}
	return g.call(ctx, fmt.Sprintf("posting the status %s on %s", s.Context, sha), func(c *gitea.Client) error {
		_, _, err := c.CreateStatus(g.repo.Owner, g.repo.Name, sha, gitea.CreateStatusOption{
			State: gitea.StatusState(s.State), Context: s.Context, Description: s.Description, TargetURL: s.TargetURL})
		return err
	})
}

// fromGitea is the SDK's pull request as a PullRequest.
func fromGitea(pr *gitea.PullRequest) *PullRequest {
	out := &PullRequest{Number: pr.Index, URL: pr.HTMLURL, Title: pr.Title, Body: pr.Body, State: Open}
	switch {
	case pr.HasMerged:
		out.State = Merged
	case pr.State == gitea.StateClosed:
		out.State = Closed
	}
	if pr.Head != nil {
		out.Head, out.HeadSHA = pr.Head.Ref, pr.Head.Sha
	}
	if pr.Base != nil {
		out.Base = pr.Base.Ref
	}
	return out
}

// CombinedStatus reads the statuses of commit sha: the latest of each context.
func (g *Gitea) CombinedStatus(ctx context.Context, sha string) (*CombinedStatus, error) {
	if sha == "" {
		return nil, errNoCommit
	}
	out := &CombinedStatus{SHA: sha, Statuses: []Status{}}
	err := g.call(ctx, fmt.Sprintf("reading the statuses of %s", sha), func(c *gitea.Client) error {
		cs, _, err := c.GetCombinedStatus(g.repo.Owner, g.repo.Name, sha)
		if err != nil {
			return err
		}
		for _, s := range cs.Statuses {
			if s == nil {
				continue
			}
			state := string(s.State)
			if s.State == gitea.StatusWarning {
				state = "failure"
			}
			out.add(Status{Context: s.Context, State: state, Description: s.Description, TargetURL: s.TargetURL})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.State = combine(out.Statuses)
	return out, nil
}

// Reviews lists the reviews of pull request number, oldest first.
func (g *Gitea) Reviews(ctx context.Context, number int64) ([]Review, error) {
	var out []Review
	err := g.call(ctx, fmt.Sprintf("listing the reviews of pull request #%d", number), func(c *gitea.Client) error {
		return giteaPages(func(lo gitea.ListOptions) ([]*gitea.PullReview, *gitea.Response, error) {
			return c.ListPullReviews(g.repo.Owner, g.repo.Name, number, gitea.ListPullReviewsOptions{ListOptions: lo})
		}, func(r *gitea.PullReview) bool {
			out = append(out, fromGiteaReview(r))
			return true
		})
	})
	return out, err
}

// fromGiteaReview is the SDK's review as a Review.
func fromGiteaReview(r *gitea.PullReview) Review {
	out := Review{CommitID: r.CommitID, Stale: r.Stale, Dismissed: r.Dismissed, State: Commented}
	if r.Reviewer != nil {
		out.Reviewer = r.Reviewer.UserName
	}
	switch r.State {
	case gitea.ReviewStateApproved:
		out.State = Approved
	case gitea.ReviewStateRequestChanges:
		out.State = ChangesRequested
	}
	return out
}

// Merge merges pull request number with a merge commit, provided its head is still headSHA (Gitea refuses it
// otherwise).
func (g *Gitea) Merge(ctx context.Context, number int64, headSHA string) error {
	return g.call(ctx, fmt.Sprintf("merging pull request #%d", number), func(c *gitea.Client) error {
		ok, resp, err := c.MergePullRequest(g.repo.Owner, g.repo.Name, number, gitea.MergePullRequestOption{
			Style: gitea.MergeStyleMerge, HeadCommitId: headSHA})
		if err != nil {
			return err
		}
		if !ok {
			code := 0
			if resp != nil {
				code = resp.StatusCode
			}
			return mergeRefused(code, headSHA, pullRequestRefusal, "") // the SDK does not read the message of a refused merge
		}
		return nil
	})
}
