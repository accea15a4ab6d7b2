package scaffold_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/golden"

	"go.yaml.in/yaml/v3"

	"github.com/marina-dev/marina/internal/scaffold"
)

type combination struct {
	name string
	opts scaffold.Options
}

// combinations is every engine × CI choice, with two and three environments.
func combinations() []combination {
	var out []combination
	for _, envs := range [][]string{{"staging", "prod"}, {"dev", "staging", "prod"}} {
		for _, engine := range []string{scaffold.EngineArgoCD, scaffold.EngineFlux, scaffold.EngineBoth} {
			for _, ci := range []string{scaffold.CIGitHub, scaffold.CIGitLab, scaffold.CIBoth} {
				out = append(out, combination{
					name: fmt.Sprintf("%s-%s-%s", engine, ci, strings.Join(envs, "-")),
					opts: scaffold.Options{Name: "ml-platform", Envs: envs, Engine: engine, CI: ci},
				})
			}
		}
	}
	return out
}

func mustFiles(t *testing.T, o scaffold.Options) []scaffold.File {
	t.Helper()
	files, err := scaffold.Files(o)
	if err != nil {
		t.Fatalf("Files(%+v): %v", o, err)
	}
	return files
}

// documents splits a YAML file into its documents, failing the test on a parse error.
func documents(t *testing.T, f scaffold.File) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(f.Data))
	var docs []map[string]any
	for i := 1; ; i++ {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: document %d does not parse: %v", f.Path, i, err)
		}
		docs = append(docs, doc)
	}
}

func isYAML(p string) bool { return strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") }

func TestFilesWritesParseableSortedDeterministicOutputForEveryEngineAndCI(t *testing.T) {
	t.Parallel()
	for _, c := range combinations() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			files := mustFiles(t, c.opts)
			again := mustFiles(t, c.opts)
			if len(files) != len(again) {
				t.Fatalf("second call returned %d files, first %d", len(again), len(files))
			}
			seen := map[string]bool{}
			for i, f := range files {
				if seen[f.Path] {
					t.Errorf("%s: generated twice", f.Path)
				}
				seen[f.Path] = true
				if i > 0 && files[i-1].Path >= f.Path {
					t.Errorf("not sorted: %s before %s", files[i-1].Path, f.Path)
				}
				if f.Path != path.Clean(f.Path) || path.IsAbs(f.Path) || strings.HasPrefix(f.Path, "..") {
					t.Errorf("%s: not a clean relative slash path", f.Path)
				}
				if f.Mode != 0o644 {
					t.Errorf("%s: mode %v, want 0644", f.Path, f.Mode)
				}
				if again[i].Path != f.Path || !bytes.Equal(again[i].Data, f.Data) || again[i].Mode != f.Mode {
					t.Errorf("%s: second call differs", f.Path)
				}
				if isYAML(f.Path) {
					if docs := documents(t, f); len(docs) == 0 {
						t.Errorf("%s: no YAML document", f.Path)
					}
				}
				if bytes.Contains(f.Data, []byte("\t")) {
					t.Errorf("%s: contains a tab; use 2-space indentation", f.Path)
				}
			}
			want := map[string]bool{
				"gitops/argocd/kustomization.yaml":       c.opts.Engine != scaffold.EngineFlux,
				"gitops/flux/kustomization.yaml":         c.opts.Engine != scaffold.EngineArgoCD,
				".github/workflows/marina.yaml":          c.opts.CI != scaffold.CIGitLab,
				".gitlab-ci.yml":                         c.opts.CI != scaffold.CIGitHub,
				"marina.yaml":                            true,
				"README.md":                              true,
				"ci/pipeline.yaml":                       true,
				"applications/.gitkeep":                  true,
				"models/.gitkeep":                        true,
				"infrastructure/base/kustomization.yaml": true,
			}
			for _, env := range c.opts.Envs {
				want["infrastructure/overlays/"+env+"/kustomization.yaml"] = true
				want["gitops/flux/apps/"+env+"/kustomization.yaml"] = c.opts.Engine != scaffold.EngineArgoCD
			}
			for p, present := range want {
				if seen[p] != present {
					t.Errorf("%s: present=%v, want %v", p, seen[p], present)
				}
			}
		})
	}
}

func TestFilesRejectsInvalidOptionsNamingTheFlag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts scaffold.Options
		want string
	}{
		{"name the project when it is empty", scaffold.Options{}, "project name"},
		{"reject a project name that is not a DNS label", scaffold.Options{Name: "ML_Platform"}, "project name"},
		{"reject an environment that is not a DNS label", scaffold.Options{Name: "p", Envs: []string{"Staging"}}, "--envs"},
		{"reject an empty environment", scaffold.Options{Name: "p", Envs: []string{"staging", ""}}, "--envs"},
		{"reject an environment listed twice", scaffold.Options{Name: "p", Envs: []string{"a", "a"}}, "listed twice"},
		{"reject an environment too long for its namespace", scaffold.Options{Name: "p", Envs: []string{strings.Repeat("a", 57)}}, "--envs"},
		{"reject an unknown engine", scaffold.Options{Name: "p", Engine: "spinnaker"}, "--engine"},
		{"reject an unknown CI", scaffold.Options{Name: "p", CI: "jenkins"}, "--ci"},
		{"reject a repository URL the engines cannot pull", scaffold.Options{Name: "p", RepoURL: "git@github.com:a/b.git"}, "--repo-url"},
		{"reject a branch git would refuse", scaffold.Options{Name: "p", Branch: "a..b"}, "--branch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.opts.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: want an error mentioning %q, got %v", tt.want, err)
			}
			if _, err := scaffold.Files(tt.opts); err == nil {
				t.Fatal("Files accepted options Validate rejects")
			}
		})
	}
}

func TestValidateAcceptsDefaultsForEmptyFields(t *testing.T) {
	t.Parallel()
	if err := (scaffold.Options{Name: "ml-platform"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestProjectChainsEnvironmentsAndGuardsTheLast(t *testing.T) {
	t.Parallel()
	p := scaffold.Project(scaffold.Options{Name: "ml-platform", Envs: []string{"dev", "staging", "prod"}, Engine: "flux"})
	envs := p.Spec.Environments
	if len(envs) != 3 {
		t.Fatalf("want 3 environments, got %d", len(envs))
	}
	for i, e := range envs {
		if e.Namespace != "models-"+e.Name {
			t.Errorf("%s: namespace %s", e.Name, e.Namespace)
		}
		if i == 0 && len(e.Requires) != 0 || i > 0 && (len(e.Requires) != 1 || e.Requires[0] != envs[i-1].Name) {
			t.Errorf("%s: requires %v", e.Name, e.Requires)
		}
		last := i == len(envs)-1
		if (e.Policy != nil) != last || last && (!e.Policy.RequireDigestPinnedImages || !e.Policy.RequireLimits) {
			t.Errorf("%s: policy %+v", e.Name, e.Policy)
		}
	}
	if p.Spec.Repository.URL != "https://git.example.com/ml-platform.git" || p.Spec.Repository.Branch != "main" {
		t.Errorf("repository %+v", p.Spec.Repository)
	}
	if len(p.Spec.Engines) != 1 || p.Spec.Engines[0] != "flux" || p.Spec.Traffic != "gateway" {
		t.Errorf("engines %v traffic %q", p.Spec.Engines, p.Spec.Traffic)
	}
	g := p.Spec.Gates
	if g == nil || *g.Accuracy.Min != 0.9 || *g.Accuracy.MaxRegression != 0.01 || g.LatencyP95Ms.Max != 50 {
		t.Errorf("gates %+v", g)
	}
}

func TestFilesMatchTheGoldenFilesForTheDefaultOptions(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "golden", "default")
	files := mustFiles(t, scaffold.Options{Name: "ml-platform"})
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	golden.Only(t, dir, paths...)
	for _, f := range files {
		golden.Check(t, filepath.Join(dir, filepath.FromSlash(f.Path)), f.Data)
	}
}
