package cli_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/marina-dev/marina/internal/forge"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

// postedStatus is a commit status as a Gitea receives it.
type postedStatus struct {
	SHA         string `json:"-"`
	State       string `json:"state"`
	Context     string `json:"context"`
	Description string `json:"description"`
	TargetURL   string `json:"target_url"`
}

// statusGitea is a Gitea that answers GET /api/v1/version and records the commit statuses posted on
// acme/models; it returns the clone URL and what was posted so far.
func statusGitea(t *testing.T, token string) (string, func() []postedStatus) {
	t.Helper()
	var (
		mu     sync.Mutex
		posted []postedStatus
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/api/v1/version":
			fmt.Fprint(w, `{"version":"1.27.3"}`)
		case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/v1/repos/acme/models/statuses/"):
			if r.Header.Get("Authorization") != "token "+token {
				http.Error(w, `{"message":"bad credentials"}`, http.StatusUnauthorized)
				return
			}
			var s postedStatus
			if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
				t.Error(err)
			}
			s.SHA = strings.TrimPrefix(r.URL.Path, "/api/v1/repos/acme/models/statuses/")
			mu.Lock()
			posted = append(posted, s)
			mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{}`)
		default:
			t.Errorf("unexpected call %s %s", r.Method, r.URL.Path)
			http.Error(w, "not here", http.StatusTeapot)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/acme/models.git", func() []postedStatus {
		mu.Lock()
		defer mu.Unlock()
		return append([]postedStatus(nil), posted...)
	}
}

// TestCIPostStatusPostsTheOutcomeOnHead: marina ci --post-status posts marina/ci on HEAD's commit: success for a
// clean promotion, failure naming the failed gate for one below it, error when ci cannot run; the target URL is
// the model's page in marina ui. The token is in no output. Not parallel: it sets MARINA_GIT_TOKEN.
func TestCIPostStatusPostsTheOutcomeOnHead(t *testing.T) {
	const token = "ci-st4tus-t0ken"
	t.Setenv("MARINA_GIT_TOKEN", token)
	for _, tc := range []struct {
		name, accuracy string
		extra          []string
		code           int
		state, desc    string
	}{
		{"clean", "0.97", nil, 0, "success", "marina ci passed: 3 gates"},
		{"gate", "0.85", nil, 1, "failure", "iris-classifier@1.1.0 accuracy.min: accuracy 0.85 is below the minimum 0.9"},
		{"could not run", "0.97", []string{"--base", "no-such-ref"}, 2, "error", "marina ci could not run: --base"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := prBranch(t, tc.accuracy)
			url, posted := statusGitea(t, token)
			repotest.Git(t, dir, "remote", "add", "origin", url)
			head := repotest.Git(t, dir, "rev-parse", "HEAD")
			args := append([]string{"--repo", dir, "ci", "--base", "main", "--post-status", "--ui-url", "http://ui.test/"}, tc.extra...)
			code, out, errOut := marina(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			if strings.Contains(out+errOut, token) {
				t.Errorf("printed the token:\n%s%s", out, errOut)
			}
			got := posted()
			if len(got) != 1 {
				t.Fatalf("posted %+v, want one status", got)
			}
			s := got[0]
			if s.SHA != head || s.Context != "marina/ci" || s.State != tc.state || !strings.HasPrefix(s.Description, tc.desc) {
				t.Errorf("posted %+v, want %s %q… on %s", s, tc.state, tc.desc, head)
			}
			if tc.state != "error" && s.TargetURL != "http://ui.test/models/iris-classifier" {
				t.Errorf("target URL %q, want the model's page", s.TargetURL)
			}
			if !strings.Contains(errOut, "posted the commit status marina/ci on "+head[:12]+": "+tc.state) {
				t.Errorf("stderr says nothing of the status:\n%s", errOut)
			}
		})
	}
}

// TestCIPostStatusRefusesBadOptions: --post-status's options are usage errors before ci runs. Not parallel: it
// sets MARINA_GIT_TOKEN.
func TestCIPostStatusRefusesBadOptions(t *testing.T) {
	dir := prBranch(t, "0.97")
	repotest.Git(t, dir, "remote", "add", "origin", "http://127.0.0.1:1/acme/models.git")
	repotest.Git(t, dir, "remote", "add", "ssh", "git@gitea.example.com:acme/models.git")
	ci := func(extra ...string) []string {
		return append([]string{"--repo", dir, "ci", "--base", "main"}, extra...)
	}
	t.Setenv("MARINA_GIT_TOKEN", "")
	wantUsageErrors(t, []usageError{{ci("--post-status"), "--post-status needs a token of the forge's API in MARINA_GIT_TOKEN"}})
	t.Setenv("MARINA_GIT_TOKEN", "unused-t0ken")
	wantUsageErrors(t, []usageError{
		{ci("--forge", "gitea", "--remote", "ssh"), "--forge and --remote go with --post-status"},
		{ci("--post-status", "--forge", "bitbucket"), `--forge "bitbucket" (for --post-status): use one of ` + strings.Join(forge.Names, ", ")},
		{ci("--post-status", "--remote", "nowhere"), `--remote "nowhere"`},
		{ci("--post-status", "--remote", "ssh"), "--remote ssh: repository URL"},
		{ci("--post-status"), "gitea at http://127.0.0.1:1"},
	})
}
