package forge

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-github/v88/github"
)

// GitHub is one repository on GitHub or a GitHub Enterprise Server, reached through go-github with a token.
type GitHub struct {
	repo   Repository
	client *github.Client
}

var _ Forge = (*GitHub)(nil)

// newGitHub connects to the GitHub serving repoURL (a clone URL, see ParseRepoURL) with token: its API is
// https://api.github.com/ for a repository on github.com, BASE/api/v3/ on a GitHub Enterprise Server at BASE;
// opts.APIURL, when set, is the API's root instead. Use New, which keeps the token out of every message, rather
// than this.
func newGitHub(_ context.Context, repoURL, token string, opts Options) (*GitHub, error) {
	r, err := ParseRepoURL(repoURL)
	if err != nil {
		return nil, err
	}
	options := []github.ClientOptionsFunc{github.WithHTTPClient(opts.httpClient()), github.WithAuthToken(token),
		github.WithUserAgent("marina")}
	u, _ := url.Parse(r.BaseURL) // ParseRepoURL made it
	switch {
	case opts.APIURL != "":
		options = append(options, github.WithURLs(&opts.APIURL, &opts.APIURL))
	case !strings.EqualFold(u.Hostname(), "github.com"):
		options = append(options, github.WithEnterpriseURLs(r.BaseURL+"/", r.BaseURL+"/"))
	}
	c, err := github.NewClient(options...)
	if err != nil {
		return nil, redact(fmt.Errorf("github at %s: %w", r.BaseURL, err))
	}
	return &GitHub{repo: r, client: c}, nil
}

// fail wraps err, from what was being done, with the repository, redacted; nil stays nil.
func (g *GitHub) fail(what string, err error) error {
	if err == nil {
		return nil
	}
	return redact(fmt.Errorf("github %s: %s: %w", g.repo.FullName(), what, err))
}

// githubPageSize is how many items a list call of the GitHub API asks for at once, its maximum.
const githubPageSize = 100

// githubPages is pages over a list of go-github: list is called with each page's ListOptions.
func githubPages[T any](list func(*github.ListOptions) ([]T, *github.Response, error), each func(T) bool) error {
	return pages(func(page int) ([]T, int, error) {
		items, resp, err := list(&github.ListOptions{Page: page, PerPage: githubPageSize})
		if resp == nil {
			return items, 0, err
		}
		return items, resp.NextPage, err
	}, each)
}

// Ensure returns the open pull request from req.Head into req.Base, its body made req.Body (and its title
// req.Title); or, with req.HeadSHA, the one merged from req.Head at that commit; or opens one with req.Labels.
func (g *GitHub) Ensure(ctx context.Context, req Request) (*PullRequest, bool, error) {
	return ensure(ctx, g, req)
}

// Find returns the open pull request from head into base of the repository (head a branch of the repository
// itself), nil when there is none.
func (g *GitHub) Find(ctx context.Context, head, base string) (*PullRequest, error) {
	return g.find(ctx, "open", head, base, func(*github.PullRequest) bool { return true })
}

// findMerged returns the pull request from head into base merged at commit sha, nil when there is none.
func (g *GitHub) findMerged(ctx context.Context, head, base, sha string) (*PullRequest, error) {
	return g.find(ctx, "closed", head, base, func(pr *github.PullRequest) bool {
		return pr.MergedAt != nil && pr.GetHead().GetSHA() == sha
	})
}

// find returns the first pull request in state (open or closed, newest first) from head into base, both
// branches of the repository, that match accepts; nil when none does. GitHub filters on the branches: its head
// filter is OWNER:BRANCH.
func (g *GitHub) find(ctx context.Context, state, head, base string, match func(*github.PullRequest) bool) (*PullRequest, error) {
	var found *github.PullRequest
	err := githubPages(func(lo *github.ListOptions) ([]*github.PullRequest, *github.Response, error) {
		return g.client.PullRequests.List(ctx, g.repo.Owner, g.repo.Name, &github.PullRequestListOptions{
			State: state, Head: g.repo.Owner + ":" + head, Base: base, ListOptions: *lo})
	}, func(pr *github.PullRequest) bool {
		if pr.GetHead().GetRef() == head && pr.GetBase().GetRef() == base && g.ownBranch(pr.GetHead()) && match(pr) {
			found = pr
		}
		return found == nil
	})
	if err != nil || found == nil {
		return nil, g.fail(fmt.Sprintf("listing the %s pull requests from %s into %s", state, head, base), err)
	}
	return fromGitHub(found), nil
}

// ownBranch reports whether b is a branch of the repository rather than of a fork (GitHub leaves a deleted
// fork's repo out).
func (g *GitHub) ownBranch(b *github.PullRequestBranch) bool {
	return b.GetRepo() == nil || strings.EqualFold(b.GetRepo().GetFullName(), g.repo.FullName())
}

// edit sets the title and body of pull request number.
func (g *GitHub) edit(ctx context.Context, number int64, title, body string) (*PullRequest, error) {
	pr, _, err := g.client.PullRequests.Edit(ctx, g.repo.Owner, g.repo.Name, int(number), &github.PullRequest{Title: &title, Body: &body})
	if err != nil {
		return nil, g.fail(fmt.Sprintf("updating pull request #%d", number), err)
	}
	return fromGitHub(pr), nil
}

// open opens the pull request req asks for, then puts its labels on it: GitHub's API cannot open a pull request
// with labels.
func (g *GitHub) open(ctx context.Context, req Request) (*PullRequest, error) {
	labels, err := g.labels(ctx, req.Labels)
	if err != nil {
		return nil, err
	}
	pr, _, err := g.client.PullRequests.Create(ctx, g.repo.Owner, g.repo.Name, &github.NewPullRequest{
		Title: &req.Title, Head: &req.Head, Base: &req.Base, Body: &req.Body})
	if err != nil {
		return nil, g.fail(fmt.Sprintf("opening a pull request from %s into %s", req.Head, req.Base), err)
	}
	if len(labels) > 0 {
		if _, _, err := g.client.Issues.AddLabelsToIssue(ctx, g.repo.Owner, g.repo.Name, pr.GetNumber(), labels); err != nil {
			return nil, g.fail(fmt.Sprintf("labelling pull request #%d, just opened", pr.GetNumber()), err)
		}
	}
	if len(req.Reviewers) > 0 {
		if _, _, err := g.client.PullRequests.RequestReviewers(ctx, g.repo.Owner, g.repo.Name, pr.GetNumber(), github.ReviewersRequest{Reviewers: req.Reviewers}); err != nil {
			return nil, g.fail(fmt.Sprintf("asking %s to review pull request #%d, just opened", strings.Join(req.Reviewers, ", "), pr.GetNumber()), err)
		}
	}
	return fromGitHub(pr), nil
}

// Close closes pull request number with a comment saying why.
func (g *GitHub) Close(ctx context.Context, number int64, why string) error {
	what := fmt.Sprintf("closing pull request #%d", number)
	if _, _, err := g.client.Issues.CreateComment(ctx, g.repo.Owner, g.repo.Name, int(number), &github.IssueComment{Body: &why}); err != nil {
		return g.fail(what, err)
	}
	_, _, err := g.client.PullRequests.Edit(ctx, g.repo.Owner, g.repo.Name, int(number), &github.PullRequest{State: github.Ptr("closed")})
	return g.fail(what, err)
}

// labels returns names, each once, after creating the labels the repository lacks. A pull request is labelled by
// name; whether GitHub then creates a missing label itself is not in its API reference, so marina does.
func (g *GitHub) labels(ctx context.Context, names []string) ([]string, error) {
	return ensureLabels(names, func(byName map[string]string) error {
		err := githubPages(func(lo *github.ListOptions) ([]*github.Label, *github.Response, error) {
			return g.client.Issues.ListLabels(ctx, g.repo.Owner, g.repo.Name, lo)
		}, func(l *github.Label) bool {
			byName[l.GetName()] = l.GetName()
			return true
		})
		return g.fail("listing the labels", err)
	}, func(name string) (string, error) {
		l, _, err := g.client.Issues.CreateLabel(ctx, g.repo.Owner, g.repo.Name, &github.Label{Name: &name, Color: github.Ptr(labelColor)})
		if err != nil {
			return "", g.fail(fmt.Sprintf("creating the label %q", name), err)
		}
		return l.GetName(), nil
	})
}

// Get reads pull request number.
func (g *GitHub) Get(ctx context.Context, number int64) (*PullRequest, error) {
	pr, _, err := g.client.PullRequests.Get(ctx, g.repo.Owner, g.repo.Name, int(number))
	if err != nil {
		return nil, g.fail(fmt.Sprintf("reading pull request #%d", number), err)
	}
	return fromGitHub(pr), nil
}

// fromGitHub is go-github's pull request as a PullRequest: merged when it has a merge time (a listed pull request
// has no merged flag).
func fromGitHub(pr *github.PullRequest) *PullRequest {
	out := &PullRequest{Number: int64(pr.GetNumber()), URL: pr.GetHTMLURL(), Title: pr.GetTitle(), Body: pr.GetBody(), State: Open,
		Head: pr.GetHead().GetRef(), HeadSHA: pr.GetHead().GetSHA(), Base: pr.GetBase().GetRef()}
	switch {
	case pr.MergedAt != nil || pr.GetMerged():
		out.State = Merged
	case pr.GetState() == "closed":
		out.State = Closed
	}
	return out
}

// SetStatus posts a commit status on commit sha.
func (g *GitHub) SetStatus(ctx context.Context, sha string, s Status) error {
	if err := s.check(sha); err != nil {
		return err
	}
	_, _, err := g.client.Repositories.CreateStatus(ctx, g.repo.Owner, g.repo.Name, sha, github.RepoStatus{
		State: &s.State, Context: &s.Context, Description: &s.Description, TargetURL: &s.TargetURL})
	return g.fail(fmt.Sprintf("posting the status %s on %s", s.Context, sha), err)
}

// CombinedStatus reads the statuses of commit sha: the latest of each context, combined by marina's rule (GitHub's
// own combined state reports an error as a failure).
func (g *GitHub) CombinedStatus(ctx context.Context, sha string) (*CombinedStatus, error) {
	if sha == "" {
		return nil, errNoCommit
	}
	out := &CombinedStatus{SHA: sha, Statuses: []Status{}}
	err := githubPages(func(lo *github.ListOptions) ([]*github.RepoStatus, *github.Response, error) {
		cs, resp, err := g.client.Repositories.GetCombinedStatus(ctx, g.repo.Owner, g.repo.Name, sha, lo)
		return cs.GetStatuses(), resp, err
	}, func(s *github.RepoStatus) bool {
		out.add(Status{Context: s.GetContext(), State: s.GetState(), Description: s.GetDescription(), TargetURL: s.GetTargetURL()})
		return true
	})
	if err != nil {
		return nil, g.fail(fmt.Sprintf("reading the statuses of %s", sha), err)
	}
	out.State = combine(out.Statuses)
	return out, nil
}

// Reviews lists the reviews of pull request number, oldest first (GitHub's order).
func (g *GitHub) Reviews(ctx context.Context, number int64) ([]Review, error) {
	var out []Review
	err := githubPages(func(lo *github.ListOptions) ([]*github.PullRequestReview, *github.Response, error) {
		return g.client.PullRequests.ListReviews(ctx, g.repo.Owner, g.repo.Name, int(number), lo)
	}, func(r *github.PullRequestReview) bool {
		out = append(out, fromGitHubReview(r))
		return true
	})
	if err != nil {
		return nil, g.fail(fmt.Sprintf("listing the reviews of pull request #%d", number), err)
	}
	return out, nil
}

// fromGitHubReview is go-github's review as a Review. A dismissed review's state is DISMISSED, what it said is
// gone; a pending one (not submitted yet) says nothing. GitHub has no stale flag: CommitID tells.
func fromGitHubReview(r *github.PullRequestReview) Review {
	out := Review{Reviewer: r.GetUser().GetLogin(), CommitID: r.GetCommitID(), State: Commented}
	switch r.GetState() {
	case "APPROVED":
		out.State = Approved
	case "CHANGES_REQUESTED":
		out.State = ChangesRequested
	case "DISMISSED":
		out.Dismissed = true
	}
	return out
}

// Merge merges pull request number with a merge commit, provided its head is still headSHA (GitHub answers 409
// otherwise, and 405 when the pull request is not mergeable).
func (g *GitHub) Merge(ctx context.Context, number int64, headSHA string) error {
	_, _, err := g.client.PullRequests.Merge(ctx, g.repo.Owner, g.repo.Name, int(number), "", &github.PullRequestOptions{
		SHA: headSHA, MergeMethod: "merge"})
	var refused *github.ErrorResponse
	if errors.As(err, &refused) && refused.Response != nil {
		err = mergeRefused(refused.Response.StatusCode, headSHA, pullRequestRefusal, refused.Message)
	}
	return g.fail(fmt.Sprintf("merging pull request #%d", number), err)
}
