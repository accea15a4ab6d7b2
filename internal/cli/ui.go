package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/analysis"
	"github.com/marina-dev/marina/internal/ui"
	"github.com/marina-dev/marina/internal/writeback"
)

// uiTokenEnv holds marina ui's token when --token-file is not given.
const uiTokenEnv = "MARINA_UI_TOKEN"

// minUITokenLength keeps a guessable token off an address others can reach: 16 characters is 64 bits of hex.
const minUITokenLength = 16

type uiOptions struct {
	*globalOptions
	cluster    clusterFlags
	addr       string
	tokenFile  string
	prometheus string
	git        uiGitOptions
}

// uiGitOptions make marina ui keep its own clone of the model repository, as in a cluster (charts/marina's ui).
type uiGitOptions struct {
	url         string
	branch      string
	credentials string
	dir         string
	interval    time.Duration
	set         bool // --git was given, maybe empty
}

func (o *uiOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8089", "address to listen on; one beyond loopback (:8089 is every interface) needs a token")
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the token every request must carry (default $"+uiTokenEnv+"); required for an --addr beyond loopback")
	fs.StringVar(&o.prometheus, "prometheus", "", "Prometheus that scrapes marina router (e.g. http://prometheus.monitoring:9090): rollout pages then chart the shadow version's comparison")
	o.cluster.AddFlags(fs, false)
	fs.StringVar(&o.git.url, "git", "", "clone the model repository from this URL (https://, http://, file://) and pull it every --git-interval, instead of reading a local one; --repo then names a directory inside the clone")
	fs.StringVar(&o.git.branch, "git-branch", "", "the branch --git follows (default: the remote's default branch)")
	fs.StringVar(&o.git.credentials, "git-credentials", "", "directory holding the --git credentials as files: username and password, or bearerToken (a mounted Secret, as the controller's write-back reads it)")
	fs.StringVar(&o.git.dir, "git-dir", "", "directory of the --git clone, kept across restarts (default: a new temporary directory)")
	fs.DurationVar(&o.git.interval, "git-interval", time.Minute, "how often --git pulls the repository")
}

func (o *uiOptions) Validate() error {
	host, _, err := net.SplitHostPort(o.addr)
	if err != nil {
		return usagef("--addr %q: want HOST:PORT, e.g. 127.0.0.1:8089", o.addr)
	}
	if !isLoopback(host) && o.tokenFile == "" && os.Getenv(uiTokenEnv) == "" {
		return usagef("--addr %s listens beyond this machine: pass --token-file FILE (or set %s) with the token every request must then carry, or listen on loopback, e.g. --addr 127.0.0.1:8089", o.addr, uiTokenEnv)
	}
	if o.prometheus != "" {
		if _, err := analysis.ParseAddress(o.prometheus); err != nil {
			return usagef("--prometheus: %v", err)
		}
	}
	if o.git.set && o.git.url == "" {
		return usagef("--git: no URL (want https://, http:// or file://)")
	}
	if o.git.url == "" && (o.git.branch != "" || o.git.credentials != "" || o.git.dir != "") {
		return usagef("--git-branch, --git-credentials and --git-dir go with --git URL")
	}
	if o.git.url != "" && filepath.IsAbs(o.repoPath) {
		return usagef("--repo %s with --git: name a directory inside the clone, relative to its top", o.repoPath)
	}
	if o.git.interval <= 0 {
		return usagef("--git-interval %s: use a positive duration, e.g. 1m", o.git.interval)
	}
	return o.cluster.Validate()
}

// clone makes the --git clone and points --repo into it; the returned function pulls it every --git-interval
// until ctx ends, logging what fails (the dashboard keeps showing the last commit it pulled).
func (o *uiOptions) clone(ctx context.Context) (pull func(), cleanup func(), err error) {
	req := writeback.MirrorRequest{RepoURL: o.git.url, Branch: o.git.branch}
	if o.git.credentials != "" {
		if req.Auth, err = writeback.CredentialsFromDir(o.git.credentials); err != nil {
			return nil, nil, usagef("--git-credentials: %v", err)
		}
	}
	dir, cleanup := o.git.dir, func() {}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "marina-ui-")
		if err != nil {
			return nil, nil, err
		}
		dir, cleanup = filepath.Join(tmp, "repo"), func() { os.RemoveAll(tmp) }
	}
	commit, err := writeback.Mirror(ctx, req, dir)
	if err != nil {
		cleanup()
		return nil, nil, usagef("--git: %v", err)
	}
	o.log.Info("cloned the model repository", "commit", commit)
	o.repoPath = filepath.Join(dir, o.repoPath)
	pull = func() {
		t := time.NewTicker(o.git.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			c, err := writeback.Mirror(ctx, req, dir)
			switch {
			case err != nil && ctx.Err() == nil:
				o.log.Warn("pulling the model repository failed; the dashboard shows the last commit pulled", "commit", commit, "error", err)
			case err == nil && c != commit:
				o.log.Info("pulled the model repository", "commit", c)
				commit = c
			}
		}
	}
	return pull, cleanup, nil
}

// isLoopback reports whether host names this machine only: localhost or a loopback IP. An empty host is every
// interface; any other name may resolve anywhere.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// token reads the token from --token-file, else $MARINA_UI_TOKEN; "" when neither is set.
func (o *uiOptions) token() (string, error) {
	from, token := "$"+uiTokenEnv, os.Getenv(uiTokenEnv)
	if o.tokenFile != "" {
		f, err := os.Open(o.tokenFile)
		if err != nil {
			return "", usagef("--token-file: %v", err)
		}
		defer f.Close()
		b, err := readCapped(f, 4096)
		if err != nil {
			return "", usagef("--token-file %s: %v", o.tokenFile, err)
		}
		from, token = o.tokenFile, string(b)
	}
	token = strings.TrimSpace(token)
	if (o.tokenFile != "" || token != "") && len(token) < minUITokenLength {
		return "", usagef("%s: the token has %d characters, use at least %d, e.g. openssl rand -hex 32 > ui.token", from, len(token), minUITokenLength)
	}
	return token, nil
}

func (o *uiOptions) Run(ctx context.Context) error {
	token, err := o.token()
	if err != nil {
		return err
	}
	if o.git.url != "" {
		pull, cleanup, err := o.clone(ctx)
		if err != nil {
			return err
		}
		defer cleanup()
		go pull()
	}
	r, err := o.openRepo()
	if err != nil {
		return err
	}
	opts := ui.Options{Repo: r.Root, Token: token, Log: o.log}
	r.Close()
	if o.cluster.enabled {
		if opts.Cluster, err = o.cluster.open(); err != nil {
			return err
		}
	}
	if o.prometheus != "" {
		if opts.Prometheus, err = analysis.NewClient(o.prometheus, analysis.Auth{}); err != nil {
			return usagef("--prometheus: %v", err)
		}
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return usagef("--addr: %v", err)
	}
	fmt.Fprintf(o.out, "marina ui on http://%s/\n", ln.Addr())
	if token != "" {
		fmt.Fprintf(o.out, "every request needs the token: open http://%s/?token=TOKEN once in a browser, or send Authorization: Bearer TOKEN\n", ln.Addr())
	}
	if err := ui.Serve(ctx, ln, ui.NewHandler(opts)); err != nil {
		return usagef("serving on %s: %v", ln.Addr(), err)
	}
	fmt.Fprintln(o.out, "stopped marina ui")
	return nil
}

func newUICommand(g *globalOptions) *cobra.Command {
	o := &uiOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "ui [--addr 127.0.0.1:8089] [--token-file FILE] [--cluster | --kubeconfig K | --context C] [--prometheus URL] [--git URL]",
		Short: "Serve a read-only web dashboard of the repository: models × environments, each model's versions and history, rollouts",
		Long: `ui serves a read-only web dashboard of the model repository:

  /              the matrix: every model in every environment of marina.yaml, with
                 the version model.yaml names, its registry state, the last change
                 from Git (commit, author, when) and the model's blocked versions
  /models/NAME   a model: its registered versions (state and reason, digest, size,
                 format and opset, inputs and outputs, metrics, signature) and each
                 environment's history from Git (who moved which version, when)
  /rollouts/NAMESPACE/NAME
                 a ModelDeployment, with a cluster: spec and stable and canary
                 versions, strategy and step, the traffic split, each analysis
                 run and metric, conditions, the abort message and its Events,
                 reloading every 5s; with --prometheus also charts of the shadow
                 version against the live one (agreement, output difference,
                 latency delta, error rate, mirror drops) over ?range=30m (5m to
                 7d), or of an earlier shadow with ?version=V

The repository is read again on every request, so a commit, a pull or an edit
shows on the next reload; the dashboard writes nothing (an operation a killed
marina left behind is finished first, as every command does). With --cluster,
--kubeconfig or --context each cell also shows what the cluster runs and whether
it is in sync with Git, as marina status --cluster does, each ModelDeployment
linking to its rollout page; when the cluster cannot be read the pages show Git
and say why. The charts query --prometheus (without credentials in the address),
each query bounded to 10s; a query that fails is a message in place of its chart.

It listens on 127.0.0.1:8089 by default, this machine only. An address beyond
loopback needs a token (--token-file FILE, else $MARINA_UI_TOKEN; 16 characters
at least), which every request must then carry: Authorization: Bearer TOKEN, or
from a browser ?token=TOKEN once, which sets an HttpOnly, SameSite=Strict cookie.
There is no TLS: beyond a trusted network, put a proxy that terminates TLS in
front of it. The pages run no script and load nothing from elsewhere
(Content-Security-Policy); they show no Secret.

With --git URL it keeps its own clone of the repository instead (--git-dir): cloned
at start, with its whole history, then fetched and reset to the remote's branch
every --git-interval, with the credentials of --git-credentials (a directory of
files username and password, or bearerToken: a mounted Secret, the keys the
controller's write-back reads). This is how the Helm chart runs it in a cluster
(ui.enabled). A pull that fails is logged and the pages keep the last commit.

SIGTERM or Ctrl-C stops it, letting requests in flight finish (up to 10s). Exit 2
on usage errors, outside a model repository, or when the address is taken.`,
		Example: `  # The dashboard of the repository in the working directory, on http://127.0.0.1:8089/
  marina ui

  # Next to what the staging cluster runs
  marina ui --context staging-cluster

  # With rollout pages charting the shadow from the cluster's Prometheus
  marina ui --context staging-cluster --prometheus http://prometheus.monitoring:9090

  # For the team, on every interface: each request needs the token
  openssl rand -hex 32 > ui.token
  marina ui --addr :8089 --token-file ui.token
  curl -s -H "Authorization: Bearer $(cat ui.token)" http://localhost:8089/

  # From its own clone of the repository, pulled every minute
  marina ui --git https://git.example.com/ml/models.git --git-credentials ./git-secret`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.cluster.imply(c.Flags())
			o.git.set = c.Flags().Changed("git")
			return runE(o, func([]string) {})(c, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
