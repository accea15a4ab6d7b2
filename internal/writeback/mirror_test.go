package writeback

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/repo/repotest"
)

func TestMirrorClonesThenFollowsTheBranch(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			bare := newRemote(t)
			url, auth := tr.serve(t, bare)
			dir := filepath.Join(t.TempDir(), "clone")
			req := MirrorRequest{RepoURL: url, Auth: auth}
			head := func() string { return strings.SplitN(gitLog(t, bare, "main")[0], " ", 2)[0] }
			got, err := Mirror(context.Background(), req, dir)
			if err != nil {
				t.Fatal(err)
			}
			if got != head() {
				t.Fatalf("first Mirror checked out %s, the remote's main is %s", got, head())
			}
			if _, err := os.Stat(filepath.Join(dir, "marina.yaml")); err != nil {
				t.Fatalf("the clone has no work tree: %v", err)
			}
			// A local edit goes; the remote's new commit comes.
			if err := os.WriteFile(filepath.Join(dir, "marina.yaml"), []byte("edited"), 0o644); err != nil {
				t.Fatal(err)
			}
			pushCompeting(t, bare, "NOTES.md")
			if got, err = Mirror(context.Background(), req, dir); err != nil {
				t.Fatal(err)
			}
			if got != head() {
				t.Fatalf("Mirror checked out %s, the remote's main is now %s", got, head())
			}
			if _, err := os.Stat(filepath.Join(dir, "NOTES.md")); err != nil {
				t.Errorf("the remote's new file is not in the clone: %v", err)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "marina.yaml")); string(b) == "edited" {
				t.Error("the local edit survived Mirror")
			}
			// The whole history is there, for marina ui's pages.
			if n := len(strings.Split(repotest.Git(t, dir, "log", "--format=%H"), "\n")); n != len(gitLog(t, bare, "main")) {
				t.Errorf("the clone holds %d commits, the remote %d", n, len(gitLog(t, bare, "main")))
			}
		})
	}
}

func TestMirrorNeverShowsTheCredentials(t *testing.T) {
	bare := newRemote(t)
	url := serveHTTP(t, bare, false)
	_, err := Mirror(context.Background(), MirrorRequest{RepoURL: url, Auth: Credentials{Username: gitUser, Password: badToken}}, filepath.Join(t.TempDir(), "clone"))
	if err == nil {
		t.Fatal("Mirror with a wrong token succeeded")
	}
	if strings.Contains(err.Error(), badToken) || !strings.HasPrefix(err.Error(), "mirror: ") {
		t.Errorf("error = %q: want it to start with mirror: and hold no token", err)
	}
	if _, err := Mirror(context.Background(), MirrorRequest{RepoURL: "file://" + bare, Branch: "nope"}, filepath.Join(t.TempDir(), "clone")); err == nil || !strings.Contains(err.Error(), `no branch "nope"`) {
		t.Errorf("a missing branch: err = %v", err)
	}
}

func TestCredentialsFromDir(t *testing.T) {
	dir := t.TempDir()
	write := func(k, v string) {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(KeyPassword, gitToken+"\n")
	c, err := CredentialsFromDir(dir)
	if err != nil || c != (Credentials{Username: defaultUsername, Password: gitToken}) {
		t.Errorf("password only: %+v, %v", c, err)
	}
	write(KeyBearerToken, gitToken)
	if _, err := CredentialsFromDir(dir); err == nil || strings.Contains(err.Error(), gitToken) || !strings.Contains(err.Error(), dir) {
		t.Errorf("both kinds: err = %v, want one naming the directory and no token", err)
	}
	if _, err := CredentialsFromDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("a directory without credentials gave no error")
	}
}
