package cli_test

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/repo/repotest"
)

var uiRE = regexp.MustCompile(`marina ui on http://\S*:([0-9]+)/`)

// startUI runs `marina ui args…` until the test ends and returns its base URL on loopback.
func startUI(t *testing.T, args ...string) string {
	t.Helper()
	m, _ := startCommand(t, uiRE, "stopped marina ui", append([]string{"ui"}, args...)...)
	return "http://127.0.0.1:" + m[1]
}

// tokenFile writes token to a file and returns its path.
func tokenFile(t *testing.T, token string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ui.token")
	if err := os.WriteFile(f, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// getWith sends GET url with an Authorization header when auth is not empty, and returns the status code.
func getWith(t *testing.T, url, auth string) int {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestUIRefusesAnAddressBeyondLoopbackWithoutAToken(t *testing.T) {
	// not parallel: $MARINA_UI_TOKEN must be unset
	t.Setenv("MARINA_UI_TOKEN", "")
	dir := exampleDirWith(t, nil)
	wantUsageErrors(t, []usageError{
		{[]string{"--repo", dir, "ui", "--addr", ":8089"}, "--addr :8089 listens beyond this machine: pass --token-file FILE (or set MARINA_UI_TOKEN)"},
		{[]string{"--repo", dir, "ui", "--addr", "0.0.0.0:8089"}, "--addr 0.0.0.0:8089 listens beyond this machine"},
		{[]string{"--repo", dir, "ui", "--addr", "192.0.2.1:8089"}, "listens beyond this machine"},
		{[]string{"--repo", dir, "ui", "--addr", "ui.example.com:8089"}, "listens beyond this machine"},
		{[]string{"--repo", dir, "ui", "--addr", "8089"}, `--addr "8089": want HOST:PORT, e.g. 127.0.0.1:8089`},
		{[]string{"--repo", dir, "ui", "--addr", ":0", "--token-file", filepath.Join(t.TempDir(), "none")}, "--token-file: open"},
		{[]string{"--repo", dir, "ui", "--addr", ":0", "--token-file", tokenFile(t, "short")}, "the token has 5 characters, use at least 16"},
		{[]string{"--repo", dir, "ui", "--addr", ":0", "--token-file", tokenFile(t, "")}, "the token has 0 characters"},
		{[]string{"--repo", dir, "ui", "--timeout", "0s"}, "--timeout 0s"},
		{[]string{"--repo", dir, "ui", "--prometheus", "prometheus:9090"}, "--prometheus: prometheus address: want http://host:port"},
		{[]string{"--repo", dir, "ui", "--prometheus", "http://admin:hunter2@prometheus:9090"}, "--prometheus: prometheus address must not hold credentials"},
		{[]string{"--repo", dir, "ui", "extra"}, `unknown command "extra" for "marina ui"`},
		{[]string{"--repo", dir, "ui", "-o", "json"}, "marina ui has no -o output"},
		{[]string{"--repo", t.TempDir(), "ui"}, "not a marina model repository"},
	})
	t.Setenv("MARINA_UI_TOKEN", "tiny")
	wantUsageErrors(t, []usageError{{[]string{"--repo", dir, "ui", "--addr", ":0"}, "$MARINA_UI_TOKEN: the token has 4 characters"}})
}

func TestUIServesTheDashboardAndStopsWhenCancelled(t *testing.T) {
	// not parallel: $MARINA_UI_TOKEN is set for the last case
	t.Setenv("MARINA_UI_TOKEN", "")
	dir := exampleDirWith(t, nil)
	const token = "0123456789abcdef0123456789abcdef"

	local := startUI(t, "--repo", filepath.Join(dir, "applications"), "--addr", "127.0.0.1:0")
	if code, body := get(t, local+"/"); code != 200 || !strings.Contains(body, `data-model="iris-classifier" data-env="prod"`) {
		t.Errorf("loopback, no token: %d\n%s", code, body)
	}
	if code, _ := get(t, local+"/models/vision-gpu"); code != 200 {
		t.Errorf("a model page: %d", code)
	}

	open := startUI(t, "--repo", dir, "--addr", "0.0.0.0:0", "--token-file", tokenFile(t, token))
	for auth, want := range map[string]int{"": 401, "Bearer nope": 401, "Bearer " + token: 200} {
		if code := getWith(t, open+"/", auth); code != want {
			t.Errorf("every interface, Authorization %q: %d, want %d", auth, code, want)
		}
	}

	t.Setenv("MARINA_UI_TOKEN", token)
	env := startUI(t, "--repo", dir, "--addr", ":0")
	if code := getWith(t, env+"/", ""); code != 401 {
		t.Errorf("$MARINA_UI_TOKEN set, no token sent: %d, want 401", code)
	}
	if code := getWith(t, env+"/", "Bearer "+token); code != 200 {
		t.Errorf("$MARINA_UI_TOKEN's token sent: %d, want 200", code)
	}
	repotest.Clean(t, dir)
}

func TestUIFollowsAGitRemote(t *testing.T) {
	t.Setenv("MARINA_UI_TOKEN", "")
	dir := exampleDirWith(t, nil)
	bare := filepath.Join(t.TempDir(), "models.git")
	repotest.Git(t, dir, "clone", "-q", "--bare", dir, bare)
	wantUsageErrors(t, []usageError{
		{[]string{"ui", "--git", ""}, "--git: no URL"},
		{[]string{"ui", "--git-branch", "main"}, "--git-branch, --git-credentials and --git-dir go with --git URL"},
		{[]string{"--repo", dir, "ui", "--git", "file://" + bare}, "with --git: name a directory inside the clone"},
		{[]string{"ui", "--git", "file://" + bare, "--git-interval", "0s"}, "--git-interval 0s"},
		{[]string{"ui", "--git", "file://" + bare, "--git-branch", "nope"}, `--git: mirror: file://` + bare + ` has no branch "nope"`},
		{[]string{"ui", "--git", "file://" + bare, "--git-credentials", t.TempDir()}, "--git-credentials: git credentials: Secret"},
	})

	base := startUI(t, "--git", "file://"+bare, "--git-dir", filepath.Join(t.TempDir(), "clone"), "--git-interval", "50ms", "--addr", "127.0.0.1:0")
	if code, body := get(t, base+"/"); code != 200 || !strings.Contains(body, `data-model="iris-classifier" data-env="prod"`) {
		t.Fatalf("the matrix from the clone: %d\n%s", code, body)
	}
	repotest.WriteFile(t, dir, "NOTES.md", "a new commit\n")
	repotest.Git(t, dir, "add", "NOTES.md")
	repotest.Git(t, dir, "commit", "-qm", "notes")
	repotest.Git(t, dir, "push", "-q", bare, "HEAD:main")
	head := strings.TrimSpace(repotest.Git(t, dir, "rev-parse", "HEAD"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get(t, base+"/")
		if strings.Contains(body, head) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard does not show the pushed commit %s after 10s", head)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
