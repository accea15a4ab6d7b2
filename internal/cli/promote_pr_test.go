package cli_test

import (
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/ci/citest"
	"github.com/marina-dev/marina/internal/cli"
	"github.com/marina-dev/marina/internal/forge"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

func TestPromoteBranchNamesModelEnvironmentAndVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ model, env, version, want string }{
		{"iris-classifier", "prod", "1.1.0", "marina/promote/iris-classifier-prod-v1.1.0"},
		{"iris-classifier", "staging", "v1.2.0-rc.1", "marina/promote/iris-classifier-staging-v1.2.0-rc.1"},
	} {
		if got := cli.PromoteBranch(tc.model, tc.env, tc.version); got != tc.want {
			t.Errorf("PromoteBranch(%s, %s, %s) = %q, want %q", tc.model, tc.env, tc.version, got, tc.want)
		}
	}
}

// TestPromotePRRefusesBadOptionsBeforeCommitting: --pr's options, its token and a remote that names no forge are
// usage errors (exit 2), and nothing is committed or branched. Not parallel: it sets MARINA_GIT_TOKEN.
func TestPromotePRRefusesBadOptionsBeforeCommitting(t *testing.T) {
	dir, f := initIris(t)
	mustMarina(t, "--repo", dir, "model", "register", "iris", "--file", f+"1.0.0", "--uri", "s3://models/iris/1.0.0", "--version", "1.0.0")
	head := repotest.Git(t, dir, "rev-parse", "HEAD")
	remotes := map[string]string{
		"origin": "http://127.0.0.1:1/acme/models.git", // nothing listens on port 1
		"ssh":    "git@gitea.example.com:acme/models.git",
		"local":  filepath.Join(t.TempDir(), "remote.git"),
	}
	for name, url := range remotes {
		repotest.Git(t, dir, "remote", "add", name, url)
	}
	promote := func(extra ...string) []string {
		return append([]string{"--repo", dir, "promote", "iris@1.0.0", "--env", "staging"}, extra...)
	}

	t.Setenv("MARINA_GIT_TOKEN", "")
	wantUsageErrors(t, []usageError{
		{promote("--pr"), "--pr needs a token of the forge's API in MARINA_GIT_TOKEN"},
	})

	const token = "cli-t0ken-5b2e41"
	t.Setenv("MARINA_GIT_TOKEN", token)
	cases := []usageError{
		{promote("--pr", "--forge", "bitbucket"), `--forge "bitbucket" (for --pr): use one of ` + strings.Join(forge.Names, ", ")},
		{promote("--forge", "gitea", "--labels", "promotion"), "--forge, --labels and --reviewers go with --pr"},
		{promote("--reviewers", "ada"), "--forge, --labels and --reviewers go with --pr"},
		{promote("--pr", "--labels", "promotion,,prod"), "--labels: an empty name"},
		{promote("--pr", "--reviewers", "ada, "), "--reviewers: an empty name"},
		{promote("--pr", "--branch", "bad..name"), `branch "bad..name"`},
		{promote("--pr", "--remote", "nowhere"), `--remote "nowhere"`},
		{promote("--pr", "--remote", "ssh"), "--remote ssh: repository URL"},
		{promote("--pr", "--remote", "local"), "want http(s)://HOST/OWNER/REPO(.git)"},
		{promote("--pr"), "gitea at http://127.0.0.1:1"},
		{[]string{"--repo", dir, "promote", "iris", "--env", "staging", "--resume", "--pr"}, "--resume takes NAME only"},
	}
	wantUsageErrors(t, cases)
	for _, c := range cases {
		_, out, errOut := marina(t, c.args...)
		if strings.Contains(out+errOut, token) {
			t.Errorf("marina %s printed the token:\n%s%s", strings.Join(c.args, " "), out, errOut)
		}
	}
	if got := repotest.Git(t, dir, "rev-parse", "HEAD"); got != head {
		t.Error("committed although --pr was refused")
	}
	if got := repotest.Git(t, dir, "branch", "--list", "marina/*"); got != "" {
		t.Errorf("branches left behind: %s", got)
	}
}

// versionOnlyGitea is a Gitea that serves a bare copy of work as acme/models.git for fetching (through git
// http-backend) and answers only GET /api/v1/version of its API: enough to connect, so promote --pr gets to the
// repository's checks; any other call fails the test.
func versionOnlyGitea(t *testing.T, work string) string {
	t.Helper()
	root := t.TempDir()
	repotest.Git(t, work, "clone", "-q", "--bare", work, filepath.Join(root, "acme", "models.git"))
	git := &cgi.Handler{Path: repotest.GitHTTPBackend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/acme/models.git/info/refs" && r.URL.Query().Get("service") == "git-upload-pack",
			r.URL.Path == "/acme/models.git/git-upload-pack":
			git.ServeHTTP(w, r)
		case r.URL.Path == "/api/v1/version":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"version":"1.27.3"}`)
		default:
			t.Errorf("unexpected call %s %s", r.Method, r.URL.Path)
			http.Error(w, "not here", http.StatusTeapot)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/acme/models.git"
}

// TestPromotePRLeavesAnUnchangedEnvironmentAndAForeignBranchAlone: a version the environment already runs is
// nothing to do (no push, no pull request), and a branch of that name holding something else than the promotion
// is refused, exit 2, without a push. Not parallel: it sets MARINA_GIT_TOKEN.
func TestPromotePRLeavesAnUnchangedEnvironmentAndAForeignBranchAlone(t *testing.T) {
	dir, f := initIris(t)
	mustMarina(t, "--repo", dir, "model", "register", "iris", "--file", f+"1.0.0", "--uri", "s3://models/iris/1.0.0", "--version", "1.0.0")
	mustMarina(t, "--repo", dir, "promote", "iris@1.0.0", "--env", "staging")
	repotest.Git(t, dir, "remote", "add", "origin", versionOnlyGitea(t, dir))
	t.Setenv("MARINA_GIT_TOKEN", "unused-t0ken")

	out := mustMarina(t, "--repo", dir, "promote", "iris@1.0.0", "--env", "staging", "--pr")
	if !strings.Contains(out, "iris already runs 1.0.0 in staging: nothing to do") {
		t.Errorf("promote --pr of the running version: %s", out)
	}
	if got := repotest.Git(t, dir, "branch", "--list", "marina/*"); got != "" {
		t.Errorf("branches left behind: %s", got)
	}

	mustMarina(t, "--repo", dir, "model", "register", "iris", "--file", f+"1.1.0", "--uri", "s3://models/iris/1.1.0", "--version", "1.1.0")
	branch := cli.PromoteBranch("iris", "staging", "1.1.0")
	repotest.Git(t, dir, "branch", branch)
	wantUsageErrors(t, []usageError{
		{[]string{"--repo", dir, "promote", "iris@1.1.0", "--env", "staging", "--pr"}, "branch " + branch + " exists and its last commit"},
	})
}

func TestParsePromoteSubjectReadsWhatPromoteCommits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		subject, model, from, to, env string
		ok                            bool
	}{
		{"promote: iris-classifier 1.0.0 → 1.1.0 in prod", "iris-classifier", "1.0.0", "1.1.0", "prod", true},
		{"promote: iris (none) → 1.0.0 in staging", "iris", "", "1.0.0", "staging", true},
		{"rollback: iris 1.1.0 → 1.0.0 in prod", "", "", "", "", false},
		{"promote: iris 1.0.0 to 1.1.0 in prod", "", "", "", "", false},
		{"promote: iris 1.0.0 → 1.1.0", "", "", "", "", false},
		{"initial", "", "", "", "", false},
	} {
		model, from, to, env, ok := cli.ParsePromoteSubject(tc.subject)
		if model != tc.model || from != tc.from || to != tc.to || env != tc.env || ok != tc.ok {
			t.Errorf("ParsePromoteSubject(%q) = %q %q %q %q %v, want %q %q %q %q %v", tc.subject, model, from, to, env, ok,
				tc.model, tc.from, tc.to, tc.env, tc.ok)
		}
	}
}

// TestPromoteTakesTheEnvironmentsPromotionPolicy: marina.yaml's environments[].promotion turns --pr, --auto-merge
// and --approvals on for its environment; a flag wins, but cannot push straight to the branch of an environment
// promoted by pull request nor merge with fewer approvals than it asks. Not parallel: it sets MARINA_GIT_TOKEN.
func TestPromoteTakesTheEnvironmentsPromotionPolicy(t *testing.T) {
	dir, f := initIris(t)
	mustMarina(t, "--repo", dir, "model", "register", "iris", "--file", f+"1.0.0", "--uri", "s3://models/iris/1.0.0", "--version", "1.0.0")
	citest.Edit(t, dir, "marina.yaml", func(s string) string {
		return strings.Replace(s, "    namespace: models-staging\n", "    namespace: models-staging\n    promotion: {pr: true, autoMerge: true, approvals: 1}\n", 1)
	})
	citest.Commit(t, dir, "staging is promoted by pull request")
	repotest.Git(t, dir, "remote", "add", "origin", "http://127.0.0.1:1/acme/models.git") // nothing listens on port 1
	head := repotest.Git(t, dir, "rev-parse", "HEAD")
	promote := func(extra ...string) []string {
		return append([]string{"--repo", dir, "promote", "iris@1.0.0", "--env", "staging"}, extra...)
	}

	t.Setenv("MARINA_GIT_TOKEN", "")
	wantUsageErrors(t, []usageError{{promote(), "--pr needs a token of the forge's API in MARINA_GIT_TOKEN"}})
	t.Setenv("MARINA_GIT_TOKEN", "policy-t0ken")
	wantUsageErrors(t, []usageError{
		{promote(), "gitea at http://127.0.0.1:1"}, // --pr, on by the policy, reaches for the forge
		{promote("--pr=false", "--push"), "environment staging is promoted by pull request (marina.yaml environments[].promotion.pr)"},
		{promote("--approvals", "0"), "--approvals 0: environment staging needs 1 approving reviews before a merge"},
		{promote("--auto-merge=false", "--wait", "1m"), "--wait, --approvals and --required-status go with --auto-merge"},
	})
	if got := repotest.Git(t, dir, "rev-parse", "HEAD"); got != head {
		t.Fatal("committed although promote was refused")
	}

	// --pr=false commits here only, as promote without the policy does.
	mustMarina(t, promote("--pr=false")...)
	if got := repotest.Git(t, dir, "log", "-1", "--format=%s"); !strings.Contains(got, "1.0.0") {
		t.Errorf("--pr=false: the last commit is %q, want the promotion", got)
	}
	if got := repotest.Git(t, dir, "branch", "--list", "marina/*"); got != "" {
		t.Errorf("--pr=false left branches: %s", got)
	}
}

func TestDetectForgeNamesTheForgeOfTheRemotesHost(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"https://github.com/acme/models.git":            "github",
		"https://GitHub.com/acme/models":                "github",
		"https://github.acme.com/ml/models.git":         "github",
		"https://gitlab.com/acme/ml/models.git":         "gitlab",
		"https://gitlab.acme.com:8443/ml/models.git":    "gitlab",
		"https://git.acme.com/ml/models.git":            "gitea",
		"http://127.0.0.1:3000/marina-bot/models.git":   "gitea",
		"https://mygitlabmirror.acme.com/ml/models.git": "gitea",
	} {
		if got := cli.DetectForge(url); got != want {
			t.Errorf("DetectForge(%q) = %s, want %s", url, got, want)
		}
	}
}
