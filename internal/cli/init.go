package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/scaffold"
)

type initOptions struct {
	*globalOptions
	dir   string
	name  string
	envs  []string
	force bool
	scaffold.Options
}

func (o *initOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.name, "name", "", "project name (default: the directory name)")
	fs.StringSliceVar(&o.envs, "envs", []string{"staging", "prod"}, "environments, in promotion order")
	fs.StringVar(&o.Engine, "engine", "both", "GitOps engine to wire: argocd, flux or both")
	fs.StringVar(&o.CI, "ci", "both", "CI templates to write: github, gitlab or both")
	fs.StringVar(&o.RepoURL, "repo-url", "", "URL the GitOps engines pull this repository from (default: https://git.example.com/NAME.git)")
	fs.StringVar(&o.Branch, "branch", "main", "branch the GitOps engines follow")
	fs.BoolVar(&o.force, "force", false, "scaffold into a non-empty directory; existing files are kept, never overwritten")
}

var notLabel = regexp.MustCompile(`[^a-z0-9-]+`)

func (o *initOptions) Validate() error {
	abs, err := filepath.Abs(o.dir)
	if err != nil {
		return usagef("%v", err)
	}
	o.dir = abs
	o.Options.Name = o.name
	if o.Options.Name == "" {
		o.Options.Name = strings.Trim(notLabel.ReplaceAllString(strings.ToLower(filepath.Base(abs)), "-"), "-")
	}
	if len(o.envs) == 0 {
		return usagef("--envs: no environment given: list at least one, first to last, e.g. --envs staging,prod")
	}
	o.Options.Envs = o.envs
	if err := o.Options.Validate(); err != nil {
		return usagef("%v", err)
	}
	return nil
}

// initResult is what init reports per file.
type initResult struct {
	Path   string `json:"path"`
	Status string `json:"status"`
}

func (o *initOptions) Run(ctx context.Context) error {
	p, err := o.printer()
	if err != nil {
		return err
	}
	files, err := scaffold.Files(o.Options)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return usagef("%v", err)
	}
	entries, err := os.ReadDir(o.dir)
	if err != nil {
		return usagef("%v", err)
	}
	if len(entries) > 0 && !o.force {
		return failedf("%s is not empty; run marina init in an empty directory, or pass --force to add the missing files (existing files are never overwritten)", o.dir)
	}
	if _, err := os.Stat(filepath.Join(o.dir, ".git")); errors.Is(err, fs.ErrNotExist) {
		_, err := git.PlainInitWithOptions(o.dir, &git.PlainInitOptions{
			InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName(o.Branch)},
		})
		if err != nil {
			return usagef("git init %s: %v", o.dir, err)
		}
	}
	r, err := repo.OpenGit(o.dir)
	if err != nil {
		return usagef("%v", err)
	}
	defer r.Close()
	if r.Root != o.dir {
		if real, _ := filepath.EvalSymlinks(o.dir); real != r.Root {
			return usagef("%s is inside the Git repository %s; run marina init at that repository's root or in a new directory", o.dir, r.Root)
		}
	}
	unlock, err := r.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	var changes []repo.Change
	var results []initResult
	for _, f := range files {
		if r.Exists(f.Path) {
			results = append(results, initResult{Path: f.Path, Status: "kept"})
			continue
		}
		changes = append(changes, repo.Change{Path: f.Path, Data: f.Data})
		results = append(results, initResult{Path: f.Path, Status: "created"})
	}
	if len(changes) > 0 {
		if _, err := r.Commit(repo.Commit{Message: fmt.Sprintf("marina: initialise %s\n\nEnvironments: %s\nEngine: %s\nCI: %s\n", o.Options.Name, strings.Join(o.envs, ", "), o.Engine, o.CI), Changes: changes}); err != nil {
			return err
		}
	}
	if o.output != "table" {
		return p.print(results, table{})
	}
	t := table{header: []string{"FILE", "STATUS"}}
	for _, res := range results {
		t.rows = append(t.rows, []string{res.Path, res.Status})
	}
	if err := p.print(results, t); err != nil {
		return err
	}
	if o.RepoURL == "" {
		fmt.Fprintf(o.errOut, "warning: no --repo-url: gitops/ and marina.yaml name the placeholder %s, which Argo CD and Flux cannot pull; replace it with your repository's URL (marina validate flags it until then)\n", scaffold.DefaultRepoURL(o.Options.Name))
	}
	fmt.Fprintf(o.out, "\nInitialised model repository %s in %s.\nNext: marina model register NAME --file MODEL.onnx --version 1.0.0 --repo %s\n", o.Options.Name, o.dir, o.dir)
	return nil
}

func newInitCommand(g *globalOptions) *cobra.Command {
	o := &initOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Scaffold a model GitOps repository and make its first commit",
		Long: `init writes marina.yaml, infrastructure/ (namespaces, RBAC, quotas, GPU device
plugin, and the router's Prometheus alerts and Grafana dashboard), gitops/ (Argo CD
and/or Flux), CI templates and a README, initialises Git and commits. It refuses a non-empty directory unless --force, and even then never
overwrites a file that exists.`,
		Example: `  marina init ml-platform
  marina init ml-platform --envs dev,staging,prod --engine flux --ci gitlab
  marina init . --force --repo-url https://github.com/acme/ml-platform.git`,
		Args: cobra.MaximumNArgs(1),
		RunE: runE(o, func(args []string) {
			o.dir = "."
			if len(args) == 1 {
				o.dir = args[0]
			}
		}),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
