package scaffold

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"

	"github.com/marina-dev/marina/internal/project"
)

// Engine and CI choices: --engine takes an engine of marina.yaml's spec.engines, or both.
const (
	EngineArgoCD = project.EngineArgoCD
	EngineFlux   = project.EngineFlux
	EngineBoth   = "both"
	CIGitHub     = "github"
	CIGitLab     = "gitlab"
	CIBoth       = "both"
)

// Defaults applied by Validate and Files to empty Options fields; the CLI uses them as flag defaults.
const (
	DefaultEngine = EngineBoth
	DefaultCI     = CIGitHub
	DefaultBranch = "main"
)

// DefaultEnvs are the environments of a new project, first to last.
func DefaultEnvs() []string { return []string{"staging", "prod"} }

// DefaultRepoURL is the placeholder Git URL of a project named name.
func DefaultRepoURL(name string) string { return "https://git.example.com/" + name + ".git" }

// Options choose what marina init writes.
type Options struct {
	Name    string   // project name, e.g. "ml-platform" (DNS-1123 label)
	Envs    []string // e.g. ["staging","prod"], ordered; each a DNS-1123 label
	Engine  string   // "argocd" | "flux" | "both"
	CI      string   // "github" | "gitlab" | "both"
	RepoURL string   // URL the GitOps engines pull from; default "https://git.example.com/<name>.git"
	Branch  string   // default "main"
}

// File is one file of the scaffold.
type File struct {
	Path string      // slash-separated, relative to the repository root
	Data []byte      // contents
	Mode fs.FileMode // permission bits
}

var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// nsPrefix is prepended to an environment's name to form its namespace.
const nsPrefix = "models-"

// withDefaults fills empty fields.
func (o Options) withDefaults() Options {
	if len(o.Envs) == 0 {
		o.Envs = DefaultEnvs()
	}
	if o.Engine == "" {
		o.Engine = DefaultEngine
	}
	if o.CI == "" {
		o.CI = DefaultCI
	}
	if o.RepoURL == "" && o.Name != "" {
		o.RepoURL = DefaultRepoURL(o.Name)
	}
	if o.Branch == "" {
		o.Branch = DefaultBranch
	}
	return o
}

// Validate reports every problem with o (after defaults for empty fields), each naming the flag to fix.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	switch {
	case o.Name == "":
		errs = append(errs, errors.New("project name is empty: pass DIR (its base name is the project name) or --name"))
	case len(o.Name) > 40 || !dns1123Label.MatchString(o.Name):
		errs = append(errs, fmt.Errorf("project name %q: use at most 40 lower-case letters, digits and '-', starting and ending with a letter or digit (it names Kubernetes objects)", o.Name))
	}
	seen := map[string]bool{}
	for _, e := range o.Envs {
		switch {
		case e == "":
			errs = append(errs, errors.New("--envs: empty environment name: list names separated by commas, e.g. --envs staging,prod"))
		case len(nsPrefix+e) > 63 || !dns1123Label.MatchString(e):
			errs = append(errs, fmt.Errorf("--envs: environment %q: use at most %d lower-case letters, digits and '-', starting and ending with a letter or digit (its namespace is %s<env>)", e, 63-len(nsPrefix), nsPrefix))
		case seen[e]:
			errs = append(errs, fmt.Errorf("--envs: environment %q is listed twice: list each environment once, first to last", e))
		}
		seen[e] = true
	}
	switch o.Engine {
	case EngineArgoCD, EngineFlux, EngineBoth:
	default:
		errs = append(errs, fmt.Errorf("--engine: %q is not a GitOps engine marina supports: use argocd, flux or both", o.Engine))
	}
	switch o.CI {
	case CIGitHub, CIGitLab, CIBoth:
	default:
		errs = append(errs, fmt.Errorf("--ci: %q is not a CI system marina supports: use github, gitlab or both", o.CI))
	}
	if !validRepoURL(o.RepoURL) {
		errs = append(errs, fmt.Errorf("--repo-url: %q is not a Git URL Argo CD and Flux can pull: use https://, http:// or ssh:// (e.g. https://github.com/acme/%s.git)", o.RepoURL, o.Name))
	}
	if !validBranch(o.Branch) {
		errs = append(errs, fmt.Errorf("--branch: %q is not a valid Git branch name: use a name like main", o.Branch))
	}
	return errors.Join(errs...)
}

func validRepoURL(u string) bool {
	if strings.ContainsAny(u, " \t\r\n\"'`$\\") {
		return false
	}
	for _, p := range []string{"https://", "http://", "ssh://"} {
		if rest, ok := strings.CutPrefix(u, p); ok {
			return len(rest) > 0 && !strings.HasPrefix(rest, "/")
		}
	}
	return false
}

// validBranch applies the parts of git check-ref-format that matter for a branch typed on a command line.
func validBranch(b string) bool {
	if b == "" || strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") ||
		strings.HasSuffix(b, ".") || strings.HasSuffix(b, ".lock") || strings.Contains(b, "..") ||
		strings.Contains(b, "//") || strings.Contains(b, "@{") || b == "@" {
		return false
	}
	for _, r := range b {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\\"'`$", r) {
			return false
		}
	}
	return true
}

func (o Options) argocd() bool { return o.Engine == EngineArgoCD || o.Engine == EngineBoth }
func (o Options) flux() bool   { return o.Engine == EngineFlux || o.Engine == EngineBoth }
func (o Options) github() bool { return o.CI == CIGitHub || o.CI == CIBoth }
func (o Options) gitlab() bool { return o.CI == CIGitLab || o.CI == CIBoth }

func namespace(env string) string { return nsPrefix + env }

// Files returns the files of a new model GitOps repository, sorted by Path. The same Options always give
// byte-identical output.
func Files(o Options) ([]File, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	g := &generator{o: o, files: map[string]File{}}
	steps := []func() error{g.project, g.template("README.md", "README.md.tmpl"), g.infrastructure, g.placeholders,
		// ci/pipeline.yaml is the declarative stage list `marina ci` runs.
		g.template("ci/pipeline.yaml", "pipeline.yaml.tmpl")}
	if o.argocd() {
		steps = append(steps, g.argoCD)
	}
	if o.flux() {
		steps = append(steps, g.fluxCD)
	}
	if o.github() {
		steps = append(steps, g.template(".github/workflows/marina.yaml", "github-workflow.yaml.tmpl"))
	}
	if o.gitlab() {
		steps = append(steps, g.template(".gitlab-ci.yml", "gitlab-ci.yml.tmpl"))
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if g.err != nil {
		return nil, g.err
	}
	out := make([]File, 0, len(g.files))
	for _, f := range g.files {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b File) int { return cmp.Compare(a.Path, b.Path) })
	return out, nil
}

// generator collects files; the first error sticks.
type generator struct {
	o     Options
	files map[string]File
	err   error
}

func (g *generator) add(path string, data []byte) {
	if _, dup := g.files[path]; dup && g.err == nil {
		g.err = fmt.Errorf("scaffold: %s generated twice", path)
	}
	g.files[path] = File{Path: path, Data: data, Mode: 0o644}
}

func (g *generator) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}
