package forge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"gitlab.com/gitlab-org/api/client-go/v2"
)

// GitLab is one project on a GitLab server, reached through GitLab's Go client (client-go) with a personal,
// project or group access token. GitLab's pull requests are merge requests; a PullRequest's Number is a merge
// request's IID, its number within the project (!IID).
type GitLab struct {
	// project is the project's full path, GROUP[/SUBGROUP…]/PROJECT, which the API takes (URL-encoded) for its ID.
	project string
	client  *gitlab.Client
}

var _ Forge = (*GitLab)(nil)

// apiPath is where a GitLab serves its REST API, below its root URL.
const apiPath = "/api/v4"

// newGitLab connects to the GitLab serving repoURL (a clone URL, see parseGitLabURL) with token; opts.APIURL, when
// set, is GitLab's API root (with or without /api/v4). No call is made here. Use New, which keeps the token out of
// every message, rather than this.
//
// The client does not retry: a failed call is reported at once, as Gitea's are, and marina's callers (a CLI run, a
// reconcile) run again rather than wait.
func newGitLab(_ context.Context, repoURL, token string, opts Options) (*GitLab, error) {
	api, project, err := parseGitLabURL(repoURL, opts.APIURL)
	if err != nil {
		return nil, err
	}
	c, err := gitlab.NewClient(token, gitlab.WithBaseURL(api), gitlab.WithHTTPClient(opts.httpClient()),
		gitlab.WithoutRetries(), gitlab.WithUserAgent("marina"))
	if err != nil {
		return nil, redact(fmt.Errorf("gitlab at %s: %w", api, err))
	}
	return &GitLab{project: project, client: c}, nil
}

// parseGitLabURL maps a project's HTTP(S) clone URL, scheme://HOST[:PORT]/GROUP[/SUBGROUP…]/PROJECT[.git], to the
// API root scheme://HOST[:PORT]/api/v4 and the project's full path: unlike ParseRepoURL's, the whole path names
// the project, as GitLab's groups nest. A GitLab served below a relative URL root (https://example.com/gitlab)
// cannot be told from a group by its clone URL alone: there apiURL, GitLab's API root, says where the API is, and
// the path of the root it names (/gitlab) is not part of the project's when the clone URL's path starts with it on
// the same host.
func parseGitLabURL(raw, apiURL string) (api, project string, err error) {
	r, err := ParseRepoURL(raw) // validates the URL: HTTP(S), a host, at least GROUP/PROJECT, no query
	if err != nil {
		return "", "", err
	}
	base, err := url.Parse(r.BaseURL)
	if err != nil {
		return "", "", fmt.Errorf("repository URL %q: %w", redactURL(raw), err)
	}
	project = strings.TrimPrefix(base.Path+"/"+r.FullName(), "/")
	base.Path = apiPath
	if apiURL == "" {
		return base.String(), project, nil
	}
	u, err := url.Parse(strings.TrimSuffix(apiURL, "/"))
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", "", fmt.Errorf("gitlab API URL %q: want http(s)://HOST[/PATH][/api/v4]", redactURL(apiURL))
	}
	if root := strings.Trim(strings.TrimSuffix(u.Path, apiPath), "/"); root != "" && u.Host == base.Host {
		project = strings.TrimPrefix(project, root+"/")
	}
	return u.String(), project, nil
}

// Project is the full path of the project the GitLab works on, GROUP[/SUBGROUP…]/PROJECT.
func (g *GitLab) Project() string { return g.project }

// APIURL is the root of the API the GitLab calls, ending in /api/v4/.
func (g *GitLab) APIURL() string { return g.client.BaseURL().String() }

// fail wraps err, unless nil, with the project and what was being done, redacted.
func (g *GitLab) fail(what string, err error) error {
	if err == nil {
		return nil
	}
	return redact(fmt.Errorf("gitlab %s: %s: %w", g.project, what, err))
}

// find returns the first merge request from head into base in state (opened or merged; newest first) that match
// accepts, nil when none does. GitLab filters by branch itself; the pages are client-go's, from each answer's
// X-Next-Page or Link header.
func (g *GitLab) find(ctx context.Context, state, head, base string, match func(*gitlab.BasicMergeRequest) bool) (*PullRequest, error) {
	opts := &gitlab.ListProjectMergeRequestsOptions{State: &state, SourceBranch: &head, TargetBranch: &base,
		ListOptions: gitlab.ListOptions{PerPage: gitlabPageSize}}
	for mr, err := range gitlab.Scan2(func(p gitlab.PaginationOptionFunc) ([]*gitlab.BasicMergeRequest, *gitlab.Response, error) {
		return g.client.MergeRequests.ListProjectMergeRequests(g.project, opts, gitlab.WithContext(ctx), p)
	}) {
		if err != nil {
			return nil, g.fail(fmt.Sprintf("listing the %s merge requests from %s into %s", state, head, base), err)
		}
		// A merge request from a fork has the same branch names but another source project.
		if mr.SourceBranch == head && mr.TargetBranch == base && mr.SourceProjectID == mr.TargetProjectID && match(mr) {
			return fromGitLab(mr), nil
		}
	}
	return nil, nil
}

// Find returns the open merge request from head into base of the project (head a branch of the project itself),
// nil when there is none.
func (g *GitLab) Find(ctx context.Context, head, base string) (*PullRequest, error) {
	return g.find(ctx, "opened", head, base, func(*gitlab.BasicMergeRequest) bool { return true })
}

// Ensure returns the open merge request from req.Head into req.Base, its description made req.Body (and its
// title req.Title); or, with req.HeadSHA, the one merged from req.Head at that commit; or opens one with
// req.Labels.
func (g *GitLab) Ensure(ctx context.Context, req Request) (*PullRequest, bool, error) {
	return ensure(ctx, g, req)
}

// findMerged returns the merge request from head into base merged at commit sha (its source branch's head when
// it was merged), nil when there is none.
func (g *GitLab) findMerged(ctx context.Context, head, base, sha string) (*PullRequest, error) {
	return g.find(ctx, "merged", head, base, func(mr *gitlab.BasicMergeRequest) bool { return mr.SHA == sha })
}

// edit sets the title and description of merge request iid.
func (g *GitLab) edit(ctx context.Context, iid int64, title, body string) (*PullRequest, error) {
	mr, _, err := g.client.MergeRequests.UpdateMergeRequest(g.project, iid,
		&gitlab.UpdateMergeRequestOptions{Title: &title, Description: &body}, gitlab.WithContext(ctx))
	if err != nil {
		return nil, g.fail(fmt.Sprintf("updating merge request !%d", iid), err)
	}
	return fromGitLab(&mr.BasicMergeRequest), nil
}

// open opens the merge request req asks for, with its labels by name: GitLab creates a project label for a name
// that names none (the labels attribute of "Create MR" in GitLab's merge requests API), so no label is looked up
// or created here. A token that may not create labels gets the merge request without the missing ones.
func (g *GitLab) open(ctx context.Context, req Request) (*PullRequest, error) {
	opts := &gitlab.CreateMergeRequestOptions{Title: &req.Title, Description: &req.Body, SourceBranch: &req.Head,
		TargetBranch: &req.Base}
	if len(req.Labels) > 0 {
		opts.Labels = new(gitlab.LabelOptions(req.Labels))
	}
	if len(req.Reviewers) > 0 {
		ids, err := g.userIDs(ctx, req.Reviewers)
		if err != nil {
			return nil, err
		}
		opts.ReviewerIDs = &ids
	}
	mr, _, err := g.client.MergeRequests.CreateMergeRequest(g.project, opts, gitlab.WithContext(ctx))
	if err != nil {
		return nil, g.fail(fmt.Sprintf("opening a merge request from %s into %s", req.Head, req.Base), err)
	}
	return fromGitLab(&mr.BasicMergeRequest), nil
}

// userIDs are the IDs of the users names: GitLab names a merge request's reviewers by ID. An unknown name is an
// error, before anything is opened.
func (g *GitLab) userIDs(ctx context.Context, names []string) ([]int64, error) {
	ids := make([]int64, 0, len(names))
	for _, name := range names {
		users, _, err := g.client.Users.ListUsers(&gitlab.ListUsersOptions{Username: &name}, gitlab.WithContext(ctx))
		if err != nil {
			return nil, g.fail(fmt.Sprintf("looking up the reviewer %s", name), err)
		}
		if len(users) == 0 {
			return nil, fmt.Errorf("gitlab %s: no user %s to ask for a review", g.project, name)
		}
		ids = append(ids, users[0].ID)
	}
	return ids, nil
}

// Close closes merge request iid with a note saying why.
func (g *GitLab) Close(ctx context.Context, iid int64, why string) error {
	what := fmt.Sprintf("closing merge request !%d", iid)
	if _, _, err := g.client.Notes.CreateMergeRequestNote(g.project, iid, &gitlab.CreateMergeRequestNoteOptions{Body: &why}, gitlab.WithContext(ctx)); err != nil {
		return g.fail(what, err)
	}
	_, _, err := g.client.MergeRequests.UpdateMergeRequest(g.project, iid, &gitlab.UpdateMergeRequestOptions{StateEvent: new("close")}, gitlab.WithContext(ctx))
	return g.fail(what, err)
}

// Get reads merge request iid.
func (g *GitLab) Get(ctx context.Context, iid int64) (*PullRequest, error) {
	mr, _, err := g.client.MergeRequests.GetMergeRequest(g.project, iid, nil, gitlab.WithContext(ctx))
	if err != nil {
		return nil, g.fail(fmt.Sprintf("reading merge request !%d", iid), err)
	}
	return fromGitLab(&mr.BasicMergeRequest), nil
}

// fromGitLab is client-go's merge request as a PullRequest. GitLab's states are opened, closed, locked (briefly,
// while merging) and merged; all but merged and closed are Open.
func fromGitLab(mr *gitlab.BasicMergeRequest) *PullRequest {
	out := &PullRequest{Number: mr.IID, URL: mr.WebURL, Title: mr.Title, Body: mr.Description, State: Open,
		Head: mr.SourceBranch, Base: mr.TargetBranch, HeadSHA: mr.SHA}
	switch mr.State {
	case "merged":
		out.State = Merged
	case "closed":
		out.State = Closed
	}
	return out
}

// SetStatus posts a commit status on commit sha, named s.Context. GitLab has no error state: error, like failure,
// is posted as failed (canceled would say someone stopped the check, and GitLab shows it as neither red nor green).
func (g *GitLab) SetStatus(ctx context.Context, sha string, s Status) error {
	if err := s.check(sha); err != nil {
		return err
	}
	state := gitlab.BuildStateValue(s.State)
	if s.State == "failure" || s.State == "error" {
		state = gitlab.Failed
	}
	opts := &gitlab.SetCommitStatusOptions{State: state, Name: &s.Context}
	if s.Description != "" {
		opts.Description = &s.Description
	}
	if s.TargetURL != "" {
		opts.TargetURL = &s.TargetURL
	}
	_, _, err := g.client.Commits.SetCommitStatus(g.project, sha, opts, gitlab.WithContext(ctx))
	return g.fail(fmt.Sprintf("posting the status %s on %s", s.Context, sha), err)
}

// CombinedStatus reads the statuses of commit sha, the latest of each name: those posted through the API and
// the jobs of its pipelines, which GitLab lists as statuses too. GitLab's states map to marina's as GitLab judges
// a pipeline: success and skipped (a job that did not need to run, e.g. when: on_failure in a green pipeline)
// are success, failed and canceled are failure, the others (created, pending, running, manual, …) pending.
func (g *GitLab) CombinedStatus(ctx context.Context, sha string) (*CombinedStatus, error) {
	if sha == "" {
		return nil, errNoCommit
	}
	out := &CombinedStatus{SHA: sha, Statuses: []Status{}}
	latest := map[string]int64{} // the ID of the status of each name in out
	opts := &gitlab.GetCommitStatusesOptions{ListOptions: gitlab.ListOptions{PerPage: gitlabPageSize}}
	for s, err := range gitlab.Scan2(func(p gitlab.PaginationOptionFunc) ([]*gitlab.CommitStatus, *gitlab.Response, error) {
		return g.client.Commits.GetCommitStatuses(g.project, sha, opts, gitlab.WithContext(ctx), p)
	}) {
		if err != nil {
			return nil, g.fail(fmt.Sprintf("reading the statuses of %s", sha), err)
		}
		st := Status{Context: s.Name, State: "pending", Description: s.Description, TargetURL: s.TargetURL}
		switch gitlab.BuildStateValue(s.Status) {
		case gitlab.Success, gitlab.Skipped:
			st.State = "success"
		case gitlab.Failed, gitlab.Canceled:
			st.State = "failure"
		}
		// Without all=true GitLab lists only the latest statuses; should a name still come twice (on two refs or
		// in two stages), the later one, the higher ID, counts.
		id, seen := latest[s.Name]
		switch {
		case !seen:
			out.Statuses = append(out.Statuses, st)
		case s.ID > id:
			*out.Find(s.Name) = st
		default:
			continue
		}
		latest[s.Name] = s.ID
	}
	out.State = combine(out.Statuses)
	return out, nil
}

// Reviews lists the approvals of merge request iid, each an Approved review of the merge request's head when they
// were read: GitLab has approvals rather than reviews, and does not say on which commit one was given (a project
// may have them reset on every push). Its approvals endpoint, /projects/:id/merge_requests/:iid/approvals, is
// GitLab Free's too.
func (g *GitLab) Reviews(ctx context.Context, iid int64) ([]Review, error) {
	mr, err := g.Get(ctx, iid)
	if err != nil {
		return nil, err
	}
	a, _, err := g.client.MergeRequests.GetMergeRequestApprovals(g.project, iid, gitlab.WithContext(ctx))
	if err != nil {
		return nil, g.fail(fmt.Sprintf("reading the approvals of merge request !%d", iid), err)
	}
	var out []Review
	for _, by := range a.ApprovedBy {
		if by != nil && by.User != nil {
			out = append(out, Review{Reviewer: by.User.Username, State: Approved, CommitID: mr.HeadSHA})
		}
	}
	return out, nil
}

// gitlabPageSize is how many items a list call of the GitLab API asks for at once (its default is 20, its most 100); 50, as for Gitea.
const gitlabPageSize = 50

// gitlabRefusal is how GitLab refuses a merge (its merge requests API, "Merge a merge request"): 405 when the
// merge request is not open or cannot be merged yet, 406 (before GitLab 16) or 422 when it has conflicts or
// unmet checks, 409 when its head is not the sha given.
var gitlabRefusal = refusal{request: "merge request",
	notMergeable: "closed or merged already, a draft, a conflict, an unresolved discussion, a pipeline that must succeed first, or a rule of the protected branch"}

// Merge merges merge request iid without squashing, provided its head is still headSHA (GitLab refuses it
// otherwise). Whether that makes a merge commit or fast-forwards is the project's merge method.
func (g *GitLab) Merge(ctx context.Context, iid int64, headSHA string) error {
	_, _, err := g.client.MergeRequests.AcceptMergeRequest(g.project, iid,
		&gitlab.AcceptMergeRequestOptions{SHA: &headSHA, Squash: new(false)}, gitlab.WithContext(ctx))
	if refused, ok := errors.AsType[*gitlab.ErrorResponse](err); ok {
		err = mergeRefused(refused.StatusCode, headSHA, gitlabRefusal, gitlabMessage(refused))
	}
	return g.fail(fmt.Sprintf("merging merge request !%d", iid), err)
}

// gitlabMessage is the message of GitLab's error answer, {"message": "…"}; or client-go's reading of another
// (a message that is an object of field errors, a body that is not JSON).
func gitlabMessage(e *gitlab.ErrorResponse) string {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(e.Body, &m) == nil && m.Message != "" {
		return m.Message
	}
	return e.Message
}
