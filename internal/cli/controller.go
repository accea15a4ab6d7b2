package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/controller"
	"github.com/marina-dev/marina/internal/forge"
	"github.com/marina-dev/marina/internal/writeback"
)

type controllerOptions struct {
	*globalOptions
	kube        kubeOptions
	watchAll    bool
	metricsAddr string
	healthAddr  string
	pprof       pprofOptions
	leaderElect bool
	concurrency int
	prometheus  string
	gitCache    string
	gitAuthor   string
}

func (o *controllerOptions) AddFlags(fs *pflag.FlagSet) {
	o.kube.AddFlags(fs)
	fs.BoolVarP(&o.watchAll, "all-namespaces", "A", false, "watch ModelDeployments in every namespace (default: only -n's, or the context's)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", ":8080", "address of the Prometheus /metrics endpoint (0 to disable)")
	fs.StringVar(&o.healthAddr, "health-addr", ":8081", "address of /healthz and /readyz (0 to disable)")
	o.pprof.AddFlags(fs)
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader, so that only one of several replicas reconciles")
	fs.IntVar(&o.concurrency, "concurrency", 4, "ModelDeployments reconciled at once")
	fs.StringVar(&o.prometheus, "prometheus", "", "Prometheus of analysis templates that name none, e.g. http://prometheus.monitoring:9090")
	fs.StringVar(&o.gitCache, "git-cache", filepath.Join(os.TempDir(), "marina-controller-git"), "directory for the clones the Git write-back keeps (disposable)")
	fs.StringVar(&o.gitAuthor, "git-author", "", `author of write-back commits, "Name <email>" (default "marina-controller <marina@localhost>")`)
}

func (o *controllerOptions) Validate() error {
	if o.concurrency < 1 {
		return usagef("--concurrency must be at least 1, not %d", o.concurrency)
	}
	return nil
}

// scheme knows the client-go types and marina.dev/v1alpha1.
func scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, v1alpha1.AddToScheme(s)
}

func (o *controllerOptions) Run(ctx context.Context) error {
	cfg, ns, err := o.kube.restConfig()
	if err != nil {
		return err
	}
	s, err := scheme()
	if err != nil {
		return err
	}
	ctrl.SetLogger(logr.FromSlogHandler(o.log.Handler()))
	opts := ctrl.Options{
		Scheme:                 s,
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.healthAddr,
		PprofBindAddress:       o.pprof.addr,
		LeaderElection:         o.leaderElect,
		LeaderElectionID:       "marina-controller.marina.dev",
	}
	if !o.watchAll {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{ns: {}}
		opts.LeaderElectionNamespace = ns
	}
	opts.Cache = controller.CacheOptions(opts.Cache)
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return usagef("starting the manager: %v", err)
	}
	r := &controller.Reconciler{
		Client: mgr.GetClient(), Scheme: s, Recorder: mgr.GetEventRecorder("marina-controller"),
		Analyzer: &controller.PrometheusAnalyzer{DefaultAddress: o.prometheus},
		Writer:   &writeback.Writer{WorkDir: o.gitCache, Author: o.gitAuthor, PullRequests: forge.Opener},
	}
	if err := r.SetupWithManager(mgr, o.concurrency); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	scope := "namespace " + ns
	if o.watchAll {
		scope = "all namespaces"
	}
	o.log.Info("marina controller starting", "watch", scope, "metrics", o.metricsAddr, "health", o.healthAddr)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	return nil
}

func newControllerCommand(g *globalOptions) *cobra.Command {
	o := &controllerOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "controller [--kubeconfig K] [--context C] [-n NS | -A] [--metrics-addr :8080] [--health-addr :8081] [--leader-elect]",
		Short: "Run the operator that rolls ModelDeployments out: canary, blue-green, shadow, analysis, rollback to Git",
		Long: `controller reconciles ModelDeployments (marina.dev/v1alpha1), the objects
marina render writes for a model whose model.yaml says spec.backend: marina. For
each one it runs one Deployment per
version, Services in front of them (NAME, NAME-stable, NAME-canary) and the
traffic split: the weights of the Gateway API HTTPRoute NAME when one exists,
else the replica ratio; status.weights always holds them, for marina router.

A new spec.version rolls out by the strategy: canary steps (setWeight, pause,
analysis), blue-green (preview, switch, scale-down delay) or shadow (mirror a
share for a duration, judged by analysis, then take live traffic at once or in
canary steps). Every time and count lives in the
status, so a restarted controller resumes the same step with the same remaining
time. A failed analysis or a missed progress deadline aborts: all traffic back
to the stable version, the canary scaled to zero, Degraded=True and an Event.
A pause without a duration waits for the annotation marina.dev/resume.

Analysis steps query Prometheus (the template's prometheus.address, else
--prometheus); a measurement that cannot be taken is retried and the rollout
waits, never promotes. After an abort, spec.gitWriteBack gets the revert: the
environment back to the stable version and the bad version blocked, committed
and pushed (credentials from the Secret it names: username/password or
bearerToken) so Argo CD or Flux apply the rollback instead of the bad version.

Run it in the cluster with config/default (kubectl apply -k config/default);
it stops cleanly on SIGTERM.`,
		Example: `  # Against the current kubeconfig context, one namespace
  marina controller -n models-staging

  # Every namespace, with leader election, as config/default runs it
  marina controller -A --leader-elect

  # Resume a paused rollout
  kubectl annotate modeldeployment iris-classifier marina.dev/resume=true`,
		Args: cobra.NoArgs,
		RunE: runE(o, func([]string) {}),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
