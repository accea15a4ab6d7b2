package writeback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/release"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

const (
	modelName = "iris-classifier"
	gitUser   = "marina"
	gitToken  = "s3cr3t-t0ken-9f8e7d"
	badToken  = "wr0ng-t0ken-1a2b3c"
	appFile   = "applications/iris-classifier/model.yaml"
	badFile   = "models/iris-classifier/v1.1.0.json"
)

// templateRoot holds the bare repositories newRemote copies, one per list of promotions,
// built once for the whole test binary.
var (
	templateRoot string
	templates    = struct {
		sync.Mutex
		dirs map[string]string
	}{dirs: map[string]string{}}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "writeback-test-")
	if err != nil {
		panic(err)
	}
	templateRoot = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newRemote returns a new bare repository made from examples/ml-platform
// (iris-classifier 1.0.0 in staging and prod) after the promotions, each
// "version@env", registering every version named.
func newRemote(t *testing.T, promotions ...string) string {
	t.Helper()
	template := func() string {
		templates.Lock()
		defer templates.Unlock()
		key := strings.Join(promotions, ",")
		if dir, ok := templates.dirs[key]; ok {
			return dir
		}
		dir := filepath.Join(templateRoot, strconv.Itoa(len(templates.dirs)), "models.git")
		buildRemote(t, dir, promotions)
		templates.dirs[key] = dir
		return dir
	}()
	bare := filepath.Join(t.TempDir(), "models.git")
	if out, err := exec.Command("cp", "-a", template, bare).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return bare
}

func buildRemote(t *testing.T, bare string, promotions []string) {
	t.Helper()
	dir := repotest.Example(t, nil)
	r := repotest.Open(t, dir)
	onnx := filepath.Join(repotest.ExamplePath(), "models", modelName, "artifacts", "v1.0.0.onnx")
	for _, p := range promotions {
		version, env, _ := strings.Cut(p, "@")
		if _, err := (&registry.Registry{Repo: r}).Register(registry.Registration{Name: modelName, Version: version, File: onnx, URI: "s3://models/iris/" + version + ".onnx"}); err != nil {
			t.Fatal(err)
		}
		if _, err := release.Promote(r, release.Promotion{Model: modelName, Version: version, Environment: env}); err != nil {
			t.Fatalf("promote %s: %v", p, err)
		}
	}
	repotest.Git(t, dir, "clone", "-q", "--bare", dir, bare)
	repotest.Git(t, bare, "config", "http.receivepack", "true")
}

// serveHTTP serves bare through git http-backend with basic auth as gitUser/gitToken and returns its URL. A
// read-only server refuses pushes with 403.
func serveHTTP(t *testing.T, bare string, readOnly bool) string {
	t.Helper()
	return repotest.ServeGit(t, filepath.Dir(bare), repotest.GitAuth{Username: gitUser, Password: gitToken, ReadOnly: readOnly}).RepoURL(bare)
}

// transports serve a bare repository as a Request's URL and credentials.
var transports = []struct {
	name  string
	serve func(t *testing.T, bare string) (string, Credentials)
}{
	{"over file://", func(t *testing.T, bare string) (string, Credentials) { return "file://" + bare, Credentials{} }},
	{"over HTTP with basic auth", func(t *testing.T, bare string) (string, Credentials) {
		return serveHTTP(t, bare, false), Credentials{Username: gitUser, Password: gitToken}
	}},
}

// rollback is the Request of these tests: prod goes back from 1.1.0 to 1.0.0.
func rollback(url string, auth Credentials) Request {
	return Request{
		RepoURL: url, Model: modelName, Env: "prod", BadVersion: "1.1.0", StableVersion: "1.0.0",
		Reason: "error rate 4.2% > 1%", Auth: auth,
	}
}

// remoteState is what a fresh git clone of branch shows.
type remoteState struct {
	prodVersion string
	badState    string
	badReason   string
}

func readRemote(t *testing.T, bare, branch string) remoteState {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "check")
	repotest.Git(t, filepath.Dir(bare), "clone", "-q", "--branch", branch, bare, dir)
	read := func(p string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	app, _, err := project.ParseApplication(appFile, read(appFile))
	if err != nil {
		t.Fatal(err)
	}
	v, err := model.Parse(badFile, read(badFile))
	if err != nil {
		t.Fatal(err)
	}
	return remoteState{prodVersion: app.Spec.Environments["prod"].Version, badState: v.State, badReason: v.StateReason}
}

// gitLog lists "hash subject" of branch in the bare repository, newest first.
func gitLog(t *testing.T, bare, branch string) []string {
	t.Helper()
	return strings.Split(repotest.Git(t, bare, "log", "--format=%H %s", branch), "\n")
}

// overEachTransport runs test in parallel over each transport, with a remote where 1.1.0 runs in staging and in prod:
// bare is the remote, before the log of its main branch, req the rollback of prod to write to it.
func overEachTransport(t *testing.T, test func(t *testing.T, bare string, before []string, req Request)) {
	t.Helper()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			bare := newRemote(t, "1.1.0@staging", "1.1.0@prod")
			before := gitLog(t, bare, "main")
			url, auth := tr.serve(t, bare)
			test(t, bare, before, rollback(url, auth))
		})
	}
}

func TestWriteCommitsTheRollbackOnceThenIsANoOp(t *testing.T) {
	t.Parallel()
	overEachTransport(t, func(t *testing.T, bare string, before []string, req Request) {
		if got := readRemote(t, bare, "main"); got.prodVersion != "1.1.0" || got.badState == model.StateBlocked {
			t.Fatalf("fixture: %+v", got)
		}
		work := t.TempDir()

		res, err := Write(context.Background(), req, work)
		if err != nil {
			t.Fatal(err)
		}
		after := gitLog(t, bare, "main")
		if len(after) != len(before)+1 || after[1] != before[0] {
			t.Fatalf("want exactly one new commit on main, log:\n%s", strings.Join(after, "\n"))
		}
		if want := res.Commit + " rollback: iris-classifier 1.1.0 → 1.0.0 in prod"; after[0] != want || res.Branch != "main" || res.NoOp {
			t.Fatalf("result %+v, head %q, want %q", res, after[0], want)
		}
		got := readRemote(t, bare, "main")
		if got.prodVersion != "1.0.0" || got.badState != model.StateBlocked || !strings.HasSuffix(got.badReason, ": error rate 4.2% > 1%") {
			t.Fatalf("remote after the write-back: %+v", got)
		}
		msg := repotest.Git(t, bare, "log", "-1", "--format=%an <%ae>%n%B", "main")
		for _, want := range []string{DefaultAuthor, "Marina-Model: iris-classifier", "Marina-Environment: prod", "Marina-From: 1.1.0", "Marina-To: 1.0.0"} {
			if !strings.Contains(msg, want) {
				t.Errorf("commit lacks %q:\n%s", want, msg)
			}
		}
		if strings.Contains(msg, gitToken) {
			t.Error("the commit message holds the token")
		}

		broken := t.TempDir()
		repotest.WriteFile(t, broken, filepath.Join(cacheKey(req.RepoURL), ".git"), "not a git directory\n")
		for _, again := range []struct{ name, work string }{
			{"the same cache", work},
			{"a lost cache", t.TempDir()},
			{"a broken cache", broken},
		} {
			res, err := Write(context.Background(), req, again.work)
			if err != nil || !res.NoOp || res.Commit != hashOf(after[0]) || res.Branch != "main" {
				t.Fatalf("again with %s: %+v %v", again.name, res, err)
			}
		}
		if got := gitLog(t, bare, "main"); len(got) != len(after) {
			t.Fatalf("a no-op pushed: %s", got[0])
		}
		err = filepath.WalkDir(work, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if b, err := os.ReadFile(p); err != nil || bytes.Contains(b, []byte(gitToken)) {
				return fmt.Errorf("%s holds the token (%v)", p, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// hashOf is the hash of a gitLog line.
func hashOf(line string) string {
	h, _, _ := strings.Cut(line, " ")
	return h
}

func TestWriteRedoesTheRollbackOnTopWhenThePushRaces(t *testing.T) {
	t.Parallel()
	overEachTransport(t, func(t *testing.T, bare string, before []string, req Request) {
		var once sync.Once
		pushes := 0
		req.beforePush = func() {
			pushes++
			once.Do(func() { pushCompeting(t, bare, "README.md") })
		}
		res, err := Write(context.Background(), req, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		after := gitLog(t, bare, "main")
		if pushes != 2 || len(after) != len(before)+2 || after[0] != res.Commit+" rollback: iris-classifier 1.1.0 → 1.0.0 in prod" ||
			!strings.HasSuffix(after[1], " a competing change") || after[2] != before[0] {
			t.Fatalf("pushes %d, result %+v, log:\n%s", pushes, res, strings.Join(after[:3], "\n"))
		}
		if got := readRemote(t, bare, "main"); got.prodVersion != "1.0.0" || got.badState != model.StateBlocked {
			t.Fatalf("remote: %+v", got)
		}
		if got := repotest.Git(t, bare, "show", "main:README.md"); got != "changed by someone else" {
			t.Fatalf("the competing change was lost: README.md is %q", got)
		}
	})
}

// pushCompeting commits a change to file in a clone of bare and pushes it to main.
func pushCompeting(t *testing.T, bare, file string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "competitor")
	repotest.Git(t, filepath.Dir(bare), "clone", "-q", bare, dir)
	repotest.WriteFile(t, dir, file, "changed by someone else\n")
	repotest.Git(t, dir, "add", file)
	repotest.Git(t, dir, "commit", "-qm", "a competing change")
	repotest.Git(t, dir, "push", "-q", "origin", "main")
}

func TestWriteGivesUpWhenEveryPushRaces(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, "1.1.0@staging", "1.1.0@prod")
	req := rollback("file://"+bare, Credentials{})
	n := 0
	req.beforePush = func() {
		n++
		pushCompeting(t, bare, "README-"+strings.Repeat("x", n))
	}
	_, err := Write(context.Background(), req, t.TempDir())
	if !errors.Is(err, ErrConflict) || n != maxAttempts {
		t.Fatalf("after %d pushes: %v, want ErrConflict after %d", n, err, maxAttempts)
	}
	if got := readRemote(t, bare, "main"); got.prodVersion != "1.1.0" {
		t.Fatalf("remote: %+v", got)
	}
}

func TestWriteStopsWhenTheContextIsCancelled(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, "1.1.0@staging", "1.1.0@prod")
	ctx, cancel := context.WithCancel(context.Background())
	req := rollback("file://"+bare, Credentials{})
	req.beforePush = func() {
		pushCompeting(t, bare, "README.md")
		cancel()
	}
	if _, err := Write(ctx, req, t.TempDir()); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestWriteNeverShowsTheCredentials(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, "1.1.0@staging", "1.1.0@prod")
	cases := []struct {
		name    string
		url     func(t *testing.T) string
		auth    Credentials
		wantErr error
	}{
		{"a wrong password", func(t *testing.T) string { return serveHTTP(t, bare, false) },
			Credentials{Username: gitUser, Password: badToken}, transport.ErrAuthenticationRequired},
		{"a wrong bearer token", func(t *testing.T) string { return serveHTTP(t, bare, false) },
			Credentials{BearerToken: badToken}, transport.ErrAuthenticationRequired},
		{"a push the server refuses", func(t *testing.T) string { return serveHTTP(t, bare, true) },
			Credentials{Username: gitUser, Password: gitToken}, nil}, // reads work, so the push fails
		{"a password in the URL of a server that is not there", func(t *testing.T) string {
			return "http://" + gitUser + ":" + badToken + "@127.0.0.1:1/models.git"
		}, Credentials{}, nil},
		{"a wrong URL with credentials", func(t *testing.T) string { return serveHTTP(t, bare, false) + "-nope" },
			Credentials{Username: gitUser, Password: badToken}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := rollback(c.url(t), c.auth)
			_, err := Write(context.Background(), req, t.TempDir())
			if err == nil {
				t.Fatal("no error")
			}
			for _, secret := range []string{gitToken, badToken} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error shows a secret: %v", err)
				}
			}
			if c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			t.Log(err)
		})
	}
	if got := readRemote(t, bare, "main"); got.prodVersion != "1.1.0" {
		t.Fatalf("remote changed: %+v", got)
	}
}

func TestWriteLeavesANewerVersionAlone(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, "1.1.0@staging", "1.1.0@prod", "1.2.0@staging", "1.2.0@prod")
	before := gitLog(t, bare, "main")
	_, err := Write(context.Background(), rollback("file://"+bare, Credentials{}), t.TempDir())
	if !errors.Is(err, ErrSuperseded) || !strings.Contains(err.Error(), "runs 1.2.0") {
		t.Fatalf("err = %v, want ErrSuperseded naming 1.2.0", err)
	}
	if after := gitLog(t, bare, "main"); after[0] != before[0] {
		t.Fatalf("main moved to %s", after[0])
	}
}

func TestWriteBlocksTheVersionWhenTheEnvironmentIsAlreadyBack(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, "1.1.0@staging") // prod never left 1.0.0
	res, err := Write(context.Background(), rollback("file://"+bare, Credentials{}), t.TempDir())
	if err != nil || res.NoOp {
		t.Fatalf("%+v %v", res, err)
	}
	if got := readRemote(t, bare, "main"); got.prodVersion != "1.0.0" || got.badState != model.StateBlocked {
		t.Fatalf("remote: %+v", got)
	}
	if got := repotest.Git(t, bare, "show", "--stat", "--format=%s", "main"); !strings.HasPrefix(got, "block: iris-classifier 1.1.0, prod already runs 1.0.0") || !strings.Contains(got, badFile) || strings.Contains(got, appFile) {
		t.Fatalf("commit:\n%s", got)
	}
	if res, err := Write(context.Background(), rollback("file://"+bare, Credentials{}), t.TempDir()); err != nil || !res.NoOp {
		t.Fatalf("again: %+v %v", res, err)
	}
}

func TestWritePullRequestModePushesABranchAndLeavesTheBaseAlone(t *testing.T) {
	t.Parallel()
	overEachTransport(t, func(t *testing.T, bare string, before []string, req Request) {
		req.Mode = v1alpha1.GitWriteBackPullRequest
		res, err := Write(context.Background(), req, t.TempDir())
		const branch = "marina/rollback/iris-classifier-prod-v1.1.0"
		if err != nil || res.Branch != branch || res.Base != "main" || res.NoOp {
			t.Fatalf("%+v %v", res, err)
		}
		if after := gitLog(t, bare, "main"); after[0] != before[0] {
			t.Fatalf("main moved to %s", after[0])
		}
		if got := gitLog(t, bare, branch); len(got) != len(before)+1 || got[1] != before[0] || hashOf(got[0]) != res.Commit {
			t.Fatalf("branch log:\n%s", strings.Join(got[:2], "\n"))
		}
		if got := readRemote(t, bare, branch); got.prodVersion != "1.0.0" || got.badState != model.StateBlocked {
			t.Fatalf("branch: %+v", got)
		}
		again, err := Write(context.Background(), req, t.TempDir())
		if err != nil || !again.NoOp || again.Branch != branch || again.Commit != res.Commit {
			t.Fatalf("again: %+v %v", again, err)
		}
	})
}

func TestWritePullRequestModeRefusesABranchWithoutTheRevert(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, "1.1.0@staging", "1.1.0@prod")
	repotest.Git(t, bare, "branch", "marina/rollback/iris-classifier-prod-v1.1.0", "main")
	req := rollback("file://"+bare, Credentials{})
	req.Mode = v1alpha1.GitWriteBackPullRequest
	if _, err := Write(context.Background(), req, t.TempDir()); !errors.Is(err, ErrBranchExists) {
		t.Fatalf("err = %v, want ErrBranchExists", err)
	}
}

func TestWriteRefusesWhatTheRepositoryDoesNotHold(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, "1.1.0@staging", "1.1.0@prod")
	plain := filepath.Join(t.TempDir(), "plain.git")
	work := t.TempDir()
	repotest.Git(t, work, "init", "-q", "-b", "main")
	repotest.WriteFile(t, work, "README.md", "not a model repository\n")
	repotest.Git(t, work, "add", "README.md")
	repotest.Git(t, work, "commit", "-qm", "readme")
	repotest.Git(t, work, "clone", "-q", "--bare", work, plain)
	cases := []struct {
		name    string
		modify  func(*Request)
		wantErr error
		want    string
	}{
		{"an environment marina.yaml does not list", func(r *Request) { r.Env = "qa" }, release.ErrUnknownEnv, "marina.yaml lists staging, prod"},
		{"a branch the remote does not have", func(r *Request) { r.Branch = "release" }, nil, `has no branch "release"`},
		{"a stable version that is not registered", func(r *Request) { r.StableVersion = "0.9.0" }, registry.ErrNotFound, "models/iris-classifier/v0.9.0.json"},
		{"a repository without marina.yaml", func(r *Request) { r.RepoURL = "file://" + plain }, nil, "not a marina model repository"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			req := rollback("file://"+bare, Credentials{})
			c.modify(&req)
			_, err := Write(context.Background(), req, t.TempDir())
			if err == nil || (c.wantErr != nil && !errors.Is(err, c.wantErr)) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %v containing %q", err, c.wantErr, c.want)
			}
		})
	}
	if got := readRemote(t, bare, "main"); got.prodVersion != "1.1.0" {
		t.Fatalf("remote changed: %+v", got)
	}
}

func TestWriteWaitsForAnotherWriteToTheSameClone(t *testing.T) {
	t.Parallel()
	req := rollback("file:///nonexistent/models.git", Credentials{})
	work := t.TempDir()
	unlock, err := lockDir(context.Background(), filepath.Join(work, cacheKey(req.RepoURL)))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Write(ctx, req, work); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline while another write holds the clone", err)
	}
}
