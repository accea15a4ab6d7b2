package forge_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/internal/forge"
	"github.com/marina-dev/marina/internal/writeback"
)

func TestParseRepoURLMapsACloneURLToTheAPIAndOwnerAndName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want forge.Repository
	}{
		{"http://127.0.0.1:3000/marina-bot/models.git", forge.Repository{BaseURL: "http://127.0.0.1:3000", Owner: "marina-bot", Name: "models"}},
		{"https://gitea.example.com/acme/models", forge.Repository{BaseURL: "https://gitea.example.com", Owner: "acme", Name: "models"}},
		{"https://gitea.example.com/acme/models/", forge.Repository{BaseURL: "https://gitea.example.com", Owner: "acme", Name: "models"}},
		{"https://example.com/git/acme/models.git", forge.Repository{BaseURL: "https://example.com/git", Owner: "acme", Name: "models"}},
		{"https://bot:s3cret@gitea.example.com:8443/acme/ml.models.git", forge.Repository{BaseURL: "https://gitea.example.com:8443", Owner: "acme", Name: "ml.models"}},
	} {
		got, err := forge.ParseRepoURL(tc.url)
		if err != nil {
			t.Errorf("ParseRepoURL(%q): %v", tc.url, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseRepoURL(%q) = %+v, want %+v", tc.url, got, tc.want)
		}
		if got.FullName() != tc.want.Owner+"/"+tc.want.Name {
			t.Errorf("FullName() = %q", got.FullName())
		}
	}
}

func TestParseRepoURLRefusesWhatNamesNoHTTPRepository(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, want string }{
		{"git@gitea.example.com:acme/models.git", "over HTTP(S)"},
		{"ssh://git@gitea.example.com/acme/models.git", "scheme ssh"},
		{"file:///srv/git/models.git", "scheme file"},
		{"/srv/git/models.git", "over HTTP(S)"},
		{"https://gitea.example.com/models.git", "names no OWNER/REPO"},
		{"https://gitea.example.com/", "names no OWNER/REPO"},
		{"https://gitea.example.com/acme/.git", "empty owner or repository"},
		{"https://gitea.example.com/acme/models?x=1", "no query"},
		{"https://bot:s3cret@gitea.example.com/models", "names no OWNER/REPO"},
	} {
		_, err := forge.ParseRepoURL(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRepoURL(%q): %v, want an error saying %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("ParseRepoURL(%q): the error quotes the password: %v", tc.url, err)
		}
	}
}

func TestNewRefusesAnUnknownForgeOrNoToken(t *testing.T) {
	t.Parallel()
	want := `unknown forge "bitbucket": use one of ` + strings.Join(forge.Names, ", ")
	if _, err := forge.New(context.Background(), "bitbucket", "https://example.com/a/b.git", "t0ken-abc", forge.Options{}); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("New(bitbucket): %v, want unknown forge naming those built", err)
	}
	for _, name := range forge.Names {
		if _, err := forge.New(context.Background(), name, "https://example.com/a/b.git", "", forge.Options{}); err == nil || !strings.Contains(err.Error(), "MARINA_GIT_TOKEN") {
			t.Errorf("New(%s) without a token: %v, want an error naming MARINA_GIT_TOKEN", name, err)
		}
	}
}

// echoServer is a forge (a Gitea that knows its version, for Gitea's SDK; a GitHub Enterprise Server at the same
// root) that answers every other call 401 with a message quoting the request's token header back, as a careless
// proxy might, and what it got in each form: the Authorization header (Gitea's "token …", GitHub's "Bearer …"), or
// GitLab's Private-Token.
func echoServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/v1/version" {
			_ = json.NewEncoder(w).Encode(map[string]string{"version": "1.27.3"})
			return
		}
		auth := r.Header.Get("Authorization")
		if auth == "" {
			auth = r.Header.Get("Private-Token")
		}
		_, tok, found := strings.Cut(auth, " ")
		if !found {
			tok = auth
		}
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "bad credentials: " + auth + " (" + tok + ", " +
			base64.StdEncoding.EncodeToString([]byte("marina:"+tok)) + ")"})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestErrorsNeverCarryTheToken(t *testing.T) {
	t.Parallel()
	for _, forgeName := range forge.Names {
		t.Run(forgeName, func(t *testing.T) {
			t.Parallel()
			const token = "f0rge-t0ken-7c1d9e"
			srv := echoServer(t)
			ctx := context.Background()
			g, err := forge.New(ctx, forgeName, srv.URL+"/acme/models.git", token, forge.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if gt, ok := g.(*forge.Gitea); ok {
				if got := gt.Repository(); got.Owner != "acme" || got.Name != "models" || got.BaseURL != srv.URL {
					t.Errorf("Repository() = %+v", got)
				}
			}
			calls := map[string]func() error{
				"Find": func() error { _, err := g.Find(ctx, "marina/promote/iris-prod-v1.1.0", "main"); return err },
				"Ensure": func() error {
					_, _, err := g.Ensure(ctx, forge.Request{Head: "h", Base: "main", Title: "promote", Labels: []string{"marina"}})
					return err
				},
				"Get": func() error { _, err := g.Get(ctx, 1); return err },
				"SetStatus": func() error {
					return g.SetStatus(ctx, "0123abcd", forge.Status{Context: "marina/ci", State: "success"})
				},
				"CombinedStatus": func() error { _, err := g.CombinedStatus(ctx, "0123abcd"); return err },
				"Reviews":        func() error { _, err := g.Reviews(ctx, 1); return err },
				"Merge":          func() error { return g.Merge(ctx, 1, "0123abcd") },
				"Close":          func() error { return g.Close(ctx, 1, "the base deploys it already") },
				"OpenPullRequest": func() error {
					_, err := forge.PullRequestOpener{Forge: forgeName, Token: token}.OpenPullRequest(ctx, writeback.PullRequest{
						RepoURL: srv.URL + "/acme/models.git", Head: "marina/rollback/iris-prod-v1.2.0", Base: "main", Title: "rollback"})
					return err
				},
			}
			for name, call := range calls {
				err := call()
				if err == nil {
					t.Errorf("%s: no error from a server answering 401", name)
					continue
				}
				msg := err.Error()
				if strings.Contains(msg, token) || strings.Contains(msg, base64.StdEncoding.EncodeToString([]byte("marina:"+token))) {
					t.Errorf("%s: the error carries the token: %s", name, msg)
				}
				want := "bad credentials"
				if name == "Merge" {
					want = "HTTP 401): the token may not merge it"
					if forgeName != "gitea" { // Gitea's SDK does not read the message of a refused merge
						want += " (the forge says: bad credentials"
					}
				}
				if !strings.Contains(msg, want) || !strings.Contains(msg, "acme/models") || !strings.HasPrefix(msg, forgeName+" ") {
					t.Errorf("%s: %s, want the forge, the server's message and the repository", name, msg)
				}
			}
		})
	}
}

func TestForgesRefuseABadStatusOrRequestBeforeCallingTheServer(t *testing.T) {
	t.Parallel()
	srv := echoServer(t)
	ctx := context.Background()
	for _, forgeName := range forge.Names {
		g, err := forge.New(ctx, forgeName, srv.URL+"/acme/models", "another-t0ken", forge.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			err  error
			want string
		}{
			{"state", g.SetStatus(ctx, "abc", forge.Status{Context: "marina/ci", State: "green"}), "want one of pending"},
			{"context", g.SetStatus(ctx, "abc", forge.Status{State: "success"}), "needs a commit and a context"},
			{"commit", func() error { _, err := g.CombinedStatus(ctx, ""); return err }(), "needs a commit"},
			{"title", func() error { _, _, err := g.Ensure(ctx, forge.Request{Head: "h", Base: "main"}); return err }(), "needs a head branch, a base branch and a title"},
		} {
			if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
				t.Errorf("%s: %s: %v, want %q", forgeName, tc.name, tc.err, tc.want)
			}
		}
	}
}

func TestApprovalsCountsEachReviewersLatestApprovalOfTheHead(t *testing.T) {
	t.Parallel()
	const head = "c0ffee"
	approve := func(who string) forge.Review {
		return forge.Review{Reviewer: who, State: forge.Approved, CommitID: head}
	}
	for _, tc := range []struct {
		name    string
		reviews []forge.Review
		want    int
	}{
		{"none", nil, 0},
		{"one", []forge.Review{approve("ada")}, 1},
		{"two reviewers", []forge.Review{approve("ada"), approve("bob")}, 2},
		{"twice by one", []forge.Review{approve("ada"), approve("ada")}, 1},
		{"a comment does not count", []forge.Review{{Reviewer: "ada", State: forge.Commented, CommitID: head}}, 0},
		{"a comment after an approval keeps it", []forge.Review{approve("ada"), {Reviewer: "ada", State: forge.Commented}}, 1},
		{"changes requested after the approval", []forge.Review{approve("ada"), {Reviewer: "ada", State: forge.ChangesRequested, CommitID: head}}, 0},
		{"approved after changes requested", []forge.Review{{Reviewer: "ada", State: forge.ChangesRequested}, approve("ada")}, 1},
		{"dismissed", []forge.Review{{Reviewer: "ada", State: forge.Approved, CommitID: head, Dismissed: true}}, 0},
		{"stale", []forge.Review{{Reviewer: "ada", State: forge.Approved, CommitID: head, Stale: true}}, 0},
		{"of an earlier head", []forge.Review{{Reviewer: "ada", State: forge.Approved, CommitID: "beef"}}, 0},
	} {
		if got := forge.Approvals(tc.reviews, head); got != tc.want {
			t.Errorf("%s: Approvals = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestCombinedStatusFindsAContext(t *testing.T) {
	t.Parallel()
	cs := &forge.CombinedStatus{Statuses: []forge.Status{{Context: "marina/ci", State: "success"}, {Context: "lint", State: "pending"}}}
	if s := cs.Find("lint"); s == nil || s.State != "pending" {
		t.Errorf("Find(lint) = %+v", s)
	}
	if s := cs.Find("build"); s != nil {
		t.Errorf("Find(build) = %+v, want nil", s)
	}
}

func TestOpenerTakesTheWriteBackToken(t *testing.T) {
	t.Parallel()
	for _, c := range []writeback.Credentials{{Username: "bot", Password: "p4ss-t0ken"}, {BearerToken: "p4ss-t0ken"}} {
		o, err := forge.Opener("gitea", c)
		if g, ok := o.(forge.PullRequestOpener); err != nil || !ok || g.Forge != "gitea" || g.Token != "p4ss-t0ken" || g.Options.Username != c.Username {
			t.Fatalf("Opener(gitea, %+v) = %+v, %v", c, o, err)
		}
	}
	if _, err := forge.Opener("gitea", writeback.Credentials{}); err == nil || !strings.Contains(err.Error(), "needs a token") {
		t.Fatalf("without a token: %v", err)
	}
	if _, err := forge.Opener("bitbucket", writeback.Credentials{Password: "t"}); err == nil || !strings.Contains(err.Error(), `unknown forge "bitbucket"`) {
		t.Fatalf("Opener(bitbucket): %v", err)
	}
}

// TestTheCRDAndModelYAMLNameTheForgesBuilt: spec.gitWriteBack.pullRequest.forge in the ModelDeployment CRD and
// writeBack.pullRequest.forge in model.yaml's schema take exactly the forges New connects to.
func TestTheCRDAndModelYAMLNameTheForgesBuilt(t *testing.T) {
	t.Parallel()
	var crd apiextensionsv1.CustomResourceDefinition
	b, err := os.ReadFile("../../config/crd/bases/marina.dev_modeldeployments.yaml")
	if err == nil {
		err = yaml.Unmarshal(b, &crd)
	}
	if err != nil {
		t.Fatal(err)
	}
	pr := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["gitWriteBack"].Properties["pullRequest"]
	var inCRD []string
	for _, v := range pr.Properties["forge"].Enum {
		inCRD = append(inCRD, strings.Trim(string(v.Raw), `"`))
	}
	var schema struct {
		Defs map[string]struct {
			Properties map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"properties"`
		} `json:"$defs"`
	}
	if b, err = os.ReadFile("../../schemas/application.schema.json"); err == nil {
		err = json.Unmarshal(b, &schema)
	}
	if err != nil {
		t.Fatal(err)
	}
	var inSchema []string
	for _, d := range schema.Defs {
		if e := d.Properties["pullRequest"].Properties["forge"].Enum; e != nil {
			inSchema = e
		}
	}
	if !slices.Equal(inCRD, forge.Names) || !slices.Equal(inSchema, forge.Names) {
		t.Errorf("the CRD takes %v and model.yaml's schema %v, want the forges built: %v", inCRD, inSchema, forge.Names)
	}
}
