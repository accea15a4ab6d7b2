package forge_test

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/forge"
)

// The commits of testdata/github/*.json: plainly test values.
const (
	ghHead = "0123456789abcdef0123456789abcdef01234567"
	ghOld  = "feedfacefeedfacefeedfacefeedfacefeedface"
)

// gitHubToken is the token the GitHub tests authenticate with; the replay server wants it as a bearer token.
const gitHubToken = "gh-t0ken-for-tests"

// replayGitHub is a GitHub replaying testdata/github/NAME.json, and the Forge for acme/models on it. Every request
// must carry the token as a bearer token, and marina as its user agent.
func replayGitHub(t *testing.T, name string) forge.Forge {
	t.Helper()
	srv := replay(t, "github/"+name, func(h http.Header) bool {
		return h.Get("Authorization") == "Bearer "+gitHubToken && h.Get("User-Agent") == "marina"
	})
	f, err := forge.New(context.Background(), "github", "https://github.com/acme/models.git", gitHubToken, forge.Options{APIURL: srv.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestGitHubEnsureOpensFindsEditsAndFindsTheMergedPullRequest(t *testing.T) {
	t.Parallel()
	f := replayGitHub(t, "ensure")
	ctx := context.Background()
	req := func(body string) forge.Request {
		return forge.Request{Head: "marina/promote/iris-prod-v1.1.0", Base: "main", Title: "promote iris to prod: v1.1.0",
			Body: body, Labels: []string{"marina", "promotion"}, Reviewers: []string{"ada"}, HeadSHA: ghHead}
	}
	// The steps run in order on one server: each is what the next one's exchanges follow.
	for _, step := range []struct {
		name       string
		body       string
		wantOpened bool
		wantState  forge.State
		wantBody   string
	}{
		// None open; the closed ones are not merged, or merged at another commit: a new one, labelled, ada asked
		// to review it.
		{"opens", "body v1", true, forge.Open, "body v1"},
		{"edits the body", "body v2", false, forge.Open, "body v2"},
		{"finds it as it is", "body v2", false, forge.Open, "body v2"},
		{"finds it merged", "body v2", false, forge.Merged, "body v2"},
	} {
		pr, opened, err := f.Ensure(ctx, req(step.body))
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if opened != step.wantOpened || pr.State != step.wantState || pr.Body != step.wantBody || pr.Number != 12 ||
			!strings.HasSuffix(pr.URL, "/acme/models/pull/12") || pr.Head != "marina/promote/iris-prod-v1.1.0" ||
			pr.Base != "main" || pr.HeadSHA != ghHead {
			t.Errorf("%s: Ensure = %+v, opened %v; want #12 %s with %q, opened %v", step.name, pr, opened, step.wantState,
				step.wantBody, step.wantOpened)
		}
	}
}

func TestGitHubCloseCommentsWhyThenCloses(t *testing.T) {
	t.Parallel()
	f := replayGitHub(t, "close")
	if err := f.Close(context.Background(), 12, "main already deploys iris 1.1.0 in prod, so this pull request no longer changes anything."); err != nil {
		t.Fatal(err)
	}
}

func TestGitHubGetMapsTheState(t *testing.T) {
	t.Parallel()
	f := replayGitHub(t, "get")
	for _, tc := range []struct {
		number int64
		want   forge.State
	}{{12, forge.Open}, {9, forge.Closed}, {8, forge.Merged}} {
		pr, err := f.Get(context.Background(), tc.number)
		if err != nil {
			t.Fatal(err)
		}
		if pr.Number != tc.number || pr.State != tc.want {
			t.Errorf("Get(%d) = %+v, want state %s", tc.number, pr, tc.want)
		}
	}
}

func TestGitHubReviewsSpanPagesAndOnlyCurrentApprovalsCount(t *testing.T) {
	t.Parallel()
	f := replayGitHub(t, "reviews")
	reviews, err := f.Reviews(context.Background(), 12)
	if err != nil {
		t.Fatal(err)
	}
	want := []forge.Review{
		{Reviewer: "ada", State: forge.Approved, CommitID: ghOld},
		{Reviewer: "bob", State: forge.Approved, CommitID: ghHead},
		{Reviewer: "dave", State: forge.ChangesRequested, CommitID: ghOld},
		{Reviewer: "erin", State: forge.Commented, CommitID: ghHead, Dismissed: true},
		{Reviewer: "carol", State: forge.Commented, CommitID: ghHead},
		{Reviewer: "dave", State: forge.Approved, CommitID: ghHead},
	}
	if !reflect.DeepEqual(reviews, want) {
		t.Errorf("Reviews (two pages) =\n%+v\nwant\n%+v", reviews, want)
	}
	// ada approved an earlier head, erin's review was dismissed: bob and dave count.
	if n := forge.Approvals(reviews, ghHead); n != 2 {
		t.Errorf("Approvals = %d, want 2", n)
	}
}

func TestGitHubSetStatusAndCombinedStatus(t *testing.T) {
	t.Parallel()
	f := replayGitHub(t, "statuses")
	ctx := context.Background()
	if err := f.SetStatus(ctx, ghHead, forge.Status{Context: "marina/ci", State: "success", Description: "3 models checked",
		TargetURL: "https://marina.test/models/iris"}); err != nil {
		t.Fatal(err)
	}
	// GitHub's combined status holds one status per context; the failing commit's answer repeats marina/ci with
	// an earlier status after its latest, which must not count.
	for _, tc := range []struct {
		sha   string
		state string
		want  map[string]string
	}{
		{ghHead, "success", map[string]string{"marina/ci": "success", "lint": "success"}},
		{"2222222222222222222222222222222222222222", "failure", map[string]string{"marina/ci": "failure", "lint": "success"}},
		{"3333333333333333333333333333333333333333", "pending", map[string]string{}},
	} {
		cs, err := f.CombinedStatus(ctx, tc.sha)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, s := range cs.Statuses {
			got[s.Context] = s.State
		}
		if cs.SHA != tc.sha || cs.State != tc.state || len(cs.Statuses) != len(tc.want) || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("CombinedStatus(%s) = %+v, want %s with %v", tc.sha, cs, tc.state, tc.want)
		}
	}
}

func TestGitHubMergeAtTheHeadOrSaysWhyNot(t *testing.T) {
	t.Parallel()
	f := replayGitHub(t, "merge")
	for _, tc := range []struct {
		number int64
		want   string
	}{
		{12, ""},
		{13, "HTTP 405): the pull request is not mergeable"},
		{14, "HTTP 409): its head moved from 0123456789ab"},
	} {
		err := f.Merge(context.Background(), tc.number, ghHead)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Merge(#%d): %v", tc.number, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "github acme/models: merging pull request")):
			t.Errorf("Merge(#%d): %v, want an error saying %q", tc.number, err, tc.want)
		}
	}
}

// roundTripper answers every request with answer, after recording its URL.
type roundTripper struct {
	urls   *[]string
	answer string
}

func (rt roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	*rt.urls = append(*rt.urls, r.URL.String())
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(rt.answer)), Request: r}, nil
}

func TestGitHubAPIIsAPIGitHubComOrTheEnterpriseServersAPIV3(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ repoURL, want string }{
		{"https://github.com/acme/models.git", "https://api.github.com/repos/acme/models/pulls/7"},
		{"https://GitHub.com/acme/models", "https://api.github.com/repos/acme/models/pulls/7"},
		{"https://ghe.example.com/acme/models.git", "https://ghe.example.com/api/v3/repos/acme/models/pulls/7"},
		{"https://ghe.example.com:8443/acme/models.git", "https://ghe.example.com:8443/api/v3/repos/acme/models/pulls/7"},
	} {
		var urls []string
		client := &http.Client{Transport: roundTripper{urls: &urls, answer: `{"number": 7, "state": "open"}`}}
		f, err := forge.New(context.Background(), "github", tc.repoURL, gitHubToken, forge.Options{HTTPClient: client})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Get(context.Background(), 7); err != nil {
			t.Fatal(err)
		}
		if len(urls) != 1 || urls[0] != tc.want {
			t.Errorf("%s: requested %v, want %s", tc.repoURL, urls, tc.want)
		}
	}
}
