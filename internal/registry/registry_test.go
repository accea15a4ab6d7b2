package registry_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/model/onnxtest"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/schemas"
)

func artifact(t *testing.T, dir, content string) string {
	t.Helper()
	f := filepath.Join(dir, "model.bin")
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// newRegistry is the registry of a new model repository in dir.
func newRegistry(t *testing.T) (dir string, reg *registry.Registry) {
	t.Helper()
	dir = repotest.Dir(t, nil)
	return dir, &registry.Registry{Repo: repotest.Open(t, dir)}
}

func TestRegisterRecordsCommitsAndTags(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, nil)
	r := repotest.Open(t, dir)
	head := repotest.Git(t, dir, "rev-parse", "--short=7", "HEAD")
	f := artifact(t, dir, "abc")
	created := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	res, err := (&registry.Registry{Repo: r}).Register(registry.Registration{
		Name: "fraud", Version: "1.2.3", File: f, Metrics: map[string]float64{"accuracy": 0.93},
		Labels: map[string]string{"team": "risk"}, Now: func() time.Time { return created },
	})
	if err != nil {
		t.Fatal(err)
	}
	v := res.Version
	want := model.Version{
		Name: "fraud", Version: "1.2.3", Tag: "v1.2.3-" + head, Format: "other", State: model.StateRegistered, Created: created,
		Artifact: model.Artifact{URI: "model.bin", Digest: "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Size: 3},
	}
	if v.Name != want.Name || v.Tag != want.Tag || v.Format != want.Format || v.Artifact != want.Artifact || v.State != want.State || !v.Created.Equal(created) || v.Metrics["accuracy"] != 0.93 || v.Labels["team"] != "risk" {
		t.Fatalf("registered %+v\nwant %+v", v, want)
	}
	committed := repotest.Git(t, dir, "show", "HEAD:models/fraud/v1.2.3.json")
	if _, err := model.Parse("models/fraud/v1.2.3.json", []byte(committed)); err != nil {
		t.Fatalf("committed metadata does not parse: %v", err)
	}
	for _, tag := range []string{"fraud@v1.2.3", "v1.2.3-" + head} {
		if got := repotest.Git(t, dir, "rev-parse", tag+"^{commit}"); got != res.Commit {
			t.Fatalf("tag %s at %s, want %s", tag, got, res.Commit)
		}
	}
}

func TestRegisterTheSameDigestTwiceIsANoOp(t *testing.T) {
	t.Parallel()
	dir, reg := newRegistry(t)
	f := artifact(t, t.TempDir(), "weights")
	if _, err := reg.Register(registry.Registration{Name: "m", Version: "1.0.0", File: f, URI: "s3://b/m"}); err != nil {
		t.Fatal(err)
	}
	head := repotest.Git(t, dir, "rev-parse", "HEAD")
	res, err := reg.Register(registry.Registration{Name: "m", Version: "1.0.0", File: f, URI: "s3://b/m"})
	if err != nil || !res.Unchanged {
		t.Fatalf("second register: %+v %v", res, err)
	}
	if repotest.Git(t, dir, "rev-parse", "HEAD") != head {
		t.Fatal("a no-op registration committed")
	}
	other := artifact(t, t.TempDir(), "other weights")
	if _, err := reg.Register(registry.Registration{Name: "m", Version: "1.0.0", File: other, URI: "s3://b/m"}); !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("another digest: %v, want ErrConflict", err)
	}
}

func TestRegisterRefusesBadInput(t *testing.T) {
	t.Parallel()
	dir, reg := newRegistry(t)
	f := artifact(t, t.TempDir(), "w")
	link := filepath.Join(dir, "linked.onnx")
	if err := os.Symlink(f, link); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		reg  registry.Registration
		want string
	}{
		{"an invalid semver", registry.Registration{Name: "m", Version: "1.0", File: f}, "not a semantic version"},
		{"a v prefix", registry.Registration{Name: "m", Version: "v1.0.0", File: f}, "not a semantic version"},
		{"a name that escapes", registry.Registration{Name: "../x", Version: "1.0.0", File: f}, "model name"},
		{"an uppercase name", registry.Registration{Name: "Fraud", Version: "1.0.0", File: f}, "model name"},
		{"a missing file", registry.Registration{Name: "m", Version: "1.0.0", File: "/nonexistent"}, "--file /nonexistent"},
		{"a bad metric name", registry.Registration{Name: "m", Version: "1.0.0", File: f, URI: "s3://b/m", Metrics: map[string]float64{"bad metric!": 1}}, "metrics"},
		{"a file outside the repository without --uri", registry.Registration{Name: "m", Version: "1.0.0", File: f}, "outside the repository"},
		{"a file:// URI", registry.Registration{Name: "m", Version: "1.0.0", File: f, URI: "file://" + f}, "file:// URIs are not allowed"},
		{"an absolute path as URI", registry.Registration{Name: "m", Version: "1.0.0", File: f, URI: f}, "is absolute"},
		{"a URI that leaves the repository", registry.Registration{Name: "m", Version: "1.0.0", File: f, URI: "../x.onnx"}, "leaves the repository"},
		{"an unknown scheme", registry.Registration{Name: "m", Version: "1.0.0", File: f, URI: "ftp://h/x"}, "unknown scheme"},
		{"a symlink in the repository", registry.Registration{Name: "m", Version: "1.0.0", File: link}, "symlink"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := reg.Register(c.reg); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
	if got := repotest.Git(t, dir, "status", "--porcelain"); got != "?? linked.onnx" {
		t.Fatalf("refusals left files behind: %q", got)
	}
}

func TestListAndLatestOrderBySemver(t *testing.T) {
	t.Parallel()
	_, reg := newRegistry(t)
	for i, v := range []string{"1.10.0", "1.2.0", "1.9.0-rc.1", "1.9.0"} {
		f := artifact(t, t.TempDir(), "w"+v)
		if _, err := reg.Register(registry.Registration{Name: []string{"b", "a", "a", "a"}[i], Version: v, File: f, URI: "s3://b/m"}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := reg.List("")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range all {
		got = append(got, v.Name+"@"+v.Version)
	}
	if strings.Join(got, " ") != "a@1.2.0 a@1.9.0-rc.1 a@1.9.0 b@1.10.0" {
		t.Fatalf("list %v", got)
	}
	latest, err := reg.Get("a", "latest")
	if err != nil || latest.Version != "1.9.0" {
		t.Fatalf("latest %v %v", latest, err)
	}
}

func TestGetReportsACorruptMetadataFileByPathAndField(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, map[string]string{"models/m/v1.0.0.json": `{"name": "m", "version": "1.0.0", "colour": "red"}`})
	r := repotest.Open(t, dir)
	_, err := (&registry.Registry{Repo: r}).Get("m", "1.0.0")
	if !errors.Is(err, schemas.ErrInvalid) || !strings.Contains(err.Error(), "models/m/v1.0.0.json:1: colour: unknown field") {
		t.Fatalf("err = %v", err)
	}
}

func TestListRefusesHostileEntries(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		setup func(t *testing.T, dir string)
		want  string
	}{
		"a model directory symlinked out of the repository": {func(t *testing.T, dir string) {
			outside := t.TempDir()
			os.WriteFile(filepath.Join(outside, "v1.0.0.json"), []byte("{}"), 0o644)
			os.Symlink(outside, filepath.Join(dir, "models", "evil"))
		}, "models/evil is a symlink"},
		"a metadata file symlinked out of the repository": {func(t *testing.T, dir string) {
			outside := filepath.Join(t.TempDir(), "x.json")
			os.WriteFile(outside, []byte("{}"), 0o644)
			os.MkdirAll(filepath.Join(dir, "models", "m"), 0o755)
			os.Symlink(outside, filepath.Join(dir, "models", "m", "v1.0.0.json"))
		}, "models/m/v1.0.0.json"},
		"a non-UTF-8 directory name": {func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(dir, "models", "bad\xff"), 0o755)
		}, "models/\"bad\\xff\""},
		"a directory named ..x": {func(t *testing.T, dir string) {
			repotest.WriteFile(t, dir, "models/..x/v1.0.0.json", "{}")
		}, "models/\"..x\""},
		"an oversized metadata file": {func(t *testing.T, dir string) {
			repotest.WriteFile(t, dir, "models/m/v1.0.0.json", strings.Repeat(" ", schemas.MaxFileSize+1))
		}, "models/m/v1.0.0.json is 1048577 bytes"},
		"a metadata file under the wrong name": {func(t *testing.T, dir string) {
			repotest.WriteFile(t, dir, "models/m/v2.0.0.json", `{"name": "m", "version": "1.0.0", "tag": "v1.0.0-abcdef0", "format": "other",
"artifact": {"uri": "x", "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "size": 1},
"created": "2026-11-25T00:00:00Z", "state": "registered"}`)
		}, "belong in models/m/v1.0.0.json"},
		"an alias bomb": {func(t *testing.T, dir string) {
			repotest.WriteFile(t, dir, "models/m/v1.0.0.json", "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n")
		}, "aliases"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := repotest.Dir(t, map[string]string{"models/.gitkeep": ""})
			c.setup(t, dir)
			r := repotest.Open(t, dir)
			_, err := (&registry.Registry{Repo: r}).List("")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestRegisterRefusesAFileNamedONNXWhoseContentIsNotONNX(t *testing.T) {
	t.Parallel()
	dir := repotest.Dir(t, nil)
	reg := &registry.Registry{Repo: repotest.Open(t, dir)}
	linear := onnxtest.Linear{Input: "x", Output: "y", InputShape: []int64{2}, Weights: make([]float32, 4), Bias: []float32{0, 0}}
	onnx, err := linear.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 4096)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(random)
	cases := []struct {
		name, file string
		content    []byte
		want       string // "" means registered
	}{
		{"a text file is refused with the parse error", "notes.onnx", []byte("this is not a model\n"), "does not parse as an ONNX model"},
		{"random bytes are refused", "noise.onnx", random, "does not parse as an ONNX model"},
		{"a zip archive is refused", "archive.ONNX", []byte("PK\x03\x04rest"), "it is a zip archive"},
		{"a real ONNX model is registered", "model.onnx", onnx, ""},
		{"random bytes under another name stay format other", "noise.bin", random, ""},
	}
	for i, c := range cases {
		f := filepath.Join(t.TempDir(), c.file)
		if err := os.WriteFile(f, c.content, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := reg.Register(registry.Registration{Name: "m", Version: fmt.Sprintf("1.0.%d", i), File: f, URI: "s3://b/" + c.file})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), f) || !errors.Is(err, model.ErrMalformedONNX)):
			t.Errorf("%s: err = %v, want it to name %s and say %q", c.name, err, f, c.want)
		}
	}
}
