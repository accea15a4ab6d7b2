//go:build e2e

package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/testenv"
)

// TestGiteaTakesAPushAPullRequestACommitStatusAndAReview shows StartGitea runs a real forge: the bot creates a repository through the API, pushes to it with
// the git CLI over HTTP, opens a pull request from a branch and posts a commit status on its head, which reads
// back; the admin approves the pull request.
func TestGiteaTakesAPushAPullRequestACommitStatusAndAReview(t *testing.T) {
	g := testenv.StartGitea(t)
	var version struct{ Version string }
	giteaAPI(t, g.URL, "", http.MethodGet, "/version", nil, http.StatusOK, &version)
	if want := strings.TrimPrefix(testenv.GiteaVersion, "v"); version.Version != want {
		t.Errorf("GET /version: %q, want %q", version.Version, want)
	}

	var repo struct {
		FullName string `json:"full_name"`
		CloneURL string `json:"clone_url"`
	}
	giteaAPI(t, g.URL, g.Bot.Token, http.MethodPost, "/user/repos",
		map[string]any{"name": "models", "default_branch": "main"}, http.StatusCreated, &repo)
	if repo.FullName != g.Bot.Name+"/models" || !strings.HasPrefix(repo.CloneURL, g.URL+"/") {
		t.Fatalf("created %q at %q, want %s/models under %s", repo.FullName, repo.CloneURL, g.Bot.Name, g.URL)
	}

	work := t.TempDir()
	git := gitAs(t, work, g.Bot)
	git("init", "-q", "-b", "main")
	repotest.WriteFile(t, work, "marina.yaml", "kind: Project\n")
	git("add", "-A")
	git("commit", "-q", "-m", "initial")
	git("push", "-q", repo.CloneURL, "main")
	git("checkout", "-q", "-b", "promote/iris")
	repotest.WriteFile(t, work, "models/iris/prod.yaml", "version: 2\n")
	git("add", "-A")
	git("commit", "-q", "-m", "promote iris to prod")
	git("push", "-q", repo.CloneURL, "promote/iris")
	head := git("rev-parse", "HEAD")

	var pr struct {
		Number int
		State  string
		Head   struct{ Sha string }
	}
	giteaAPI(t, g.URL, g.Bot.Token, http.MethodPost, "/repos/"+repo.FullName+"/pulls",
		map[string]any{"head": "promote/iris", "base": "main", "title": "promote iris to prod"}, http.StatusCreated, &pr)
	if pr.State != "open" || pr.Head.Sha != head {
		t.Fatalf("pull request #%d is %s at %s, want open at the pushed %s", pr.Number, pr.State, pr.Head.Sha, head)
	}

	giteaAPI(t, g.URL, g.Bot.Token, http.MethodPost, "/repos/"+repo.FullName+"/statuses/"+head,
		map[string]any{"state": "success", "context": "marina/gates", "description": "gates 3/3 passed",
			"target_url": "http://marina.test/models/iris"}, http.StatusCreated, nil)
	var status struct {
		State    string
		Statuses []struct{ Context, Status, Description string }
	}
	giteaAPI(t, g.URL, g.Bot.Token, http.MethodGet, "/repos/"+repo.FullName+"/commits/"+head+"/status", nil,
		http.StatusOK, &status)
	if status.State != "success" || len(status.Statuses) != 1 || status.Statuses[0].Context != "marina/gates" ||
		status.Statuses[0].Description != "gates 3/3 passed" {
		t.Errorf("combined status of %s: %+v, want success from marina/gates alone", head, status)
	}

	prPath := "/repos/" + repo.FullName + "/pulls/" + strconv.Itoa(pr.Number)
	giteaAPI(t, g.URL, g.Admin.Token, http.MethodPost, prPath+"/reviews",
		map[string]any{"event": "APPROVED", "body": "looks good"}, http.StatusOK, nil)
	var reviews []struct {
		State string
		User  struct{ Login string }
	}
	giteaAPI(t, g.URL, g.Bot.Token, http.MethodGet, prPath+"/reviews", nil, http.StatusOK, &reviews)
	if len(reviews) != 1 || reviews[0].State != "APPROVED" || reviews[0].User.Login != g.Admin.Name {
		t.Errorf("reviews of #%d: %+v, want one APPROVED by %s", pr.Number, reviews, g.Admin.Name)
	}
}

// giteaAPI calls Gitea's REST API at base+"/api/v1"+path with token (none when empty) and body as JSON, fails
// the test unless it answers want, and decodes the answer into out (when not nil).
func giteaAPI(t *testing.T, base, token, method, path string, body any, want int, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+"/api/v1"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s, want %d: %s", method, path, resp.Status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// gitAs returns a runner of the git CLI in dir as u: its token goes as basic auth in an http.extraHeader given
// through the environment (GIT_CONFIG_COUNT), so it is in no command line, remote URL or output. The runner
// returns git's trimmed output and fails the test when git does.
func gitAs(t *testing.T, dir string, u testenv.GiteaUser) func(args ...string) string {
	t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte(u.Name + ":" + u.Token))
	env := append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME="+u.Name, "GIT_AUTHOR_EMAIL="+u.Email, "GIT_COMMITTER_NAME="+u.Name,
		"GIT_COMMITTER_EMAIL="+u.Email,
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: Basic "+auth)
	return func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
}
