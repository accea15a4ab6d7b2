package citest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

// Image is the digest-pinned serving image the fixture's applications run.
const Image = "ghcr.io/marina-dev/marina-serve@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// Repo copies examples/ml-platform into a new Git repository, makes it pass every check and commits that on
// main as a second commit, so HEAD~1 and main are both usable bases. It returns the work tree's path.
func Repo(t testing.TB) string {
	t.Helper()
	dir := repotest.Example(t, nil)
	for _, app := range []string{"iris-classifier", "vision-gpu"} {
		p := "applications/" + app + "/model.yaml"
		Edit(t, dir, p, func(s string) string {
			return strings.ReplaceAll(s, "image: ghcr.io/marina-dev/marina-serve:0.1.0", "image: "+Image)
		})
	}
	SetMetrics(t, dir, "iris-classifier", "1.0.0", map[string]float64{"accuracy": 0.98, "latency_p95_ms": 12})
	SetMetrics(t, dir, "vision-gpu", "1.0.0", map[string]float64{"accuracy": 0.93, "latency_p95_ms": 30})
	Render(t, dir)
	Commit(t, dir, "clean baseline")
	return dir
}

// Edit rewrites a work-tree file through fn.
func Edit(t testing.TB, dir, rel string, fn func(string) string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	after := fn(string(b))
	if after == string(b) {
		t.Fatalf("%s: the edit changed nothing", rel)
	}
	repotest.WriteFile(t, dir, rel, after)
}

// SetMetrics replaces the metrics of a registered version in the work tree.
func SetMetrics(t testing.TB, dir, model, version string, metrics map[string]float64) {
	t.Helper()
	Edit(t, dir, "models/"+model+"/v"+version+".json", func(s string) string {
		var v map[string]any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		v["metrics"] = metrics
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return string(b) + "\n"
	})
}

// AddVersion registers model@version in the work tree as a copy of model@from with other metrics.
func AddVersion(t testing.TB, dir, model, from, version string, metrics map[string]float64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "models", model, "v"+from+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	v["version"] = version
	v["tag"] = "v" + version + "-0123abc"
	v["metrics"] = metrics
	v["state"] = "registered"
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	repotest.WriteFile(t, dir, "models/"+model+"/v"+version+".json", string(out)+"\n")
}

// Deploy sets the version an environment of model.yaml deploys, in the work tree.
func Deploy(t testing.TB, dir, model, env, version string) {
	t.Helper()
	Edit(t, dir, "applications/"+model+"/model.yaml", func(s string) string {
		lines := strings.Split(s, "\n")
		in := false
		for i, l := range lines {
			switch {
			case strings.TrimSpace(l) == env+":":
				in = true
			case in && strings.HasPrefix(strings.TrimSpace(l), "version:"):
				lines[i] = l[:strings.Index(l, "version:")] + "version: " + version
				return strings.Join(lines, "\n")
			}
		}
		t.Fatalf("%s has no environment %s", model, env)
		return s
	})
}

// Render writes the rendered output of the work tree, like marina render --write.
func Render(t testing.TB, dir string) {
	t.Helper()
	r, err := repo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	outs, err := render.Repo(r, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	changes, err := render.Changes(r, outs)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.Delete {
			err = r.RemoveFile(c.Path)
		} else {
			err = r.WriteFileAtomic(c.Path, c.Data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Commit commits every change in the work tree with the git CLI.
func Commit(t testing.TB, dir, message string) {
	t.Helper()
	repotest.Git(t, dir, "add", "-A")
	repotest.Git(t, dir, "commit", "-q", "-m", message)
}
