package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/router"
)

type routerOptions struct {
	*globalOptions
	ctx            context.Context
	config         string
	reloadInterval time.Duration
}

func (o *routerOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.config, "config", "", "the router configuration file (required)")
	fs.DurationVar(&o.reloadInterval, "reload-interval", time.Second, "how often to check the configuration file for changes (0: only on SIGHUP)")
}

func (o *routerOptions) Validate() error {
	if o.config == "" {
		return usagef("--config is required: a router configuration file (see marina router --help)")
	}
	if o.reloadInterval < 0 {
		return usagef("--reload-interval must be 0 or more, not %s", o.reloadInterval)
	}
	return nil
}

func (o *routerOptions) Run() error {
	ctx := o.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	cfg, err := router.Load(o.config)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return usagef("--config %s: no such file", o.config)
		}
		return usagef("%v", err)
	}
	rt, err := router.New(cfg, router.Options{Log: o.log})
	if err != nil {
		return usagef("%s: %v", o.config, err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return usagef("%s: listen: %v", o.config, err)
	}
	var mln net.Listener
	metrics := ""
	if cfg.Metrics != "" {
		if mln, err = net.Listen("tcp", cfg.Metrics); err != nil {
			ln.Close()
			return usagef("%s: metrics: %v", o.config, err)
		}
		metrics = fmt.Sprintf(", metrics on http://%s/metrics", mln.Addr())
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	if o.reloadInterval > 0 {
		go rt.WatchFile(wctx, o.config, o.reloadInterval)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-wctx.Done():
				return
			case <-hup:
				rt.ReloadFile(o.config)
			}
		}
	}()
	fmt.Fprintf(o.out, "routing %s on http://%s%s\n", cfg.Model, ln.Addr(), metrics)
	if err := rt.Serve(ctx, ln, mln); err != nil {
		return usagef("routing on %s: %v", ln.Addr(), err)
	}
	fmt.Fprintf(o.out, "stopped routing %s\n", cfg.Model)
	return nil
}

func newRouterCommand(g *globalOptions) *cobra.Command {
	o := &routerOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "router --config FILE",
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
  - Prometheus metrics on the separate metrics address: requests and latency per
    version and status code, in flight, upstream errors, mirror drops and the
    comparisons per model/version pair. W3C traceparent headers pass through
    to the primary and the shadow. HTTP/2 without TLS means prior knowledge
    (curl --http2-prior-knowledge), not the Upgrade: h2c handshake.

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
  maxIdleConnsPerHost: 256
  timeouts: {upstream: 60s, readHeader: 10s, idle: 90s, drain: 10s}

Changes to the file are picked up within --reload-interval, or on SIGHUP, and
swapped in atomically; a file that does not load is logged and the previous
configuration stays (listen and metrics addresses need a restart). SIGTERM or
Ctrl-C stops accepting connections and lets requests in flight finish (up to
timeouts.drain). Exit 2 when the configuration is invalid or an address is taken.`,
		Example: `  marina router --config router.yaml
  curl -s localhost:8080/v2/models/fraud-detector/infer -H 'X-Marina-Version: 1.1.0' -d @request.json
  curl -s localhost:9100/metrics | grep marina_router_shadow_argmax_rows_total`,
		Args: cobra.NoArgs,
	}
	run := runE(o, func([]string) {})
	cmd.RunE = func(c *cobra.Command, args []string) error {
		o.ctx = c.Context()
		return run(c, args)
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
