package writeback

import (
	"context"
	"strings"
	"testing"
)

func TestWriteRefusesABadRequestBeforeTouchingGit(t *testing.T) {
	t.Parallel()
	good := Request{RepoURL: "file:///nonexistent", Model: "m", Env: "prod", BadVersion: "1.1.0", StableVersion: "1.0.0"}
	cases := []struct {
		name   string
		modify func(*Request)
		want   string
	}{
		{"no URL", func(r *Request) { r.RepoURL = "" }, "no repository URL"},
		{"an unknown mode", func(r *Request) { r.Mode = "merge" }, `mode "merge"`},
		{"a bad model name", func(r *Request) { r.Model = "../m" }, "../m"},
		{"no environment", func(r *Request) { r.Env = "" }, "no environment"},
		{"a version that is not semver", func(r *Request) { r.BadVersion = "v1.1" }, `"v1.1" is not a semantic version`},
		{"the same version twice", func(r *Request) { r.StableVersion = "1.1.0" }, "both 1.1.0"},
		{"a bad branch", func(r *Request) { r.Branch = "a..b" }, `branch "a..b"`},
		{"an environment no branch name can hold", func(r *Request) { r.Env = "pr od" }, `environment "pr od"`},
		{"an author without an email", func(r *Request) { r.Author = "marina" }, `author "marina"`},
		{"credentials over SSH", func(r *Request) {
			r.RepoURL, r.Auth = "ssh://git@git.example.com/m.git", Credentials{Username: "u", Password: "p"}
		}, "HTTP(S) only"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			req := good
			c.modify(&req)
			work := t.TempDir()
			_, err := Write(context.Background(), req, work)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestParseAuthor(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                              "marina-controller <marina@localhost>",
		"Rollout Bot <bot@example.com>": "Rollout Bot <bot@example.com>",
		"  spaced  <s@example.com>":     "spaced <s@example.com>",
	} {
		sig, err := parseAuthor(in)
		if err != nil || sig.Name+" <"+sig.Email+">" != want {
			t.Errorf("parseAuthor(%q) = %+v, %v; want %s", in, sig, err, want)
		}
	}
}

func TestPullRequestBranchNamesModelEnvironmentAndVersion(t *testing.T) {
	t.Parallel()
	if got := PullRequestBranch("iris", "prod", "1.1.0"); got != "marina/rollback/iris-prod-v1.1.0" {
		t.Fatal(got)
	}
}
