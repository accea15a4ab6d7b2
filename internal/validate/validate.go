package validate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"strings"

	"github.com/marina-dev/marina/internal/dryrun"
	"github.com/marina-dev/marina/internal/kubeschema"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/schemas"
	"golang.org/x/sync/errgroup"
	"sigs.k8s.io/kustomize/api/konfig"
)

// ErrUnknownEnv means Options.Env is not an environment of marina.yaml.
var ErrUnknownEnv = errors.New("unknown environment")

// Options select what Run checks.
type Options struct {
	// Env limits the per-environment checks to one environment of marina.yaml; "" checks all.
	Env string
	// ExtraCRDDirs hold CustomResourceDefinitions for kinds marina has no built-in schema for.
	ExtraCRDDirs []string
	// Concurrency is the number of files checked at once; 0 means GOMAXPROCS.
	Concurrency int
}

// Run checks the repository and returns every finding. The error is for problems that stop validation itself
// (an unknown --env, unreadable --crds, a cancelled context), never for findings.
func Run(ctx context.Context, r *repo.Repo, opts Options) (*Report, error) {
	kube, err := validators(opts.ExtraCRDDirs)
	if err != nil {
		return nil, err
	}
	v := &validation{r: r, opts: opts, kube: kube,
		apps: map[string]*application{}, versions: map[string]*versionFile{}, patches: map[string]bool{}, argocd: map[string]string{},
		rendered: map[string]*rendering{}}
	if v.opts.Concurrency <= 0 {
		v.opts.Concurrency = runtime.GOMAXPROCS(0)
	}
	var findings []Finding

	// marina.yaml first: the environments decide what the rest checks, the Gateway API channel which schemas.
	findings = append(findings, v.checkProject()...)
	if v.project != nil {
		if err := kube.UseGatewayAPIChannel(v.project.GatewayAPIChannel()); err != nil {
			return nil, fmt.Errorf("%s: spec.gatewayAPI.channel: %w", project.ProjectFile, err)
		}
	}
	if v.project != nil && opts.Env != "" {
		if _, ok := v.project.Environment(opts.Env); !ok {
			return nil, fmt.Errorf("%w %q: marina.yaml defines %s", ErrUnknownEnv, opts.Env, strings.Join(v.project.EnvironmentNames(), ", "))
		}
	}

	files, fs2, err := v.discover()
	if err != nil {
		return nil, err
	}
	findings = append(findings, fs2...)

	// marina's own files and kustomizations first: the patches kustomizations name are partial objects, not
	// checked as whole ones; then every application is rendered once, for the stale check and so that manifests
	// committed exactly as rendered are checked from render's objects instead of being parsed again, each with
	// the manifests of its rendered directories, so that no more than a pool's worth of rendered objects is held
	// at once; then the other manifests.
	var own, manifests []file
	for _, f := range files {
		if f.kind == kindManifest {
			manifests = append(manifests, f)
		} else {
			own = append(own, f)
		}
	}
	for _, phase := range []func() []task{
		func() []task { return v.fileTasks(own) },
		func() []task {
			var apps []task
			apps, manifests = v.renderTasks(manifests)
			return apps
		},
		func() []task { return v.fileTasks(manifests) },
	} {
		out, err := pool(ctx, v.opts.Concurrency, phase())
		if err != nil {
			return nil, err
		}
		findings = append(findings, out...)
	}

	// Cross-file checks read what the file checks collected; they only read shared state.
	out, err := pool(ctx, v.opts.Concurrency, v.crossTasks())
	if err != nil {
		return nil, err
	}
	findings = append(findings, out...)
	if v.project != nil && !v.broken {
		for _, env := range v.project.EnvironmentNames() {
			if opts.Env == "" || env == opts.Env {
				findings = append(findings, v.checkFluxIndex(env)...)
			}
		}
	}
	checked := []string{project.ProjectFile}
	for _, f := range files {
		checked = append(checked, f.path)
	}
	slices.Sort(checked)
	return &Report{Findings: sortFindings(findings), Files: slices.Compact(checked)}, nil
}

// validators returns marina's builtin Kubernetes and CRD schemas plus the CRDs of --crds, which replace a builtin
// schema of the same kind.
func validators(extra []string) (*kubeschema.Validator, error) {
	v, err := kubeschema.Builtin()
	if err != nil {
		return nil, err
	}
	if len(extra) > 0 {
		if err := v.AddCRDs(extra...); err != nil {
			return nil, fmt.Errorf("--crds: %w", err)
		}
	}
	return v, nil
}

// result is what one task produced: findings, and an apply step run after all the tasks of a pool, so tasks
// never write shared state concurrently.
type result struct {
	findings []Finding
	apply    func()
}

type task func() result

// pool runs tasks on at most n goroutines, then their apply steps one at a time. Findings come in the tasks'
// order; the caller's sort makes the output the same for any n anyway.
func pool(ctx context.Context, n int, tasks []task) ([]Finding, error) {
	results := make([]result, len(tasks))
	var g errgroup.Group
	g.SetLimit(n)
	for i, t := range tasks {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			results[i] = t()
			return nil
		})
	}
	_ = g.Wait() // tasks report problems as findings, not errors
	var out []Finding
	for _, res := range results {
		out = append(out, res.findings...)
		if res.apply != nil {
			res.apply()
		}
	}
	return out, ctx.Err()
}

// validation is the state of one Run.
type validation struct {
	r    *repo.Repo
	opts Options
	kube *kubeschema.Validator

	project    *project.Project
	projectDoc *schemas.Document

	// Written by apply steps only, after their pool's tasks; read by the tasks of later pools.
	apps     map[string]*application // by directory name under applications/
	versions map[string]*versionFile // by file path
	patches  map[string]bool         // kustomize patch files
	quotas   []quota
	argocd   map[string]string     // gitops/argocd file → text
	rendered map[string]*rendering // by application directory
	// registeredVersions are the versions of each model, sorted, for the cross-file checks.
	registeredVersions map[string][]string
	// signatures holds the public keys of marina.yaml and the verified signatures.
	signatures signatures
	// broken is set when an application has a broken reference: render cannot run, so neither can the
	// stale check of the Flux index it maintains.
	broken bool
}

// application is one parsed applications/<dir>/model.yaml.
type application struct {
	dir   string // applications/<dir>
	file  string
	lines schemas.Lines
	spec  *project.ModelApplication // nil when the file does not match its schema
}

// versionFile is one models/<model>/v<version>.json; v is nil when it does not match its schema.
type versionFile struct {
	file string
	v    *model.Version
}

type fileKind int

const (
	kindModelVersion fileKind = iota
	kindApplication
	kindPipeline
	kindKustomization
	kindManifest
)

type file struct {
	path string
	kind fileKind
}

// maxSize is the read limit of a kind of file.
func (k fileKind) maxSize() int64 {
	if k == kindManifest {
		return schemas.MaxManifestSize
	}
	return schemas.MaxFileSize
}

// discover lists the files to check. Symlinks are reported, never followed.
func (v *validation) discover() ([]file, []Finding, error) {
	var files []file
	var findings []Finding
	add := func(p string, k fileKind) { files = append(files, file{path: p, kind: k}) }

	if v.r.Exists("ci/pipeline.yaml") {
		add("ci/pipeline.yaml", kindPipeline)
	}
	// The registry's own listing, so validate and every other command agree on models/.
	models, problems, err := (&registry.Registry{Repo: v.r}).Models()
	if err != nil {
		return nil, nil, err
	}
	for _, p := range problems {
		findings = append(findings, finding("file-name", model.Dir, "", 0, "rename or remove it; model directories are named like Kubernetes objects", "%s", strings.TrimPrefix(p.Error(), repo.ErrBadPath.Error()+": ")))
	}
	for _, name := range models {
		d := path.Join(model.Dir, name)
		entries, err := v.r.ReadDir(d)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range entries {
			n := e.Name()
			if e.Type().IsRegular() && strings.HasPrefix(n, "v") && strings.HasSuffix(n, ".json") {
				add(path.Join(d, n), kindModelVersion)
			} else if e.Type()&fs.ModeSymlink != 0 && strings.HasSuffix(n, ".json") {
				findings = append(findings, symlinkFinding(path.Join(d, n)))
			}
		}
	}
	appDirs, f, err := v.subdirs(project.ApplicationsDir)
	if err != nil {
		return nil, nil, err
	}
	findings = append(findings, f...)
	for _, d := range appDirs {
		app := path.Join(d, project.ApplicationFile)
		if v.r.Exists(app) {
			add(app, kindApplication)
		}
		envDirs, f, err := v.subdirs(d)
		if err != nil {
			return nil, nil, err
		}
		findings = append(findings, f...)
		for _, ed := range envDirs {
			if v.opts.Env != "" && path.Base(ed) != v.opts.Env {
				continue
			}
			if err := v.walkManifests(ed, add, &findings); err != nil {
				return nil, nil, err
			}
		}
	}
	for _, root := range []string{"infrastructure", "gitops"} {
		if err := v.walkManifests(root, add, &findings); err != nil {
			return nil, nil, err
		}
	}
	return files, findings, nil
}

// subdirs lists the directories inside dir, sorted, reporting symlinks.
func (v *validation) subdirs(dir string) ([]string, []Finding, error) {
	entries, err := v.r.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var out []string
	var findings []Finding
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), "."):
		case e.Type()&fs.ModeSymlink != 0:
			findings = append(findings, symlinkFinding(p))
		case e.IsDir():
			out = append(out, p)
		}
	}
	return out, findings, nil
}

// walkManifests adds every YAML or JSON file under dir, skipping dot-directories and, with --env, the
// environment directories (overlays/<env>, apps/<env>) of other environments.
func (v *validation) walkManifests(dir string, add func(string, fileKind), findings *[]Finding) error {
	entries, err := v.r.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), "."):
		case e.Type()&fs.ModeSymlink != 0:
			*findings = append(*findings, symlinkFinding(p))
		case e.IsDir():
			if v.otherEnvDir(p) {
				continue
			}
			if err := v.walkManifests(p, add, findings); err != nil {
				return err
			}
		case slices.Contains(konfig.RecognizedKustomizationFileNames(), e.Name()):
			add(p, kindKustomization)
		case dryrun.IsManifest(e.Name()):
			add(p, kindManifest)
		}
	}
	return nil
}

// otherEnvDir reports whether p is the per-environment directory of an environment other than --env.
func (v *validation) otherEnvDir(p string) bool {
	if v.opts.Env == "" || v.project == nil || strings.HasPrefix(p, project.ApplicationsDir+"/") {
		return false
	}
	return otherEnv(v.project, v.opts.Env, p)
}

func symlinkFinding(p string) Finding {
	return finding("file-unreadable", p, "", 0, "replace the symlink with the file itself", "is a symlink; marina does not follow symlinks in a model repository")
}

// read reads a file with its kind's limit; a failure is a finding.
func (v *validation) read(f file) ([]byte, []Finding) {
	data, err := v.r.ReadFile(f.path, f.kind.maxSize())
	if err != nil {
		hint := "check the file"
		if errors.Is(err, repo.ErrTooLarge) {
			hint = "split the file; marina reads at most " + fmt.Sprint(f.kind.maxSize()) + " bytes of it"
		}
		return nil, []Finding{finding("file-unreadable", f.path, "", 0, hint, "%v", trimFile(err, f.path))}
	}
	return data, nil
}

// trimFile drops a leading "file: " from an error message that a finding already locates.
func trimFile(err error, file string) string {
	return strings.TrimPrefix(err.Error(), file+": ")
}

// fileTasks check each file on its own.
func (v *validation) fileTasks(files []file) []task {
	tasks := make([]task, len(files))
	for i, f := range files {
		tasks[i] = func() result {
			data, findings := v.read(f)
			if data == nil {
				return result{findings: findings}
			}
			return v.checkByKind(f, data)
		}
	}
	return tasks
}

func (v *validation) checkByKind(f file, data []byte) result {
	switch f.kind {
	case kindModelVersion:
		return v.checkModelVersion(f.path, data)
	case kindApplication:
		return v.checkApplication(f.path, data)
	case kindPipeline:
		return v.checkPipeline(f.path, data)
	case kindKustomization:
		return v.checkKustomization(f.path, data)
	}
	return v.checkManifests(f.path, data, nil)
}
