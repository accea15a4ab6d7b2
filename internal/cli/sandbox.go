package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/sandbox"
	"github.com/marina-dev/marina/internal/source"
)

// sandboxDirEnv is the default of --dir when set (as KIND_CLUSTER_NAME is kind's): the state directory for a
// whole shell session.
const sandboxDirEnv = "MARINA_SANDBOX_DIR"

// sandboxOptions are the flags every sandbox subcommand shares.
type sandboxOptions struct {
	*globalOptions
	dir string
}

func (o *sandboxOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.dir, "dir", "", "state directory of the sandbox: state.json, sandbox.log, the Git server's repository and a working clone (default $MARINA_SANDBOX_DIR, else ~/.cache/marina/sandbox)")
}

// Validate resolves the state directory.
func (o *sandboxOptions) Validate() error {
	if o.dir == "" {
		o.dir = os.Getenv(sandboxDirEnv)
	}
	if o.dir == "" {
		d, err := sandbox.DefaultDir()
		if err != nil {
			return usagef("--dir: %v", err)
		}
		o.dir = d
	}
	d, err := filepath.Abs(o.dir)
	if err != nil {
		return usagef("--dir %s: %v", o.dir, err)
	}
	o.dir = d
	return nil
}

// options are what up starts the sandbox with: marina's source tree from the working directory,
// the model repository from --repo (its top, where marina.yaml is), this very binary.
func (o *sandboxOptions) options() (sandbox.Options, error) {
	root, err := source.FindRootFromWorkingDir()
	if err != nil {
		return sandbox.Options{}, usagef("%v: the sandbox builds what it runs with the hack/ scripts and `make image` of marina's source; run it from a clone of marina (git clone https://github.com/marina-dev/marina && cd marina)", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return sandbox.Options{}, usagef("cannot find the marina binary: %v", err)
	}
	so := sandbox.Options{Dir: o.dir, Source: root, Marina: exe}
	if o.repoPath != "" {
		r, err := o.openRepo()
		if err != nil {
			return sandbox.Options{}, err
		}
		so.Repo = r.Root
		r.Close()
	}
	return so, nil
}

func (o *sandboxOptions) printState(st sandbox.State) error {
	p, err := o.printer()
	if err != nil {
		return err
	}
	rows := [][]string{
		{"supervisor", "pid " + strconv.Itoa(st.PID) + ", " + string(st.Phase) + " since " + st.Started.Local().Format("15:04:05")},
		{"log", st.Log},
		{"kubeconfig", st.Kubeconfig},
		{"git", st.Git},
		{"clone", st.Clone},
		{"registry", st.Registry},
		{"prometheus", st.Prometheus},
		{"ui", st.UI},
	}
	keys := make([]string, 0, len(st.Endpoints))
	for k := range st.Endpoints {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		rows = append(rows, []string{k, st.Endpoints[k] + " (Open Inference Protocol v2: " + st.Endpoints[k] + "/v2/models/" + filepath.Dir(k) + "/infer)"})
	}
	return p.print(st, table{header: []string{"WHAT", "WHERE"}, rows: rows})
}

func newSandboxCommand(g *globalOptions) *cobra.Command {
	o := &sandboxOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run the whole loop on this machine: control plane, a real node, registry, Git server, Flux, controller, Prometheus",
		Long: `sandbox runs marina's whole loop on this machine, for trying marina out and for
demos: a Kubernetes control plane (etcd, kube-apiserver, controller-manager,
scheduler) with one real node (containerd, runc, CNI, kubelet, kube-proxy), an
OCI registry holding marina's images and the model versions, a Git server on
loopback holding a copy of examples/ml-platform (or --repo), Flux syncing it,
marina controller, Prometheus scraping the model servers, and marina ui in the
cluster (status shows its URL with the token it asks for). iris-classifier
runs on backend marina behind marina router: in staging a new version is rolled
out by shadow, gated by the built-in shadow-agreement analysis, and an aborted
rollout's revert is pushed to the Git server. demo shows that loop.

It runs from a clone of marina, as root (the real node sets up containers,
network namespaces and iptables rules). The first up builds what it runs into
~/.cache/marina (about 30 minutes on 2 cores); later ones start in minutes.`,
		Example: `  # From a clone of marina, as root
  sudo marina sandbox up
  marina sandbox status -o json
  curl -s $(marina sandbox status -o json | jq -r '.endpoints["iris-classifier/staging"]')/v2/models/iris-classifier
  sudo marina sandbox demo
  sudo marina sandbox down`,
	}
	o.AddFlags(cmd.PersistentFlags())
	cmd.AddCommand(newSandboxUpCommand(o), newSandboxStatusCommand(o), newSandboxDemoCommand(o), newSandboxDownCommand(o))
	return cmd
}

func newSandboxUpCommand(o *sandboxOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "up [--repo DIR] [--dir STATE_DIR]",
		Short: "Start the sandbox in the background and return once everything is Ready",
		Long: `up builds what is missing (the hack/ scripts of the clone it runs in; it says how
long up front), builds the supervisor (cmd/marina-sandbox of the clone, with go build),
starts it in the background, where it owns every process of the sandbox, shows its progress and returns once the models answer, printing what
status prints. The supervisor outlives up; down stops it. A second up while a
sandbox runs with the same state directory is refused.`,
		Example: `  sudo marina sandbox up
  # Another model repository, in another state directory
  sudo marina sandbox up --repo ../ml-platform --dir /tmp/sandbox-2`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			if os.Geteuid() != 0 {
				return usagef("%v", sandbox.ErrNotRoot)
			}
			so, err := o.options()
			if err != nil {
				return err
			}
			st, err := sandbox.Up(c.Context(), so, o.errOut)
			if errors.Is(err, sandbox.ErrAlreadyRunning) {
				return usagef("%v", err)
			}
			if err != nil {
				return err
			}
			return o.printState(st)
		},
	}
}

func newSandboxStatusCommand(o *sandboxOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status [--dir STATE_DIR]",
		Short: "Show what the sandbox runs where and how to reach it",
		Long: `status prints where each part of the running sandbox is: the admin kubeconfig,
the Git repository Flux syncs (and a working clone of it), the registry, Prometheus,
and a loopback URL per model and environment that answers the Open Inference
Protocol (v2). It exits 1 when no sandbox runs.`,
		Example: `  marina sandbox status
  export KUBECONFIG=$(marina sandbox status -o json | jq -r .kubeconfig)`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			st, err := sandbox.Status(o.dir)
			if err != nil {
				return failed(err)
			}
			return o.printState(st)
		},
	}
}

// sandboxDemoOptions are the flags of sandbox demo.
type sandboxDemoOptions struct {
	*sandboxOptions
	timeout time.Duration
}

func (o *sandboxDemoOptions) AddFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.timeout, "timeout", 20*time.Minute, "give up (exit 1, saying what was awaited and the last status seen) when the demo has not finished by then")
}

// Validate checks the flags and resolves the state directory.
func (o *sandboxDemoOptions) Validate() error {
	if o.timeout <= 0 {
		return usagef("--timeout %s: want a positive duration such as 20m", o.timeout)
	}
	return o.sandboxOptions.Validate()
}

// Run runs the demo on the running sandbox.
func (o *sandboxDemoOptions) Run(ctx context.Context) error {
	so, err := o.options()
	if err != nil {
		return err
	}
	err = sandbox.Demo(ctx, sandbox.DemoOptions{Dir: so.Dir, Source: so.Source, Marina: so.Marina, Timeout: o.timeout}, o.out)
	if errors.Is(err, sandbox.ErrNotRunning) {
		return usagef("%v: start one with `sudo marina sandbox up` first", err)
	}
	if err != nil {
		return failed(err)
	}
	return nil
}

func newSandboxDemoCommand(so *sandboxOptions) *cobra.Command {
	o := &sandboxDemoOptions{sandboxOptions: so}
	cmd := &cobra.Command{
		Use:   "demo [--timeout D] [--dir STATE_DIR]",
		Short: "Show marina's loop on the running sandbox: a good version promoted, a worse one rolled back by the controller through Git",
		Long: `demo runs marina's loop on the running sandbox and narrates it as it happens.
In the sandbox's working clone, as a user would, it registers the next two
versions of iris-classifier and pushes them to the sandbox's registry: v1 fitted
again on fresh data (the good one) and a deliberately worse model, both written by
hack/genmodels of the clone of marina it runs in. While it replays the model's
evaluation rows through staging's endpoint (10 requests a second), it promotes the
good version with --push: marina router mirrors every request to it and compares
its answers with the live version's, the shadow-agreement analysis measures them
on Prometheus, and the controller promotes it. Then the worse version: its
agreement falls below the threshold, the controller aborts the rollout, commits the
revert (the version blocked, the measured agreement in the message) to the Git
server, Flux applies it and the good version serves alone again. It ends with git
pull and marina history, which shows the automatic rollback.

Both promotions use --force: the versions are registered without measured metrics
(register --evaluate needs ONNX Runtime), so the example's quality gates would
refuse them; the live shadow analysis is the gate here.

A second demo on the same sandbox takes the next free versions (1.3.0 and 1.4.0
after 1.1.0 and 1.2.0). It exits 2 when no sandbox runs, and 1 when a step does not
happen within --timeout, saying what it waited for and the last status it saw.`,
		Example: `  # From the clone of marina the sandbox runs from, once up has returned
  sudo marina sandbox demo
  sudo marina sandbox demo --timeout 30m`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func newSandboxDownCommand(o *sandboxOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "down [--dir STATE_DIR]",
		Short: "Stop the sandbox and wait until nothing of it is left",
		Long: `down stops the sandbox's supervisor and waits while it tears everything down: no
process, mount, network namespace, iptables rule or cgroup of the sandbox is left.
With no sandbox running it says so and exits 0.`,
		Example: `  sudo marina sandbox down`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return sandbox.Down(c.Context(), o.dir, o.errOut)
		},
	}
}
