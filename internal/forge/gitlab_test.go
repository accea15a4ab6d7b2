package forge_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/forge"
)

// The commits of the GitLab tests: the merge request's head, and an earlier one.
const (
	headSHA  = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
	otherSHA = "beef0000beef0000beef0000beef0000beef0000"
)

// gitlabToken is the personal access token the GitLab tests use.
const gitlabToken = "glpat-t3st-t0ken-4f2a"

// gitlabReplay is the GitLab project acme/ml/models (a project in a subgroup) on a server replaying
// testdata/gitlab/NAME.json, which wants the token in the Private-Token header, as client-go sends a personal
// access token.
func gitlabReplay(t *testing.T, name string) *forge.GitLab {
	t.Helper()
	srv := replay(t, "gitlab/"+name, func(h http.Header) bool { return h.Get("Private-Token") == gitlabToken })
	f, err := forge.New(context.Background(), "gitlab", "https://gitlab.example.com/acme/ml/models.git", gitlabToken,
		forge.Options{APIURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return f.(*forge.GitLab)
}

func TestGitLabTakesTheWholePathForTheProjectAndTheHostForTheAPI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, apiURL   string
		project, want string
	}{
		{"https://gitlab.com/acme/models.git", "", "acme/models", "https://gitlab.com/api/v4/"},
		{"https://gitlab.com/acme/ml/models.git", "", "acme/ml/models", "https://gitlab.com/api/v4/"},
		{"https://bot:s3cret@gitlab.example.com:8443/acme/ml/vision/models/", "", "acme/ml/vision/models", "https://gitlab.example.com:8443/api/v4/"},
		// A GitLab below a relative URL root: the API URL says where, and its path is not the project's.
		{"https://example.com/gitlab/acme/models.git", "https://example.com/gitlab/api/v4", "acme/models", "https://example.com/gitlab/api/v4/"},
		{"https://example.com/gitlab/acme/models.git", "https://example.com/gitlab", "acme/models", "https://example.com/gitlab/api/v4/"},
		// An API elsewhere (a proxy, the tests' server) leaves the project's path whole.
		{"https://gitlab.example.com/gitlab/acme/models.git", "http://127.0.0.1:8080/gitlab", "gitlab/acme/models", "http://127.0.0.1:8080/gitlab/api/v4/"},
	} {
		f, err := forge.New(context.Background(), "gitlab", tc.url, gitlabToken, forge.Options{APIURL: tc.apiURL})
		if err != nil {
			t.Errorf("New(gitlab, %q, %q): %v", tc.url, tc.apiURL, err)
			continue
		}
		g := f.(*forge.GitLab)
		if g.Project() != tc.project || g.APIURL() != tc.want {
			t.Errorf("New(gitlab, %q, %q): project %q at %s, want %q at %s", tc.url, tc.apiURL, g.Project(), g.APIURL(), tc.project, tc.want)
		}
	}
	for _, tc := range []struct{ url, apiURL, want string }{
		{"git@gitlab.com:acme/ml/models.git", "", "over HTTP(S)"},
		{"https://gitlab.com/models.git", "", "names no OWNER/REPO"},
		{"https://gitlab.com/acme/models.git", "gitlab.example.com/api/v4", "want http(s)://HOST"},
	} {
		_, err := forge.New(context.Background(), "gitlab", tc.url, gitlabToken, forge.Options{APIURL: tc.apiURL})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(gitlab, %q, %q): %v, want an error saying %q", tc.url, tc.apiURL, err, tc.want)
		}
	}
}

func TestGitLabCloseNotesWhyThenCloses(t *testing.T) {
	t.Parallel()
	if err := gitlabReplay(t, "close").Close(context.Background(), 7, "main already deploys iris 1.1.0 in prod, so this merge request no longer changes anything."); err != nil {
		t.Fatal(err)
	}
}

func TestGitLabEnsureOpensFindsEditsAndFindsTheMergedMergeRequest(t *testing.T) {
	t.Parallel()
	g := gitlabReplay(t, "ensure")
	ctx := context.Background()
	req := forge.Request{Head: "marina/promote/iris-prod-v1.1.0", Base: "main", Title: "Promote iris to prod (v1.1.0)",
		Body: "Promotes iris v1.1.0 to prod.", Labels: []string{"marina", "promotion"}, Reviewers: []string{"ada"}, HeadSHA: headSHA}
	edited := req
	edited.Body += "\n\nEvaluation: passed."
	for _, tc := range []struct {
		name   string
		req    forge.Request
		opened bool
		want   forge.PullRequest
	}{
		{"opens one with its labels and ada, by her ID, as its reviewer", req, true, forge.PullRequest{State: forge.Open, Body: req.Body}},
		{"finds it (not a fork's) untouched", req, false, forge.PullRequest{State: forge.Open, Body: req.Body}},
		{"edits its description", edited, false, forge.PullRequest{State: forge.Open, Body: edited.Body}},
		{"finds it merged at the head", req, false, forge.PullRequest{State: forge.Merged, Body: req.Body}},
	} {
		pr, opened, err := g.Ensure(ctx, tc.req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want := tc.want
		want.Number, want.URL, want.Head, want.Base, want.HeadSHA, want.Title = 7,
			"https://gitlab.example.com/acme/ml/models/-/merge_requests/7", req.Head, "main", headSHA, req.Title
		if opened != tc.opened || *pr != want {
			t.Errorf("%s: Ensure = %+v, opened %v; want %+v, opened %v", tc.name, *pr, opened, want, tc.opened)
		}
	}
}

func TestGitLabFindReadsEveryPage(t *testing.T) {
	t.Parallel()
	g := gitlabReplay(t, "pages")
	pr, err := g.Find(context.Background(), "marina/promote/iris-prod-v1.1.0", "main")
	if err != nil || pr == nil || pr.Number != 7 {
		t.Fatalf("Find = %+v, %v; want merge request !7 from the second page", pr, err)
	}
}

func TestGitLabPostsAndCombinesCommitStatuses(t *testing.T) {
	t.Parallel()
	g := gitlabReplay(t, "statuses")
	ctx := context.Background()
	// GitLab has no error state: failure and error are both posted failed (the replay checks each body).
	for _, state := range forge.StatusStates {
		s := forge.Status{Context: "marina/ci", State: state, Description: "iris: " + state, TargetURL: "https://marina.example.com/models/iris"}
		if err := g.SetStatus(ctx, headSHA, s); err != nil {
			t.Errorf("SetStatus(%s): %v", state, err)
		}
	}
	for _, tc := range []struct {
		sha, state string
		statuses   []forge.Status
	}{
		// Two pages; marina/ci's later status (ID 31, on main) wins over its earlier one on the branch (ID 24);
		// a skipped job counts as GitLab counts it, a running one keeps the whole pending.
		{headSHA, "pending", []forge.Status{
			{Context: "marina/ci", State: "success", Description: "iris: evaluation passed", TargetURL: "https://marina.example.com/models/iris"},
			{Context: "lint", State: "success", Description: "ruff"},
			{Context: "cleanup", State: "success"},
			{Context: "build", State: "pending"},
		}},
		{otherSHA, "failure", []forge.Status{{Context: "marina/ci", State: "success"}, {Context: "build", State: "failure"}}},
		{otherSHA[:39] + "1", "pending", []forge.Status{}},
	} {
		cs, err := g.CombinedStatus(ctx, tc.sha)
		if err != nil {
			t.Fatalf("CombinedStatus(%s): %v", tc.sha, err)
		}
		if cs.SHA != tc.sha || cs.State != tc.state || len(cs.Statuses) != len(tc.statuses) {
			t.Fatalf("CombinedStatus(%s) = %+v, want %s with %+v", tc.sha, cs, tc.state, tc.statuses)
		}
		for i, s := range tc.statuses {
			if cs.Statuses[i] != s {
				t.Errorf("CombinedStatus(%s): status %d = %+v, want %+v", tc.sha, i, cs.Statuses[i], s)
			}
		}
	}
}

func TestGitLabApprovalsAreReviewsOfTheHead(t *testing.T) {
	t.Parallel()
	g := gitlabReplay(t, "approvals")
	reviews, err := g.Reviews(context.Background(), 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(reviews) != 2 || reviews[0] != (forge.Review{Reviewer: "ada", State: forge.Approved, CommitID: headSHA}) || reviews[1].Reviewer != "bob" {
		t.Errorf("Reviews = %+v, want ada's and bob's approvals of %s", reviews, headSHA)
	}
	if n := forge.Approvals(reviews, headSHA); n != 2 {
		t.Errorf("Approvals(head) = %d, want 2", n)
	}
	if n := forge.Approvals(reviews, otherSHA); n != 0 {
		t.Errorf("Approvals(a head the merge request no longer has) = %d, want 0", n)
	}
}

func TestGitLabMergesAtTheHeadOrSaysWhyNot(t *testing.T) {
	t.Parallel()
	g := gitlabReplay(t, "merge")
	// In the replay's order; each request carries sha (and squash false), which the replay checks.
	for _, tc := range []struct{ name, want string }{
		{"merged", ""},
		{"401", "(HTTP 401): the token may not merge it (the forge says: 401 Unauthorized)"},
		{"404", "(HTTP 404): no such merge request"},
		{"405", "(HTTP 405): the merge request is not mergeable (closed or merged already, a draft"},
		{"406", "(HTTP 406): the merge request is not mergeable (closed or merged already, a draft, a conflict"},
		{"409", "(HTTP 409): its head moved from c0ffee00c0ff, the commit whose checks and reviews were read (the forge says: SHA does not match HEAD"},
		{"422", "(HTTP 422): the merge request is not mergeable (closed or merged already"},
	} {
		err := g.Merge(context.Background(), 7, headSHA)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) ||
			!strings.HasPrefix(err.Error(), "gitlab acme/ml/models: merging merge request !7: the forge refused the merge")):
			t.Errorf("%s: %v, want the forge refused the merge %s", tc.name, err, tc.want)
		}
	}
}

func TestGitLabRefusesABadStatusBeforeCallingTheServer(t *testing.T) {
	t.Parallel()
	g := gitlabReplay(t, "none")
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"state", g.SetStatus(ctx, headSHA, forge.Status{Context: "marina/ci", State: "failed"}), "want one of pending"},
		{"context", g.SetStatus(ctx, headSHA, forge.Status{State: "success"}), "needs a commit and a context"},
		{"commit", func() error { _, err := g.CombinedStatus(ctx, ""); return err }(), "needs a commit"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, tc.err, tc.want)
		}
	}
}
