package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/router"
)

type routerOptions struct {
	*globalOptions
	config         string
	reloadInterval time.Duration
	otlpEndpoint   string
	pprof          pprofOptions

	// cluster mode
	modelDeployment string
	kube            kubeOptions
	listen, metrics string
	protocol        string
	upstreams       []string // VERSION=URL
	probes          string
	probeInterval   time.Duration
}

func (o *routerOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.config, "config", "", "the router configuration file (local mode)")
	fs.DurationVar(&o.reloadInterval, "reload-interval", time.Second, "how often to check the configuration file for changes (0: only on SIGHUP)")
	o.pprof.AddFlags(fs)
	fs.StringVar(&o.otlpEndpoint, "otlp-endpoint", "", "send spans over OTLP/HTTP to this collector base URL, e.g. http://otel-collector:4318 (default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or $OTEL_EXPORTER_OTLP_ENDPOINT; unset: no tracing)")
	fs.StringVar(&o.modelDeployment, "model-deployment", "", "cluster mode: follow this ModelDeployment's status.weights (in --namespace)")
	o.kube.AddFlags(fs)
	fs.StringVar(&o.listen, "listen", "", "cluster mode: the proxy's address (default :8080)")
	fs.StringVar(&o.metrics, "metrics", "", "cluster mode: the /metrics address (default :9100)")
	fs.StringVar(&o.protocol, "protocol", "", "cluster mode: how responses are compared, oip-v2 (default) or kserve-v1")
	fs.StringArrayVar(&o.upstreams, "upstream", nil, "cluster mode: VERSION=URL, where a version answers instead of Service NAME-stable or NAME-canary (repeatable)")
	fs.StringVar(&o.probes, "probes", "", "cluster mode: send the sample requests in this directory (*.json, OIP v2) to every version on a timer, as the file's probes.dir")
	fs.DurationVar(&o.probeInterval, "probe-interval", router.DefaultProbeInterval, "cluster mode: the time between two rounds of --probes")
}

func (o *routerOptions) Validate() error {
	switch {
	case o.config == "" && o.modelDeployment == "":
		return usagef("--config or --model-deployment is required: a router configuration file, or the ModelDeployment to follow (see marina router --help)")
	case o.config != "" && o.modelDeployment != "":
		return usagef("--config and --model-deployment exclude each other: a file or a ModelDeployment sets the versions and weights")
	case o.config != "" && (o.listen != "" || o.metrics != "" || o.protocol != "" || len(o.upstreams) > 0 || o.probes != ""):
		return usagef("--listen, --metrics, --protocol, --upstream and --probes are for --model-deployment; with --config the file sets them")
	case o.reloadInterval < 0:
		return usagef("--reload-interval must be 0 or more, not %s", o.reloadInterval)
	}
	for _, u := range o.upstreams {
		if v, url, ok := strings.Cut(u, "="); !ok || v == "" || url == "" {
			return usagef("--upstream %q: want VERSION=URL, e.g. 1.0.0=http://127.0.0.1:9001", u)
		}
	}
	return nil
}

func (o *routerOptions) Run(ctx context.Context) error {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	cfg, follow, err := o.source(wctx)
	if err != nil || cfg == nil {
		return err // cfg is nil when ctx ended while waiting for the ModelDeployment
	}
	where := o.config
	if where == "" {
		where = "--model-deployment " + o.modelDeployment
	}
	// A server's log: one line per reload and per version marked down or up even without -v.
	log := o.log
	if o.verbosity == 0 {
		log = slog.New(slog.NewTextHandler(o.errOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	opts := router.Options{Log: log, Source: where}
	tp, err := router.NewOTLPTracing(ctx, o.otlpEndpoint)
	if err != nil {
		return usagef("--otlp-endpoint: %v", err)
	}
	if tp != nil {
		opts.TracerProvider = tp
		defer func() {
			flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tp.Shutdown(flush); err != nil {
				o.log.Warn("spans not sent to the OTLP collector", "error", err)
			}
		}()
	}
	rt, err := router.New(cfg, opts)
	if err != nil {
		return usagef("%s: %v", where, err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return usagef("%s: listen: %v", where, err)
	}
	var mln net.Listener
	metrics := ""
	if cfg.Metrics != "" {
		if mln, err = net.Listen("tcp", cfg.Metrics); err != nil {
			ln.Close()
			return usagef("%s: metrics: %v", where, err)
		}
		metrics = fmt.Sprintf(", metrics on http://%s/metrics", mln.Addr())
	}
	if err := o.pprof.start(wctx, o.out, log); err != nil {
		ln.Close()
		if mln != nil {
			mln.Close()
		}
		return err
	}
	go follow(wctx, rt)
	fmt.Fprintf(o.out, "routing %s on http://%s%s\n", cfg.Model, ln.Addr(), metrics)
	if err := rt.Serve(ctx, ln, mln); err != nil {
		return usagef("routing on %s: %v", ln.Addr(), err)
	}
	fmt.Fprintf(o.out, "stopped routing %s\n", cfg.Model)
	return nil
}

// source returns the first configuration and what keeps the router's configuration up to date: the file's watcher
// and SIGHUP in local mode, the ModelDeployment's informer in cluster mode.
func (o *routerOptions) source(ctx context.Context) (*router.Config, func(context.Context, *router.Router), error) {
	if o.config != "" {
		cfg, err := router.Load(o.config)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, nil, usagef("--config %s: no such file", o.config)
			}
			return nil, nil, usagef("%v", err)
		}
		// SIGHUP is caught from now on: its default action would end the process.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		context.AfterFunc(ctx, func() { signal.Stop(hup) })
		return cfg, func(ctx context.Context, rt *router.Router) { o.followFile(ctx, rt, hup) }, nil
	}
	restCfg, ns, err := o.kube.restConfig()
	if err != nil {
		return nil, nil, err
	}
	src := &router.ModelDeploymentSource{Namespace: ns, Name: o.modelDeployment, URLs: map[string]string{},
		Base: router.Config{Listen: cmp.Or(o.listen, ":8080"), Metrics: cmp.Or(o.metrics, ":9100"), Protocol: o.protocol}}
	if o.probes != "" {
		src.Base.Probes = &router.Probes{Dir: o.probes, Interval: router.Duration{Duration: o.probeInterval}}
	}
	for _, u := range o.upstreams {
		v, url, _ := strings.Cut(u, "=")
		src.URLs[v] = url
	}
	if err := src.Validate(); err != nil {
		return nil, nil, usagef("--model-deployment %s: %v", o.modelDeployment, err)
	}
	w, err := router.WatchModelDeployment(ctx, restCfg, src, o.log)
	if err != nil {
		return nil, nil, usagef("%v", err)
	}
	fmt.Fprintf(o.out, "following ModelDeployment %s/%s\n", ns, o.modelDeployment)
	cfg, err := w.First(ctx)
	if err != nil {
		return nil, nil, nil // stopped while waiting
	}
	return cfg, w.Follow, nil
}

// followFile reloads the configuration file when it changes and on each signal from hup, until ctx ends.
func (o *routerOptions) followFile(ctx context.Context, rt *router.Router, hup <-chan os.Signal) {
	if o.reloadInterval > 0 {
		go rt.WatchFile(ctx, o.config, o.reloadInterval)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			rt.ReloadFile(o.config)
		}
	}
}

func newRouterCommand(g *globalOptions) *cobra.Command {
	o := &routerOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "router (--config FILE | --model-deployment NAME)",
		Short: "Split traffic between model versions, mirror a share to a shadow and compare its answers",
		Long: `router is marina's data plane: a reverse proxy in front of the versions of one
model (HTTP/1.1, and HTTP/2 without TLS).

  - Weighted split between versions; sticky by a header or cookie (the same key
    stays on the same version while the weights stay the same).
  - X-Marina-Version on a request pins the version that answers (for tests;
    the shadow's version too; an unknown one gets 400); every other response
    carries X-Marina-Version: the version that answered.
  - Shadow: a percentage of unpinned POST requests is mirrored to the shadow
    version once the primary answered, through a bounded queue and a pool of
    workers. A full queue, or a slow or dead shadow, drops mirrored requests
    (counted); the primary never waits.
  - The shadow's answers are compared with the primary's (Open Inference
    Protocol v2 or KServe v1 JSON): exact match, argmax agreement, max abs/rel
    difference, shape/datatype mismatch, error mismatch, latency delta.
  - Requests stream to the version as they arrive; only a mirrored one is kept
    in memory (up to maxBody) for the shadow. A request the version may have
    received is never sent twice: as Go's HTTP client, the router retries on a
    new connection only what it had not written yet, or GET, HEAD, OPTIONS and
    TRACE without a body.
  - Prometheus metrics on the separate metrics address: requests and latency per
    version and status code, in flight, upstream errors (connect, timeout,
    other, and protocol: a 2xx answer to an inference request whose body is not
    the protocol's JSON, passed to the client as it is), mirror drops and the
    comparisons per model/version pair. HTTP/2 without TLS means prior
    knowledge (curl --http2-prior-knowledge), not the Upgrade: h2c handshake.
  - Tracing: with --otlp-endpoint, or OTEL_EXPORTER_OTLP_ENDPOINT or
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set, a span for each primary and each
    shadow request goes over OTLP/HTTP to the collector, and the upstreams see
    the span's W3C traceparent (a child of the client's). Otherwise the client's
    traceparent reaches the upstreams untouched and nothing is recorded.

The configuration file (unknown fields are errors):

  listen: 127.0.0.1:8080
  metrics: 127.0.0.1:9100
  model: fraud-detector
  protocol: oip-v2                # oip-v2 | kserve-v1
  upstreams:
    - {version: 1.0.0, url: "http://127.0.0.1:9001", weight: 90}
    - {version: 1.1.0, url: "http://127.0.0.1:9002", weight: 10}
  shadow: {version: 1.2.0, url: "http://127.0.0.1:9003", percent: 100, queue: 1024,
           workers: 8, timeout: 2s, log: {sample: 0.01, bodies: false}}
  sticky: {header: X-User-Id, cookie: session}
  maxBody: 8Mi                    # larger request bodies get 413
  maxConnsPerHost: 1024           # per upstream address; more requests wait for one
  timeouts: {upstream: 60s, readHeader: 10s, idle: 90s, drain: 10s}
  health: {consecutiveErrors: 5, backoff: 10s, failover: false}
  probes: {dir: samples, interval: 30s}   # relative to this file

Probes: every probes.interval each sample request in probes.dir (*.json Open
Inference Protocol v2 bodies: the model repository's models/NAME/samples, which
marina model check and marina ci run too) goes to every version, pinned, and with
a shadow is mirrored and compared as live traffic is: versions are exercised and
compared while live traffic is scarce. Probes are counted in
marina_router_probes_total{result="ok"|"failed"}, not among the requests; a failed
one is logged with its sample and answer.

Passive health: a version that fails health.consecutiveErrors requests in a row
without answering (refused, timed out, connection broken; an HTTP error status is
an answer) is marked down for health.backoff, then tried again. While it is down
its share of traffic gets 503 with Retry-After at once, or, with health.failover,
goes to the split's other versions by their weights; pinned requests still reach it.

The metrics address also serves GET /status: JSON with each version's weight,
share and health, the shadow and its percent, and the last reload (time, result,
error). Each reload, each version marked down or up, is one log line on stderr.

Changes to the file are picked up within --reload-interval, or on SIGHUP, and
swapped in atomically; a file that does not load is logged and the previous
configuration stays (listen and metrics addresses need a restart). SIGTERM or
Ctrl-C stops accepting connections and lets requests in flight finish (up to
timeouts.drain). Exit 2 when the configuration is invalid or an address is taken.

Cluster mode (--model-deployment NAME, in --namespace) takes the versions and
weights from the ModelDeployment's status, which marina controller writes:
status.stableVersion is reached through Service NAME-stable, status.canaryVersion
through NAME-canary (port 80; --upstream VERSION=URL points a version elsewhere),
status.weights splits between them, and a shadow rollout's mirrored percent
goes to the canary. Changes apply without a restart. Until the status has
weights the router waits and says so; when they go away, or the ModelDeployment
is deleted, the last good configuration stays (logged, and counted as a failed
reload). The router's service account needs get, list and watch on
modeldeployments.marina.dev in that namespace.`,
		Example: `  marina router --config router.yaml
  marina router --model-deployment fraud-detector -n prod
  marina router --model-deployment fraud-detector -n staging --listen 127.0.0.1:8080 \
      --upstream 1.0.0=http://127.0.0.1:9001 --upstream 1.1.0=http://127.0.0.1:9002
  curl -s localhost:8080/v2/models/fraud-detector/infer -H 'X-Marina-Version: 1.1.0' -d @request.json
  curl -s localhost:9100/metrics | grep marina_router_shadow_argmax_rows_total`,
		Args: cobra.NoArgs,
		RunE: runE(o, func([]string) {}),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
