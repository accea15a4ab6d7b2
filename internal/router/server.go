package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// maxHeaderBytes bounds a request's line and headers: larger ones are answered 431. It is the size of each client
// connection's read buffer, which holds the whole header block.
const maxHeaderBytes = 64 << 10

// Serve answers requests on ln (HTTP/1.1 and HTTP/2 without TLS, h2c with prior knowledge) and, when metricsLn is not
// nil, serves /metrics and /healthz on it, until ctx ends. Then it stops accepting connections, lets requests in
// flight finish for up to the configuration's drain timeout, and stops the shadow workers.
//
// HTTP/1.1 is served by valyala/fasthttp rather than net/http: one goroutine per connection that parses into
// reused buffers, where net/http's server and http.Transport cost the router three times nginx's CPU per proxied
// request (bench/router/README.md: with fasthttp's server and client, see its results for the numbers). A
// connection that opens with HTTP/2's preface is handed to net/http's server, which speaks HTTP/2.
//
// HTTP/2 without TLS is prior knowledge only. The other way in, an HTTP/1.1 request with Upgrade: h2c, is not offered:
// RFC 9113 §3.1 deprecated it, net/http (Go 1.26) implements only prior knowledge, and the one implementation of the
// upgrade, golang.org/x/net/http2/h2c, is itself deprecated in favour of net/http's. Such a request is answered
// over HTTP/1.1, as RFC 9110 §7.8 allows, and its Upgrade headers are not forwarded.
func (rt *Router) Serve(ctx context.Context, ln, metricsLn net.Listener) error {
	cfg := rt.Config()
	h2 := newConnQueue(ln.Addr())
	srv := &fasthttp.Server{
		Handler:                      rt.serve,
		ReadTimeout:                  cfg.Timeouts.ReadHeader.Duration, // lifted for a streamed request body
		IdleTimeout:                  cfg.Timeouts.Idle.Duration,
		ReadBufferSize:               maxHeaderBytes,
		WriteBufferSize:              16 << 10,
		MaxRequestBodySize:           smallBody, // read with the headers up to this; larger bodies stream
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		CloseOnShutdown:              true,
		Logger:                       debugLogger{rt.log},
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	h2srv := &http.Server{
		Handler:           http.HandlerFunc(rt.serveHTTP2),
		Protocols:         &protocols,
		ReadHeaderTimeout: cfg.Timeouts.ReadHeader.Duration,
		IdleTimeout:       cfg.Timeouts.Idle.Duration,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(&listener{Listener: ln, h2: h2}) }()
	go func() { errc <- h2srv.Serve(h2) }()
	var msrv *http.Server
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", rt.MetricsHandler())
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux.Handle("GET /status", rt.StatusHandler())
		msrv = &http.Server{Handler: mux, ReadHeaderTimeout: cfg.Timeouts.ReadHeader.Duration}
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
	shutdowns := []func(context.Context) error{srv.ShutdownWithContext, h2srv.Shutdown}
	if msrv != nil {
		shutdowns = append(shutdowns, msrv.Shutdown)
	}
	for _, shutdown := range shutdowns {
		if serr := shutdown(drain); serr != nil && err == nil {
			err = fmt.Errorf("draining requests in flight: %w", serr)
		}
	}
	rt.close()
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// debugLogger passes fasthttp's messages (a client that sent garbage, a connection that broke) to the log at debug
// level, as net/http's server's were.
type debugLogger struct{ log *slog.Logger }

func (l debugLogger) Printf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...))
	}
}

// listener accepts the router's client connections.
type listener struct {
	net.Listener
	h2 *connQueue
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &clientConn{Conn: c, h2: l.h2}
	if sc, ok := c.(syscall.Conn); ok {
		cc.raw, _ = sc.SyscallConn()
	}
	return cc, nil
}

// preface opens every HTTP/2 connection (RFC 9113 §3.4).
const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// clientConn is a client's connection. Its first bytes decide who serves it: fasthttp, or net/http's HTTP/2 server
// when they are HTTP/2's preface. Its system connection tells whether the client hung up (clientGone).
type clientConn struct {
	net.Conn
	raw       syscall.RawConn // nil when the connection has none
	h2        *connQueue      // until the first bytes are read
	handedOff atomic.Bool     // to the HTTP/2 server: fasthttp no longer closes it
}

func (c *clientConn) Read(p []byte) (int, error) {
	if c.h2 == nil {
		return c.Conn.Read(p)
	}
	h2 := c.h2
	c.h2 = nil
	n := 0
	var err error
	for n < len(p) && n < len(preface) && err == nil && strings.HasPrefix(preface, string(p[:n])) {
		var m int
		m, err = c.Conn.Read(p[n:])
		n += m
	}
	if n < len(preface) || string(p[:len(preface)]) != preface {
		return n, err
	}
	c.handedOff.Store(true)
	h2.push(&replayConn{Conn: c.Conn, head: append([]byte(nil), p[:n]...)})
	return 0, io.EOF
}

func (c *clientConn) Close() error {
	if c.handedOff.Load() {
		return nil
	}
	return c.Conn.Close()
}

// clientGone reports whether the client of ctx has hung up.
func clientGone(ctx *fasthttp.RequestCtx) bool {
	if c, ok := ctx.Conn().(*clientConn); ok {
		return peerClosed(c.raw, false)
	}
	if done, ok := ctx.UserValue(doneKey{}).(context.Context); ok {
		return done.Err() != nil
	}
	return false
}

// watchClient calls abort when the client of ctx hangs up, until the returned function is called, which waits for the
// watch to end. It watches a connection of fasthttp's server only while nothing reads it: during a streamed answer.
func watchClient(ctx *fasthttp.RequestCtx, abort func()) (unwatch func()) {
	if c, ok := ctx.Conn().(*clientConn); ok && c.raw != nil {
		_ = c.Conn.SetReadDeadline(time.Time{}) // the header's deadline would end the watch
		done := make(chan struct{})
		go func() {
			defer close(done)
			if peerClosed(c.raw, true) { // a pipelined request ends the watch too
				abort()
			}
		}()
		return func() {
			_ = c.Conn.SetReadDeadline(time.Unix(1, 0)) // wakes the watch
			<-done
			_ = c.Conn.SetReadDeadline(time.Time{})
		}
	}
	if done, ok := ctx.UserValue(doneKey{}).(context.Context); ok {
		stop := context.AfterFunc(done, abort)
		return func() { stop() }
	}
	return func() {}
}

// doneKey is the user value that holds an HTTP/2 request's context, which ends when its client goes away.
type doneKey struct{}

// replayConn is a connection whose first bytes were already read: head.
type replayConn struct {
	net.Conn
	head []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// connQueue is the listener of the HTTP/2 server: the connections handed off by clientConn.
type connQueue struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (q *connQueue) push(c net.Conn) {
	select {
	case q.conns <- c:
	case <-q.closed:
		_ = c.Close()
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.conns:
		return c, nil
	case <-q.closed:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.closed) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }

// newRequestCtx is a request context for a request that did not come through fasthttp's server (a probe, an HTTP/2
// request) from remote (nil: none).
func newRequestCtx(remote net.Addr) *fasthttp.RequestCtx {
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&fasthttp.Request{}, remote, debugLogger{slog.New(slog.DiscardHandler)})
	return ctx
}

// serveHTTP2 serves an HTTP/2 request with the router's handler.
func (rt *Router) serveHTTP2(w http.ResponseWriter, r *http.Request) {
	var remote net.Addr
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		remote = net.TCPAddrFromAddrPort(ap)
	}
	ctx := newRequestCtx(remote)
	ctx.SetUserValue(doneKey{}, r.Context())
	req := &ctx.Request
	req.Header.SetMethod(r.Method)
	req.SetRequestURI(r.RequestURI)
	req.Header.SetHost(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if 0 <= r.ContentLength && r.ContentLength <= smallBody {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return // the client went away
		}
		req.SetBody(body)
	} else {
		req.SetBodyStream(r.Body, int(r.ContentLength))
	}
	rt.serve(ctx)
	resp := &ctx.Response
	for k, v := range resp.Header.All() {
		switch key := string(k); key {
		case "Content-Length", "Transfer-Encoding", "Connection", "Date":
		default:
			w.Header().Add(key, string(v))
		}
	}
	w.WriteHeader(resp.StatusCode())
	_ = resp.BodyWriteTo(flusher{w})
}

// flusher sends each write on at once: an event stream reaches the client as the upstream sends it.
type flusher struct{ w http.ResponseWriter }

func (f flusher) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	_ = http.NewResponseController(f.w).Flush()
	return n, err
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
