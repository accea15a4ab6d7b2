package release_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/release"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

// appYAML is model "m"'s model.yaml with the given backend.
func appYAML(backend string) string {
	return "apiVersion: marina.dev/v1alpha1\nkind: ModelApplication\nmetadata:\n  name: m\nspec:\n  model: m\n  backend: " + backend +
		"\n  # the serving image\n  runtime: {image: serve:1, port: 8080}\n  environments: {}\n"
}

// fixture is a repository with model "m" (backend plain) registered at the given versions.
func fixture(t *testing.T, versions ...string) (string, *repo.Repo) {
	return fixtureWith(t, appYAML("plain"), versions...)
}

// fixtureWith is fixture with the given model.yaml.
func fixtureWith(t *testing.T, app string, versions ...string) (string, *repo.Repo) {
	t.Helper()
	dir := repotest.Dir(t, map[string]string{"applications/m/model.yaml": app})
	r := repotest.Open(t, dir)
	reg := &registry.Registry{Repo: r}
	for _, v := range versions {
		f := filepath.Join(t.TempDir(), "model.bin")
		if err := os.WriteFile(f, []byte("weights of "+v), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Register(registry.Registration{Name: "m", Version: v, File: f, URI: "s3://bucket/m/" + v}); err != nil {
			t.Fatal(err)
		}
	}
	return dir, r
}

func promote(t *testing.T, r *repo.Repo, version, env string) *release.Result {
	t.Helper()
	res, err := release.Promote(r, release.Promotion{Model: "m", Version: version, Environment: env})
	if err != nil {
		t.Fatalf("promote %s to %s: %v", version, env, err)
	}
	return res
}

func TestPromoteCommitsTheVersionAndKeepsComments(t *testing.T) {
	t.Parallel()
	dir, r := fixture(t, "1.0.0")
	res := promote(t, r, "1.0.0", "staging")
	if res.From != "" || res.To != "1.0.0" || res.Commit == "" {
		t.Fatalf("result %+v", res)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "applications/m/model.yaml"))
	if !strings.Contains(string(b), "# the serving image") || !strings.Contains(string(b), "staging:\n      version: 1.0.0") {
		t.Fatalf("model.yaml:\n%s", b)
	}
	repotest.Clean(t, dir)
	if got := repotest.Git(t, dir, "log", "-1", "--format=%s"); got != "promote: m (none) → 1.0.0 in staging" {
		t.Fatalf("subject %q", got)
	}
	v, _ := (&registry.Registry{Repo: r}).Get("m", "1.0.0")
	if v.State != model.StateActive {
		t.Fatalf("state %s, want active", v.State)
	}
	again := promote(t, r, "1.0.0", "staging")
	if !again.Unchanged {
		t.Fatal("promoting the running version committed again")
	}
}

func TestPromoteRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		p       release.Promotion
		wantErr error
		want    string
	}{
		{"a version that skipped the required environment", release.Promotion{Model: "m", Version: "1.0.0", Environment: "prod"}, release.ErrRefused, "prod requires a version to run in staging first"},
		{"an unregistered version", release.Promotion{Model: "m", Version: "9.9.9", Environment: "staging"}, registry.ErrNotFound, "models/m/v9.9.9.json"},
		{"an unknown environment", release.Promotion{Model: "m", Version: "1.0.0", Environment: "qa"}, release.ErrUnknownEnv, "marina.yaml lists staging, prod"},
		{"an unknown model", release.Promotion{Model: "nope", Version: "1.0.0", Environment: "staging"}, registry.ErrNotFound, "nope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, r := fixture(t, "1.0.0")
			_, err := release.Promote(r, c.p)
			if !errors.Is(err, c.wantErr) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %v containing %q", err, c.wantErr, c.want)
			}
		})
	}
}

func TestPromoteWithForceSkipsTheEnvironmentOrder(t *testing.T) {
	t.Parallel()
	_, r := fixture(t, "1.0.0")
	if _, err := release.Promote(r, release.Promotion{Model: "m", Version: "1.0.0", Environment: "prod", Force: true}); err != nil {
		t.Fatal(err)
	}
}

func TestPromoteSetsTheStrategy(t *testing.T) {
	t.Parallel()
	dir, r := fixtureWith(t, appYAML("marina"), "1.0.0")
	if _, err := release.Promote(r, release.Promotion{Model: "m", Version: "1.0.0", Environment: "staging", Strategy: "canary"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "applications/m/model.yaml"))
	if !strings.Contains(string(b), "canary:\n          steps:\n            - setWeight: 20") {
		t.Fatalf("model.yaml:\n%s", b)
	}
}

func TestPromoteRefusesAStrategyTheBackendCannotCarryOut(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"plain", "kserve"} {
		for _, strategy := range []string{"canary", "bluegreen", "shadow"} {
			t.Run(backend+" "+strategy, func(t *testing.T) {
				t.Parallel()
				dir, r := fixtureWith(t, appYAML(backend), "1.0.0")
				head := repotest.Git(t, dir, "rev-parse", "HEAD")
				_, err := release.Promote(r, release.Promotion{Model: "m", Version: "1.0.0", Environment: "staging", Strategy: strategy})
				if !errors.Is(err, render.ErrUnsupportedStrategy) || !strings.Contains(err.Error(), "spec.backend: marina") ||
					!strings.Contains(err.Error(), "spec.environments.staging.strategy") {
					t.Fatalf("err = %v, want %v naming the field and spec.backend: marina", err, render.ErrUnsupportedStrategy)
				}
				if got := repotest.Git(t, dir, "rev-parse", "HEAD"); got != head {
					t.Fatal("a refused promotion committed")
				}
			})
		}
	}
}

func TestPromoteRefusesWhatCheckFindsUnlessForced(t *testing.T) {
	t.Parallel()
	var seen release.Prospect
	check := func(p release.Prospect) []release.Problem {
		seen = p
		return []release.Problem{{Rule: "policy-digest", Text: "applications/m/model.yaml:8: error policy-digest: not pinned"}}
	}
	dir, r := fixture(t, "1.0.0")
	head := repotest.Git(t, dir, "rev-parse", "HEAD")
	_, err := release.Promote(r, release.Promotion{Model: "m", Version: "1.0.0", Environment: "staging", Check: check})
	if !errors.Is(err, release.ErrRefused) || !strings.Contains(err.Error(), "policy-digest: not pinned") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v, want a refusal listing the problem and --force", err)
	}
	if got := repotest.Git(t, dir, "rev-parse", "HEAD"); got != head {
		t.Fatal("a refused promotion committed")
	}
	if seen.Env != "staging" || seen.AppFile != "applications/m/model.yaml" || !strings.Contains(string(seen.AppData), "staging:\n      version: 1.0.0") {
		t.Fatalf("Check saw %s %s:\n%s, want the model.yaml about to be committed", seen.Env, seen.AppFile, seen.AppData)
	}
	if _, err := release.Promote(r, release.Promotion{Model: "m", Version: "1.0.0", Environment: "prod", Check: check, Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := repotest.Git(t, dir, "log", "-1", "--format=%B"); !strings.Contains(got, "Marina-Forced: policy-digest, requires") {
		t.Fatalf("commit message does not record what --force overrode:\n%s", got)
	}
}

func TestPromoteWritesModelYAMLForANewModel(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, nil)
	r := repotest.Open(t, dir)
	f := filepath.Join(t.TempDir(), "w")
	os.WriteFile(f, []byte("w"), 0o644)
	if _, err := (&registry.Registry{Repo: r}).Register(registry.Registration{Name: "fresh", Version: "0.1.0", File: f, URI: "s3://bucket/fresh"}); err != nil {
		t.Fatal(err)
	}
	if _, err := release.Promote(r, release.Promotion{Model: "fresh", Version: "0.1.0", Environment: "staging"}); err != nil {
		t.Fatal(err)
	}
	if got := repotest.Git(t, dir, "show", "HEAD:applications/fresh/model.yaml"); !strings.Contains(got, "staging:\n      version: 0.1.0") {
		t.Fatalf("model.yaml:\n%s", got)
	}
}

func TestRollbackGoesBackAndBlocksTheBadVersion(t *testing.T) {
	t.Parallel()
	dir, r := fixture(t, "1.0.0", "1.1.0")
	promote(t, r, "1.0.0", "staging")
	promote(t, r, "1.0.0", "prod")
	promote(t, r, "1.1.0", "staging")
	promote(t, r, "1.1.0", "prod")
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	res, err := release.RollBack(r, release.Rollback{Model: "m", Environment: "prod", Reason: "p99 doubled", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if res.From != "1.1.0" || res.To != "1.0.0" {
		t.Fatalf("result %+v", res)
	}
	reg := &registry.Registry{Repo: r}
	bad, _ := reg.Get("m", "1.1.0")
	if bad.State != model.StateBlocked || bad.StateReason != "rolled back in prod on 2026-11-25T12:00:00Z: p99 doubled" {
		t.Fatalf("bad version %s %q", bad.State, bad.StateReason)
	}
	if got := repotest.Git(t, dir, "show", "--stat", "--format=%s", "HEAD"); !strings.Contains(got, "rollback: m 1.1.0 → 1.0.0 in prod") || !strings.Contains(got, "models/m/v1.1.0.json") || !strings.Contains(got, "applications/m/model.yaml") {
		t.Fatalf("rollback commit:\n%s", got)
	}
	if _, err := release.Promote(r, release.Promotion{Model: "m", Version: "1.1.0", Environment: "staging"}); !errors.Is(err, release.ErrRefused) {
		t.Fatalf("promoting the blocked version: %v", err)
	}
	// staging still runs the blocked 1.1.0; rolling it back skips nothing and lands on 1.0.0.
	res, err = release.RollBack(r, release.Rollback{Model: "m", Environment: "staging"})
	if err != nil || res.To != "1.0.0" {
		t.Fatalf("second rollback: %+v %v", res, err)
	}
	if _, err := release.RollBack(r, release.Rollback{Model: "m", Environment: "staging"}); !errors.Is(err, release.ErrRefused) {
		t.Fatalf("rollback with nothing earlier: %v", err)
	}
}

func TestRollbackToAVersion(t *testing.T) {
	t.Parallel()
	_, r := fixture(t, "1.0.0", "1.1.0", "1.2.0")
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		promote(t, r, v, "staging")
	}
	res, err := release.RollBack(r, release.Rollback{Model: "m", Environment: "staging", To: "1.0.0"})
	if err != nil || res.To != "1.0.0" {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := release.RollBack(r, release.Rollback{Model: "m", Environment: "staging", To: "1.2.0"}); !errors.Is(err, release.ErrRefused) {
		t.Fatalf("rollback to a blocked version: %v", err)
	}
}

func TestHistoryListsEveryVersionChangeNewestFirst(t *testing.T) {
	t.Parallel()
	dir, r := fixture(t, "1.0.0", "1.1.0")
	promote(t, r, "1.0.0", "staging")
	promote(t, r, "1.1.0", "staging")
	promote(t, r, "1.1.0", "prod")
	// A person edits model.yaml by hand: history sees it too.
	b, _ := os.ReadFile(filepath.Join(dir, "applications/m/model.yaml"))
	repotest.WriteFile(t, dir, "applications/m/model.yaml", strings.Replace(string(b), "prod:\n      version: 1.1.0", "prod:\n      version: 1.0.0", 1))
	repotest.Git(t, dir, "commit", "-qam", "hand edit")
	all, err := release.History(r, "m", "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range all {
		got = append(got, c.Environment+":"+c.From+">"+c.To)
	}
	want := "prod:1.1.0>1.0.0 prod:>1.1.0 staging:1.0.0>1.1.0 staging:>1.0.0"
	if strings.Join(got, " ") != want {
		t.Fatalf("history %v, want %s", got, want)
	}
	if all[0].Author != "test <test@example.com>" || all[0].Message != "hand edit" {
		t.Fatalf("first entry %+v", all[0])
	}
	prod, _ := release.History(r, "m", "prod")
	if len(prod) != 2 {
		t.Fatalf("prod history %+v", prod)
	}
}
