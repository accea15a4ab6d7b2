//go:build e2e

package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/testenv"
)

// giteaModels is the example model repository in a work tree (main checked out) whose origin is a repository
// ml-platform of the bot on a real Gitea.
type giteaModels struct {
	g        *testenv.Gitea
	work     string
	fullName string
	cloneURL string
	// git runs the git CLI in work as the bot.
	git func(args ...string) string
}

// newGiteaRepo makes the bot's repository ml-platform on a new real Gitea and a work tree of the example model
// repository for it, on main; push adds it as origin and pushes main.
func newGiteaRepo(t *testing.T) *giteaModels {
	t.Helper()
	g := testenv.StartGitea(t)
	var created struct {
		FullName string `json:"full_name"`
		CloneURL string `json:"clone_url"`
	}
	giteaAPI(t, g.URL, g.Bot.Token, http.MethodPost, "/user/repos",
		map[string]any{"name": "ml-platform", "default_branch": "main"}, http.StatusCreated, &created)
	m := &giteaModels{g: g, work: repotest.Example(t, nil), fullName: created.FullName, cloneURL: created.CloneURL}
	m.git = gitAs(t, m.work, g.Bot)
	m.git("branch", "-M", "main")
	return m
}

// push adds the Gitea repository as origin and pushes main to it.
func (m *giteaModels) push() {
	m.git("remote", "add", "origin", m.cloneURL)
	m.git("push", "-q", "origin", "main")
}

// register registers iris-classifier version with a copy of 1.0.0's model file and accuracy (latency 4 ms).
func (m *giteaModels) register(t *testing.T, version, accuracy string) {
	t.Helper()
	model := filepath.Join(t.TempDir(), "iris-v"+version+".onnx")
	copyFile(t, filepath.Join(m.work, "models/iris-classifier/artifacts/v1.0.0.onnx"), model)
	if code, out, errOut := m.marina(t, nil, "model", "register", "iris-classifier", "--version", version, "--file", model,
		"--uri", "s3://models/iris-classifier/"+version, "--metric", "accuracy="+accuracy, "--metric", "latency_p95_ms=4"); code != 0 {
		t.Fatalf("register %s: exit %d\n%s%s", version, code, out, errOut)
	}
}

// newGiteaModels is newGiteaRepo with spec.ui.url set in marina.yaml and iris-classifier 1.1.0 (accuracy 0.985)
// and 1.2.0 (accuracy 0.5, below the gate) registered on main, pushed.
func newGiteaModels(t *testing.T) *giteaModels {
	t.Helper()
	m := newGiteaRepo(t)
	project := filepath.Join(m.work, "marina.yaml")
	b, err := os.ReadFile(project)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nspec:\n") || strings.Contains(string(b), "\n  ui:") {
		t.Fatalf("marina.yaml has no spec or has spec.ui already:\n%s", b)
	}
	if err := os.WriteFile(project, []byte(strings.Replace(string(b), "\nspec:\n", "\nspec:\n  ui:\n    url: http://marina-ui.test\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	m.git("commit", "-qam", "marina ui's URL")
	m.register(t, "1.1.0", "0.985")
	m.register(t, "1.2.0", "0.5")
	m.push()
	return m
}

// token is the bot's token as a user sets it, in MARINA_GIT_TOKEN alone.
func (m *giteaModels) token() []string { return []string{"MARINA_GIT_TOKEN=" + m.g.Bot.Token} }

// marina runs marina in the work tree as the bot with extraEnv, and returns its exit code and output; printing
// either user's token fails the test.
func (m *giteaModels) marina(t *testing.T, extraEnv []string, args ...string) (int, string, string) {
	t.Helper()
	g := m.g
	cmd := exec.Command(marina, args...)
	cmd.Dir = m.work
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME="+g.Bot.Name, "GIT_AUTHOR_EMAIL="+g.Bot.Email,
		"GIT_COMMITTER_NAME="+g.Bot.Name, "GIT_COMMITTER_EMAIL="+g.Bot.Email)
	cmd.Env = append(slices.Clone(cmd.Env), extraEnv...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("marina %s: %v", strings.Join(args, " "), err)
	}
	if s := out.String() + errOut.String(); strings.Contains(s, g.Bot.Token) || strings.Contains(s, g.Admin.Token) {
		t.Errorf("marina %s printed a token:\n%s", strings.Join(args, " "), s)
	}
	return code, out.String(), errOut.String()
}

// commitStatus is a commit's combined status as Gitea's API reads it back.
type commitStatus struct {
	State    string
	Statuses []struct {
		Context, Status, Description string
		TargetURL                    string `json:"target_url"`
	}
}

// status reads the combined status of commit sha.
func (m *giteaModels) status(t *testing.T, sha string) commitStatus {
	t.Helper()
	var s commitStatus
	giteaAPI(t, m.g.URL, m.g.Bot.Token, http.MethodGet, "/repos/"+m.fullName+"/commits/"+sha+"/status", nil, http.StatusOK, &s)
	return s
}

// TestCIPostStatusReadsBackOnTheCommitOnGitea: on a pushed branch promoting iris-classifier 1.1.0 to staging,
// marina ci --post-status posts marina/ci success on the head's commit, linked to the model's page in marina
// ui; on one promoting 1.2.0 (below the accuracy gate, forced past promote's own check) it posts failure
// naming the gate, and exits 1. The token is in no output.
func TestCIPostStatusReadsBackOnTheCommitOnGitea(t *testing.T) {
	m := newGiteaModels(t)
	for _, tc := range []struct {
		branch, version string
		code            int
		state, desc     string
	}{
		{"ci-good", "1.1.0", 0, "success", "marina ci passed: 3 gates"},
		{"ci-bad", "1.2.0", 1, "failure", "iris-classifier@1.2.0 accuracy.min: accuracy 0.5 is below the minimum"},
	} {
		m.git("checkout", "-q", "-b", tc.branch, "main")
		if code, out, errOut := m.marina(t, nil, "promote", "iris-classifier@"+tc.version, "--env", "staging", "--force"); code != 0 {
			t.Fatalf("promote %s: exit %d\n%s%s", tc.version, code, out, errOut)
		}
		m.git("push", "-q", "origin", tc.branch)
		head := m.git("rev-parse", "HEAD")
		code, out, errOut := m.marina(t, m.token(), "ci", "--base", "main", "--post-status")
		if code != tc.code {
			t.Fatalf("ci --post-status on %s: exit %d, want %d\n%s%s", tc.branch, code, tc.code, out, errOut)
		}
		t.Logf("marina ci --post-status on %s:\n%s", tc.branch, errOut)
		s := m.status(t, head)
		if s.State != tc.state || len(s.Statuses) != 1 {
			t.Fatalf("combined status of %s (%s): %+v, want %s from marina/ci", head, tc.branch, s, tc.state)
		}
		got := s.Statuses[0]
		if got.Context != "marina/ci" || got.Status != tc.state || !strings.HasPrefix(got.Description, tc.desc) ||
			got.TargetURL != "http://marina-ui.test/models/iris-classifier" {
			t.Errorf("status of %s (%s): %+v, want %s %q… linked to the model's page", head, tc.branch, got, tc.state, tc.desc)
		}
	}
}
