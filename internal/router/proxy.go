package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Options are a Router's dependencies; the zero value works.
type Options struct {
	// Log receives reload results and sampled shadow disagreements; nil discards them.
	Log *slog.Logger
	// Rand returns uniformly random numbers for weighted and mirror choices; it must be safe for concurrent use.
	// nil uses math/rand/v2. Tests inject a seeded source.
	Rand func() uint64
	// TracerProvider records a span for each primary and shadow request and injects its W3C traceparent upstream.
	// nil records nothing: the client's traceparent and tracestate headers then reach the upstreams verbatim.
	TracerProvider trace.TracerProvider
}

// Router is the reverse proxy in front of the versions of one model. It is an http.Handler.
type Router struct {
	log     *slog.Logger
	rand    func() uint64
	tracer  trace.Tracer // nil without a TracerProvider
	metrics *metrics
	state   atomic.Pointer[state]
	reload  sync.Mutex // serialises Reload, not requests
	copyBuf sync.Pool  // *[]byte response copy buffers
}

// state is one configuration, ready to route; Reload swaps it whole.
type state struct {
	cfg       *Config
	upstreams []*upstream          // weighted, in configuration order
	cum       []uint64             // cumulative weights of upstreams
	total     uint64               // sum of the weights
	byVersion map[string]*upstream // every version a request may pin, the shadow's too
	pools     map[string]*connPool // keep-alive pools by upstream address
	mirror    *mirror              // nil without a shadow
	mirrorPPM uint64               // mirrored requests per million
	stickyHdr string               // canonical header key
	inFlight  prometheus.Gauge     // of the model
}

// upstream is one version's address and metrics.
type upstream struct {
	version string
	answer  []string // the X-Marina-Version value of its responses, shared by all of them
	url     *url.URL
	prefix  string // the URL's path, escaped, without a trailing slash
	pool    *connPool
	metrics *versionMetrics
	errors  map[string]prometheus.Counter // by kind
	pair    *pairMetrics                  // comparisons of the shadow against this version; nil without a shadow
}

// New builds a Router for cfg (from Load or Parse).
func New(cfg *Config, opts Options) (*Router, error) {
	rt := &Router{log: opts.Log, rand: opts.Rand, metrics: newMetrics()}
	if rt.log == nil {
		rt.log = slog.New(slog.DiscardHandler)
	}
	if rt.rand == nil {
		rt.rand = rand.Uint64
	}
	if opts.TracerProvider != nil {
		rt.tracer = opts.TracerProvider.Tracer("github.com/marina-dev/marina/internal/router")
	}
	rt.copyBuf.New = func() any { b := make([]byte, 32<<10); return &b }
	st, err := rt.build(cfg, nil)
	if err != nil {
		return nil, err
	}
	rt.state.Store(st)
	return rt, nil
}

// Config returns the configuration in use.
func (rt *Router) Config() *Config { return rt.state.Load().cfg }

// MetricsHandler serves the router's Prometheus metrics.
func (rt *Router) MetricsHandler() http.Handler { return rt.metrics.handler() }

// Reload swaps in cfg atomically: requests already routed finish on the previous configuration, the next ones use
// cfg. Keep-alive connections survive when the pool settings stay; the shadow queue is replaced only when the shadow
// changes.
func (rt *Router) Reload(cfg *Config) error {
	rt.reload.Lock()
	defer rt.reload.Unlock()
	old := rt.state.Load()
	st, err := rt.build(cfg, old)
	if err != nil {
		rt.metrics.reloads.WithLabelValues("failure").Inc()
		return err
	}
	rt.state.Store(st)
	rt.metrics.reloads.WithLabelValues("success").Inc()
	if cfg.Listen != old.cfg.Listen || cfg.Metrics != old.cfg.Metrics {
		rt.log.Warn("listen and metrics addresses change only with a restart", "listen", old.cfg.Listen, "metrics", old.cfg.Metrics)
	}
	for addr, p := range old.pools {
		if st.pools[addr] != p {
			p.closeIdle()
		}
	}
	if old.mirror != nil && old.mirror != st.mirror {
		go old.mirror.close()
	}
	return nil
}

// close stops the shadow workers and closes idle connections; used once the server has drained.
func (rt *Router) close() {
	st := rt.state.Load()
	if st.mirror != nil {
		st.mirror.close()
	}
	for _, p := range st.pools {
		p.closeIdle()
	}
}

// build prepares cfg for routing, reusing the connection pools and mirror of old when their settings did not change.
func (rt *Router) build(cfg *Config, old *state) (*state, error) {
	if cfg.maxBody == 0 { // built by hand rather than by Load or Parse
		if err := cfg.validate(); err != nil {
			return nil, err
		}
	}
	st := &state{cfg: cfg, byVersion: map[string]*upstream{}, pools: map[string]*connPool{},
		inFlight: rt.metrics.inFlight.WithLabelValues(cfg.Model)}
	if s := cfg.Sticky; s != nil && s.Header != "" {
		st.stickyHdr = textproto.CanonicalMIMEHeaderKey(s.Header)
	}
	samePools := old != nil && old.cfg.MaxIdleConnsPerHost == cfg.MaxIdleConnsPerHost && old.cfg.Timeouts.Upstream == cfg.Timeouts.Upstream
	pool := func(addr string) *connPool {
		if p, ok := st.pools[addr]; ok {
			return p
		}
		p, ok := old.poolFor(addr, samePools)
		if !ok {
			p = newConnPool(addr, cfg.MaxIdleConnsPerHost, cfg.Timeouts.Upstream.Duration)
		}
		st.pools[addr] = p
		return p
	}
	m := rt.metrics
	for _, u := range cfg.Upstreams {
		up, err := rt.newUpstream(cfg.Model, u.Version, u.URL)
		if err != nil {
			return nil, err
		}
		up.pool = pool(up.url.Host)
		st.byVersion[u.Version] = up
		if u.Weight > 0 {
			st.total += uint64(u.Weight)
			st.upstreams = append(st.upstreams, up)
			st.cum = append(st.cum, st.total)
		}
	}
	if s := cfg.Shadow; s != nil {
		up, err := rt.newUpstream(cfg.Model, s.Version, s.URL)
		if err != nil {
			return nil, err
		}
		up.pool = pool(up.url.Host) // for requests pinned to the shadow
		st.byVersion[s.Version] = up
		st.mirrorPPM = uint64(s.Percent * 10_000)
		if old != nil && old.mirror != nil && old.cfg.Model == cfg.Model && old.cfg.Protocol == cfg.Protocol &&
			old.cfg.maxBody == cfg.maxBody && sameShadow(old.cfg.Shadow, s) {
			st.mirror = old.mirror
		} else {
			st.mirror = newMirror(cfg, up.url, m, rt.log, rt.rand, rt.tracer)
		}
		for _, u := range cfg.Upstreams {
			st.byVersion[u.Version].pair = m.forPair(cfg.Model, u.Version, s.Version)
		}
	}
	return st, nil
}

// poolFor returns old's pool to addr when reuse allows it.
func (old *state) poolFor(addr string, reuse bool) (*connPool, bool) {
	if old == nil || !reuse {
		return nil, false
	}
	p, ok := old.pools[addr]
	return p, ok
}

// sameShadow reports whether two shadow configurations need the same queue and workers.
func sameShadow(a, b *Shadow) bool {
	return a.Version == b.Version && a.URL == b.URL && a.Queue == b.Queue && a.QueueBytes == b.QueueBytes &&
		a.Workers == b.Workers && a.Timeout == b.Timeout && (a.Log == nil) == (b.Log == nil) && (a.Log == nil || *a.Log == *b.Log)
}

func (rt *Router) newUpstream(model, version, rawURL string) (*upstream, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("version %s: url %q: %w", version, rawURL, err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	up := &upstream{version: version, answer: []string{version}, url: u, prefix: u.EscapedPath(), metrics: rt.metrics.forVersion(model, version), errors: map[string]prometheus.Counter{}}
	for _, kind := range []string{errConnect, errTimeout, errOther} {
		up.errors[kind] = rt.metrics.upstreamError.WithLabelValues(model, version, kind)
	}
	return up, nil
}

// newTransport is the keep-alive pool to the upstreams: sized for throughput, never compressing (bodies pass through).
func newTransport(maxIdlePerHost int, responseHeaderTimeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: responseHeaderTimeout,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
}

// Kinds of marina_router_upstream_errors_total.
const (
	errConnect = "connect"
	errTimeout = "timeout"
	errOther   = "other"
)

var versionHeaderKey = textproto.CanonicalMIMEHeaderKey(VersionHeader)

// StatusClientClosed is counted for requests whose client hung up before the upstream answered (nginx's 499); such
// requests are not mirrored.
const StatusClientClosed = 499

// choose picks the version that answers r: the pinned one, else the sticky one, else a weighted random one.
func (st *state) choose(r *http.Request, rnd func() uint64) (u *upstream, pinned bool, err error) {
	if v := r.Header[versionHeaderKey]; len(v) > 0 {
		if u, ok := st.byVersion[v[0]]; ok {
			return u, true, nil
		}
		known := make([]string, 0, len(st.byVersion))
		for k := range st.byVersion {
			known = append(known, k)
		}
		slices.Sort(known)
		return nil, true, fmt.Errorf("%s: %q is not a version of %s; use one of %s", VersionHeader, v[0], st.cfg.Model, strings.Join(known, ", "))
	}
	if key := st.stickyKey(r); key != "" {
		return st.at(fnv64a(key) % st.total), false, nil
	}
	return st.at(rnd() % st.total), false, nil
}

// at returns the upstream whose share of the cumulative weights holds point.
func (st *state) at(point uint64) *upstream {
	for i, c := range st.cum {
		if point < c {
			return st.upstreams[i]
		}
	}
	return st.upstreams[len(st.upstreams)-1]
}

// stickyKey is the request's sticky header, else its sticky cookie; empty when sticky routing is off or neither is set.
func (st *state) stickyKey(r *http.Request) string {
	s := st.cfg.Sticky
	if s == nil {
		return ""
	}
	if st.stickyHdr != "" {
		if v := r.Header[st.stickyHdr]; len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	if s.Cookie != "" {
		if c, err := r.Cookie(s.Cookie); err == nil {
			return c.Value
		}
	}
	return ""
}

// fnv64a hashes sticky keys: the same on every replica and every restart, unlike maphash.
func fnv64a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// ServeHTTP routes one request to a version, answers with its response and, when chosen, mirrors it to the shadow.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := rt.state.Load()
	st.inFlight.Inc()
	defer st.inFlight.Dec()

	u, pinned, err := st.choose(r, rt.rand)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header()[versionHeaderKey] = u.answer
	body, status := readBody(r, st.cfg.maxBody)
	if status != 0 {
		msg := "reading the request body failed"
		if status == http.StatusRequestEntityTooLarge {
			msg = fmt.Sprintf("request body larger than %d bytes (the router's maxBody)", st.cfg.maxBody)
		}
		http.Error(w, msg, status)
		u.metrics.observe(status, time.Since(start).Seconds())
		return
	}
	mirrored := !pinned && st.mirror != nil && r.Method == http.MethodPost && rt.rand()%1_000_000 < st.mirrorPPM
	var cp *capture
	if mirrored {
		cp = &capture{limit: st.cfg.maxBody}
	}
	sent := time.Now()
	status, span, err := rt.forward(w, r, st, u, body, cp)
	end := time.Now()
	u.metrics.observe(status, end.Sub(start).Seconds())
	if mirrored && status != StatusClientClosed {
		st.mirror.enqueue(r, body, u.pair, span, cp.encoding, Response{Status: status, Err: err, Body: cp.buf, Truncated: cp.truncated, Latency: end.Sub(sent)})
	}
}

// readBody reads the whole request body, once, so it can be sent to the primary and the shadow. It returns a status
// other than 0 when the request must be refused: 413 over limit, 400 when the client failed to send it.
func readBody(r *http.Request, limit int64) ([]byte, int) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, 0
	}
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge
	}
	if r.ContentLength >= 0 {
		b := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, http.StatusBadRequest
		}
		return b, 0
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	switch {
	case err != nil:
		return nil, http.StatusBadRequest
	case int64(len(b)) > limit:
		return nil, http.StatusRequestEntityTooLarge
	}
	return b, 0
}

// capture keeps the first limit bytes of the primary's response for the comparison with the shadow's.
type capture struct {
	buf       []byte
	encoding  string // the response's Content-Encoding
	limit     int64
	truncated bool
}

func (c *capture) write(p []byte) {
	if room := c.limit - int64(len(c.buf)); int64(len(p)) > room {
		p, c.truncated = p[:max(room, 0)], true
	}
	c.buf = append(c.buf, p...)
}

// hopHeaders are hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection and are never forwarded; nor is
// Expect, as the router has read the body already.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Expect"}

// copyHeader copies src into dst without hop-by-hop headers, those the Connection header names, and skip.
func copyHeader(dst, src http.Header, skip string) {
	conn := src["Connection"]
	for k, v := range src {
		if k == skip || slices.Contains(hopHeaders, k) || (len(conn) > 0 && connectionNames(conn, k)) {
			continue
		}
		dst[k] = v
	}
}

// connectionNames reports whether a Connection header lists key.
func connectionNames(conn []string, key string) bool {
	for _, v := range conn {
		for f := range strings.SplitSeq(v, ",") {
			if textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(f)) == key {
				return true
			}
		}
	}
	return false
}

var propagator = propagation.TraceContext{}

// forward sends r with body to u and copies the response to w, keeping a copy in c when c is not nil. It returns
// the status sent to the client, the span context the upstream saw (for the shadow's span) and the transport error.
func (rt *Router) forward(w http.ResponseWriter, r *http.Request, st *state, u *upstream, body []byte, c *capture) (int, trace.SpanContext, error) {
	ctx := r.Context()
	out := &upstreamRequest{method: r.Method, prefix: u.prefix, path: r.URL.EscapedPath(), query: r.URL.RawQuery,
		host: u.url.Host, header: r.Header, body: body}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		out.forwardedFor = ip
	}
	var span trace.Span
	if rt.tracer != nil {
		ctx = propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
		ctx, span = rt.tracer.Start(ctx, "primary "+st.cfg.Model, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("marina.model", st.cfg.Model), attribute.String("marina.version", u.version)))
		defer span.End()
		out.trace = http.Header{}
		propagator.Inject(ctx, propagation.HeaderCarrier(out.trace))
	}
	sc := trace.SpanContextFromContext(ctx)
	resp, err := u.pool.roundTrip(ctx, out)
	if err != nil {
		status, kind := http.StatusBadGateway, errOther
		var oe *net.OpError
		switch {
		case isTimeout(err):
			status, kind = http.StatusGatewayTimeout, errTimeout
		case errors.As(err, &oe) && oe.Op == "dial":
			kind = errConnect
		}
		if span != nil {
			span.RecordError(err)
		}
		if r.Context().Err() != nil { // the client hung up: nobody to answer, and not the upstream's fault
			return StatusClientClosed, sc, err
		}
		u.errors[kind].Inc()
		http.Error(w, fmt.Sprintf("%s %s did not answer: %s", st.cfg.Model, u.version, kind), status)
		return status, sc, err
	}
	defer resp.Body.Close()
	copyHeader(w.Header(), resp.Header, versionHeaderKey)
	if c != nil {
		c.encoding = resp.Header.Get("Content-Encoding")
	}
	if len(resp.Trailer) > 0 {
		for k := range resp.Trailer {
			w.Header().Add("Trailer", k)
		}
	}
	w.WriteHeader(resp.StatusCode)
	if span != nil {
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	}
	rt.copyBody(w, resp, c)
	for k, v := range resp.Trailer {
		w.Header()[k] = v
	}
	return resp.StatusCode, sc, nil
}

// copyBody streams the upstream's body to the client, flushing each chunk of streamed responses (unknown length,
// such as server-sent events).
func (rt *Router) copyBody(w http.ResponseWriter, resp *http.Response, c *capture) {
	bp := rt.copyBuf.Get().(*[]byte)
	defer rt.copyBuf.Put(bp)
	buf := *bp
	var rc *http.ResponseController
	if resp.ContentLength < 0 {
		rc = http.NewResponseController(w)
	}
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if c != nil {
				c.write(buf[:n])
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if rc != nil {
				_ = rc.Flush()
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && c != nil {
				c.truncated = true // a broken response is not compared
			}
			return
		}
	}
}

// isTimeout reports whether err is a timeout: a deadline, or the transport's wait for response headers.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
