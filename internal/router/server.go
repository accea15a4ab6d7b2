package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// Serve answers requests on ln (HTTP/1.1 and HTTP/2 without TLS, h2c with prior knowledge) and, when metricsLn is not
// nil, serves /metrics and /healthz on it, until ctx ends. Then it stops accepting connections, lets requests in
// flight finish for up to the configuration's drain timeout, and stops the shadow workers.
//
// HTTP/2 without TLS is prior knowledge only. The other way in, an HTTP/1.1 request with Upgrade: h2c, is not offered:
// RFC 9113 §3.1 deprecated it, net/http (Go 1.26) implements only prior knowledge, and the one implementation of the
// upgrade, golang.org/x/net/http2/h2c, is itself deprecated in favour of net/http's. Such a request is answered
// over HTTP/1.1, as RFC 9110 §7.8 allows, and its Upgrade headers are not forwarded.
func (rt *Router) Serve(ctx context.Context, ln, metricsLn net.Listener) error {
	cfg := rt.Config()
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           rt,
		Protocols:         &protocols,
		ReadHeaderTimeout: cfg.Timeouts.ReadHeader.Duration,
		IdleTimeout:       cfg.Timeouts.Idle.Duration,
		MaxHeaderBytes:    1 << 20,
	}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", rt.MetricsHandler())
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux.Handle("GET /status", rt.StatusHandler())
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: cfg.Timeouts.ReadHeader.Duration}
		servers = append(servers, msrv)
		go func() { errc <- msrv.Serve(metricsLn) }()
	}
	probing, stopProbes := context.WithCancel(ctx)
	probed := make(chan struct{})
	go func() { defer close(probed); rt.probe(probing) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	stopProbes()
	<-probed
	drain, cancel := context.WithTimeout(context.Background(), rt.Config().Timeouts.Drain.Duration)
	defer cancel()
	for _, s := range servers {
		if serr := s.Shutdown(drain); serr != nil && err == nil {
			err = fmt.Errorf("draining requests in flight: %w", serr)
		}
	}
	rt.close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// WatchFile reloads the configuration from file whenever its modification time or size changes, checking every
// interval, until ctx ends. A configuration that does not load is logged and counted; the previous one stays.
func (rt *Router) WatchFile(ctx context.Context, file string, interval time.Duration) {
	last, _ := os.Stat(file)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fi, err := os.Stat(file)
		if err != nil || (last != nil && fi.ModTime().Equal(last.ModTime()) && fi.Size() == last.Size()) {
			continue
		}
		last = fi
		rt.ReloadFile(file)
	}
}

// ReloadFile loads file and swaps it in; on error the previous configuration stays. It reports whether it swapped.
func (rt *Router) ReloadFile(file string) bool {
	cfg, err := Load(file)
	if err != nil {
		rt.ReloadFailed(err)
		return false
	}
	return rt.Reload(cfg) == nil
}

// ReloadFailed records a configuration that could not be loaded: the previous one stays.
func (rt *Router) ReloadFailed(err error) { rt.reloaded(nil, err) }
