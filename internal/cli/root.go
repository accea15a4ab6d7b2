package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/marina-dev/marina/internal/repo"
)

var silenceKlog sync.Once

// globalOptions are the flags every command shares.
type globalOptions struct {
	repoPath  string
	output    string
	noColor   bool
	verbosity int

	in     io.Reader
	out    io.Writer
	errOut io.Writer
	log    *slog.Logger
}

// openRepo finds the model repository: --repo, else the nearest parent of the
// working directory that holds a .git, like git itself.
func (g *globalOptions) openRepo() (*repo.Repo, error) {
	start := g.repoPath
	if start == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, usagef("cannot read the working directory: %v", err)
		}
		start = wd
	}
	r, err := repo.Open(start)
	if err != nil {
		if errors.Is(err, repo.ErrNotRepo) {
			return nil, usagef("%v (run marina inside a model repository, pass --repo PATH, or create one with `marina init`)", err)
		}
		return nil, usagef("%v", err)
	}
	r.Log = g.log
	g.log.Debug("opened repository", "root", r.Root)
	if err := r.Recover(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// write opens the repository, takes its write lock (finishing any interrupted
// operation) and runs fn.
func (g *globalOptions) write(fn func(*repo.Repo) error) error {
	r, err := g.openRepo()
	if err != nil {
		return err
	}
	defer r.Close()
	unlock, err := r.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	return fn(r)
}

// read opens the repository for a query whose result goes through the -o printer.
func (g *globalOptions) read(fn func(*repo.Repo, *printer) error) error {
	p, err := g.printer()
	if err != nil {
		return err
	}
	r, err := g.openRepo()
	if err != nil {
		return err
	}
	defer r.Close()
	return fn(r, p)
}

// command is what each command's options struct implements (ko's pattern).
type command interface {
	Validate() error
	Run(ctx context.Context) error
}

// runE wires a command's options: bind the arguments, validate, run.
func runE(o command, bind func(args []string)) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		bind(args)
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(c.Context())
	}
}

// result prints a change's result: as data with -o json|yaml, else through human.
func (g *globalOptions) result(v any, human func(w io.Writer)) error {
	p, err := g.printer()
	if err != nil {
		return err
	}
	if g.output != "table" {
		return p.print(v, table{})
	}
	human(g.out)
	return nil
}

// printer returns the printer for -o on a command whose output is data.
func (g *globalOptions) printer() (*printer, error) {
	return newPrinter(g.output, g.out, g.colorEnabled())
}

func (g *globalOptions) colorEnabled() bool {
	if g.noColor || os.Getenv("NO_COLOR") != "" {
		return false
	}
	return isTerminal(g.out)
}

// NewRootCommand builds the marina command tree.
func NewRootCommand(in io.Reader, out, errOut io.Writer) *cobra.Command {
	g := &globalOptions{in: in, out: out, errOut: errOut}
	cmd := newRoot(g, &cobra.Command{
		Use:   "marina",
		Short: "GitOps for AI models on Kubernetes",
		Long: `marina keeps one Git repository as the source of truth for your models, their
deployments and the cluster they run on. It scaffolds, registers, validates,
renders, promotes and rolls back through Git; Argo CD or Flux apply the result.`,
		Example: `  # Create a model repository with staging and prod
  marina init ml-platform

  # Register a model version from a file
  marina model register fraud-detector --file model.onnx --version 1.0.0

  # Roll it out to staging, then prod
  marina promote fraud-detector@1.0.0 --env staging
  marina promote fraud-detector@1.0.0 --env prod`,
	})
	cmd.AddCommand(
		newVersionCommand(g),
		newInitCommand(g),
		newModelCommand(g),
		newImageCommand(g),
		newPromoteCommand(g),
		newRollbackCommand(g),
		newHistoryCommand(g),
		newRenderCommand(g),
		newCICommand(g),
		newValidateCommand(g),
		newServeCommand(g),
		newRouterCommand(g),
		newControllerCommand(g),
		newDoctorCommand(g),
		newStatusCommand(g),
		newUICommand(g),
		newRuntimeCommand(g),
		newSandboxCommand(g),
	)
	declareOutputs(cmd)
	registerCompletions(g, cmd)
	return cmd
}

// NewServeRootCommand builds marina-serve: marina's model server alone, the binary of the image that carries ONNX
// Runtime (marina itself builds without cgo for the static CLI, controller and router image).
func NewServeRootCommand(in io.Reader, out, errOut io.Writer) *cobra.Command {
	g := &globalOptions{in: in, out: out, errOut: errOut}
	cmd := newRoot(g, &cobra.Command{
		Use:   "marina-serve",
		Short: "marina's model server: an ONNX model over the Open Inference Protocol, in ONNX Runtime",
		Long: `marina-serve is the model server of marina's serve image: marina serve, built with
cgo and ONNX Runtime. Rendered Deployments run it as "serve --model ...".`,
		Example: `  marina-serve serve --model model.onnx --name iris --addr :8080`,
	})
	cmd.AddCommand(newVersionCommand(g), newServeCommand(g), newRuntimeCommand(g))
	declareOutputs(cmd)
	return cmd
}

// newRoot completes a root command with the global flags, logging and error handling every marina binary shares.
func newRoot(g *globalOptions, cmd *cobra.Command) *cobra.Command {
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	cmd.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		level := slog.LevelWarn
		switch {
		case g.verbosity >= 2:
			level = slog.LevelDebug
		case g.verbosity == 1:
			level = slog.LevelInfo
		}
		g.log = slog.New(slog.NewTextHandler(g.errOut, &slog.HandlerOptions{Level: level}))
		// client-go logs through klog, a process-wide logger: silence it once. What matters to a user
		// (a request that failed) comes back as an error.
		silenceKlog.Do(func() { klog.SetLogger(logr.Discard()) })
		return checkOutput(c, g.output)
	}
	cmd.SetIn(g.in)
	cmd.SetOut(g.out)
	cmd.SetErr(g.errOut)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v", err) })

	pf := cmd.PersistentFlags()
	pf.StringVar(&g.repoPath, "repo", "", "path inside the model repository: the nearest directory with marina.yaml at or above it, up to the Git repository's top, is the repository (default: the working directory)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: each command's help lists the ones it takes (most: table|json|yaml)")
	pf.BoolVar(&g.noColor, "no-color", false, "never colour the output (colour is only used on a terminal anyway)")
	pf.CountVarP(&g.verbosity, "verbose", "v", "log more (-v info, -vv debug) to stderr")
	return cmd
}

// Execute runs marina with args and returns the process exit code.
func Execute(args []string, in io.Reader, out, errOut io.Writer) int {
	return execute(args, errOut, func(errOut io.Writer) *cobra.Command { return NewRootCommand(in, out, errOut) })
}

// ExecuteServe runs marina-serve with args and returns the process exit code.
func ExecuteServe(args []string, in io.Reader, out, errOut io.Writer) int {
	return execute(args, errOut, func(errOut io.Writer) *cobra.Command { return NewServeRootCommand(in, out, errOut) })
}

func execute(args []string, errOut io.Writer, newCommand func(errOut io.Writer) *cobra.Command) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first SIGINT or SIGTERM cancels ctx, and commands wind down; a second one kills the process
	// (the default action once stop has run), so a command stuck outside ctx can always be stopped.
	context.AfterFunc(ctx, stop)
	// Errors and logs leave through stderr: one place to take credentials out of them.
	errOut = repo.RedactWriter(errOut)
	cmd := newCommand(errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintf(errOut, "Error: %v\n", err)
	}
	return exitCode(err)
}
