package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
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
	// Source says where configurations come from (a file, a ModelDeployment), in /status and the reload log.
	Source string
}

// Router is the reverse proxy in front of the versions of one model. It is an http.Handler.
type Router struct {
	log     *slog.Logger
	rand    func() uint64
	tracer  trace.Tracer // nil without a TracerProvider
	metrics *metrics
	state   atomic.Pointer[state]
	reload  sync.Mutex // serialises Reload, not requests
	buffers bufferPool // response copy buffers of every version's ReverseProxy
	source  string

	lastReload atomic.Pointer[ReloadStatus]
	reloads    [2]atomic.Int64 // successes, failures
}

// state is one configuration, ready to route; Reload swaps it whole.
type state struct {
	cfg       *Config
	upstreams []*upstream          // weighted, in configuration order
	cum       []uint64             // cumulative weights of upstreams
	total     uint64               // sum of the weights
	byVersion map[string]*upstream // every version a request may pin, the shadow's too
	transport *http.Transport      // keep-alive connections to every version
	samples   []sample             // the probes' requests; nil without probes
	mirror    *mirror              // nil without a shadow
	mirrorPPM uint64               // mirrored requests per million
	stickyHdr string               // canonical header key
	inFlight  prometheus.Gauge     // of the model
}

// upstream is one version's address, proxy and metrics.
type upstream struct {
	model   string
	version string
	answer  []string // the X-Marina-Version value of its responses, shared by all of them
	url     *url.URL
	traced  bool // the router records spans: the upstream sees the router's traceparent, not the client's
	proxy   *httputil.ReverseProxy
	metrics *versionMetrics
	errors  map[string]prometheus.Counter // by kind
	pair    *pairMetrics                  // comparisons of the shadow against this version; nil without a shadow
	health  *health
	cfg     Health
	log     *slog.Logger
}

// New builds a Router for cfg (from Load or Parse).
func New(cfg *Config, opts Options) (*Router, error) {
	rt := &Router{log: opts.Log, rand: opts.Rand, metrics: newMetrics(), source: opts.Source}
	rt.lastReload.Store(&ReloadStatus{Time: time.Now().UTC(), Result: reloadSuccess, Source: opts.Source})
	if rt.log == nil {
		rt.log = slog.New(slog.DiscardHandler)
	}
	if rt.rand == nil {
		rt.rand = rand.Uint64
	}
	if opts.TracerProvider != nil {
		rt.tracer = opts.TracerProvider.Tracer("github.com/marina-dev/marina/internal/router")
	}
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
// cfg. Keep-alive connections survive when the connection settings stay; the shadow queue is replaced only when the
// shadow changes; a version keeps its health while its URL stays. Either way the result is logged, counted and
// reported by /status.
func (rt *Router) Reload(cfg *Config) error {
	rt.reload.Lock()
	defer rt.reload.Unlock()
	old := rt.state.Load()
	st, err := rt.build(cfg, old)
	if err != nil {
		rt.ReloadFailed(err)
		return err
	}
	rt.state.Store(st)
	rt.reloaded(cfg, nil)
	if cfg.Listen != old.cfg.Listen || cfg.Metrics != old.cfg.Metrics {
		rt.log.Warn("listen and metrics addresses change only with a restart", "listen", old.cfg.Listen, "metrics", old.cfg.Metrics)
	}
	if old.transport != st.transport {
		old.transport.CloseIdleConnections()
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
	st.transport.CloseIdleConnections()
}

// build prepares cfg for routing, reusing the transport and mirror of old when their settings did not change.
func (rt *Router) build(cfg *Config, old *state) (*state, error) {
	if cfg.maxBody == 0 { // built by hand rather than by Load or Parse
		if err := cfg.validate(); err != nil {
			return nil, err
		}
	}
	st := &state{cfg: cfg, byVersion: map[string]*upstream{}, inFlight: rt.metrics.inFlight.WithLabelValues(cfg.Model)}
	if s := cfg.Sticky; s != nil && s.Header != "" {
		st.stickyHdr = textproto.CanonicalMIMEHeaderKey(s.Header)
	}
	if p := cfg.Probes; p != nil {
		var err error
		if st.samples, err = readSamples(p.Dir, cfg.maxBody); err != nil {
			return nil, err
		}
	}
	if old != nil && old.cfg.MaxIdleConnsPerHost == cfg.MaxIdleConnsPerHost && old.cfg.MaxConnsPerHost == cfg.MaxConnsPerHost &&
		old.cfg.Timeouts.Upstream == cfg.Timeouts.Upstream {
		st.transport = old.transport
	} else {
		st.transport = newTransport(cfg.MaxIdleConnsPerHost, cfg.MaxConnsPerHost, cfg.Timeouts.Upstream.Duration)
	}
	m := rt.metrics
	for _, u := range cfg.Upstreams {
		up, err := rt.newUpstream(cfg.Model, u.Version, u.URL, st.transport)
		if err != nil {
			return nil, err
		}
		up.cfg = cfg.Health
		if old != nil {
			if o := old.byVersion[u.Version]; o != nil && o.url.String() == up.url.String() {
				up.health = o.health
			}
		}
		st.byVersion[u.Version] = up
		if u.Weight > 0 {
			st.total += uint64(u.Weight)
			st.upstreams = append(st.upstreams, up)
			st.cum = append(st.cum, st.total)
		}
	}
	if s := cfg.Shadow; s != nil {
		up, err := rt.newUpstream(cfg.Model, s.Version, s.URL, st.transport) // for requests pinned to the shadow
		if err != nil {
			return nil, err
		}
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

// sameShadow reports whether two shadow configurations need the same queue and workers.
func sameShadow(a, b *Shadow) bool {
	return a.Version == b.Version && a.URL == b.URL && a.Queue == b.Queue && a.QueueBytes == b.QueueBytes &&
		a.Workers == b.Workers && a.Timeout == b.Timeout && (a.Log == nil) == (b.Log == nil) && (a.Log == nil || *a.Log == *b.Log)
}

func (rt *Router) newUpstream(model, version, rawURL string, transport http.RoundTripper) (*upstream, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("version %s: url %q: %w", version, rawURL, err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	up := &upstream{model: model, version: version, answer: []string{version}, url: u, traced: rt.tracer != nil,
		metrics: rt.metrics.forVersion(model, version), errors: map[string]prometheus.Counter{}, health: &health{}, log: rt.log}
	up.proxy = &httputil.ReverseProxy{Rewrite: up.rewrite, Transport: transport, BufferPool: &rt.buffers,
		ModifyResponse: up.answered, ErrorHandler: up.failed, ErrorLog: slog.NewLogLogger(rt.log.Handler(), slog.LevelDebug)}
	for _, kind := range []string{errConnect, errTimeout, errProtocol, errOther} {
		up.errors[kind] = rt.metrics.upstreamError.WithLabelValues(model, version, kind)
	}
	return up, nil
}

// newTransport is the keep-alive pool to the upstreams: at most maxPerHost connections to each (0: no limit; requests
// beyond it wait for one), never compressing (bodies pass through).
func newTransport(maxIdlePerHost, maxPerHost int, responseHeaderTimeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		MaxConnsPerHost:       maxPerHost,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: responseHeaderTimeout,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
		WriteBufferSize:       16 << 10,
		ReadBufferSize:        16 << 10,
	}
}

// Kinds of marina_router_upstream_errors_total.
const (
	errConnect = "connect"
	errTimeout = "timeout"
	// errProtocol counts successful answers to inference requests whose body is not the protocol's JSON: the client
	// gets them as they are, but they are the upstream's failures.
	errProtocol = "protocol"
	errOther    = "other"
)

var versionHeaderKey = textproto.CanonicalMIMEHeaderKey(VersionHeader)

// inMemory is a request body the router has read: ServeHTTP sets it, rewrite hands it to the transport as the
// in-memory reader it is.
type inMemory struct{ *bytes.Reader }

// Close does nothing: the body is the router's.
func (inMemory) Close() error { return nil }

// smallBody is the largest request body read before it is sent upstream: with the headers it fits the transport's
// 16 KiB write buffer.
const smallBody = 8 << 10

// StatusClientClosed is counted for requests whose client hung up before the upstream answered (nginx's 499); such
// requests are not mirrored.
const StatusClientClosed = 499

// choose picks the version that answers r: the pinned one, else the sticky one, else a weighted random one.
func (st *state) choose(r *http.Request, rnd func() uint64) (u *upstream, pinned bool, err error) {
	if v := r.Header[versionHeaderKey]; len(v) > 0 {
		if u, ok := st.byVersion[v[0]]; ok {
			return u, true, nil
		}
		known := slices.Sorted(maps.Keys(st.byVersion))
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
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ex := &exchange{ResponseWriter: w}
	if !pinned {
		if down, until := u.health.down(start); down {
			var alt *upstream
			if st.cfg.Health.Failover {
				alt = st.failover(start, rt.rand)
			}
			if alt == nil {
				u.metrics.observe(http.StatusServiceUnavailable, time.Since(start).Seconds())
				u.unavailable(w, until, start, st.cfg.Health)
				return
			}
			u = alt
		}
	}
	// A probe is synthetic: counted by the prober, not among the requests, and always compared with the shadow.
	probe := r.Context().Value(probeKey{}) != nil
	if !probe {
		// Deferred: ReverseProxy aborts the handler (http.ErrAbortHandler) when the upstream fails mid-body.
		defer func() { u.metrics.observe(ex.status, time.Since(start).Seconds()) }()
	}
	if r.ContentLength > st.cfg.maxBody {
		u.refuse(ex, http.StatusRequestEntityTooLarge, st.cfg.maxBody)
		return
	}
	mirrored := st.mirror != nil && r.Method == http.MethodPost && (probe || !pinned && rt.rand()%1_000_000 < st.mirrorPPM)
	var body []byte
	switch {
	// The shadow is sent the body after the primary answered: only then is it kept. A small body of a known length
	// is read first too: from memory, net/http sends it upstream in the headers' write, where a streamed body costs
	// a write of its own after them (bench/router's profile: a third of the proxy's write system calls).
	case mirrored || 0 < r.ContentLength && r.ContentLength <= smallBody:
		var status int
		if body, status = readBody(r, st.cfg.maxBody); status != 0 {
			u.refuse(ex, status, st.cfg.maxBody)
			return
		}
		r.Body, r.ContentLength = inMemory{bytes.NewReader(body)}, int64(len(body))
	case r.Body != nil && r.Body != http.NoBody: // streamed to the upstream as it arrives
		ex.body.rc = http.MaxBytesReader(w, r.Body, st.cfg.maxBody)
		r.Body = &ex.body
	}
	inference := st.inference(r)
	if mirrored || inference {
		ex.capture = &capture{limit: st.cfg.maxBody}
	}
	sent := time.Now()
	span := rt.forward(ex, r, st, u)
	end := time.Now()
	if ex.capture == nil {
		return
	}
	answer := Response{Status: ex.status, Err: ex.err, Body: ex.capture.buf, Truncated: ex.capture.truncated, Latency: end.Sub(sent)}
	encoding := ex.Header().Get("Content-Encoding")
	if inference {
		if plain := decompressed(answer, encoding, st.cfg.maxBody); plain.ok() && !plain.Truncated && checkResponse(st.cfg.Protocol, plain.Body) != nil {
			u.errors[errProtocol].Inc() // passed on as it is, but the upstream failed
		}
	}
	if mirrored && ex.status != StatusClientClosed {
		st.mirror.enqueue(r, body, u.pair, span, encoding, answer)
	}
}

// inference reports whether r asks for an inference in the configuration's protocol: its successful answers must be
// the protocol's JSON.
func (st *state) inference(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	if st.cfg.Protocol == ProtocolKServeV1 {
		return strings.HasSuffix(r.URL.Path, ":predict")
	}
	return strings.HasSuffix(r.URL.Path, "/infer")
}

// readBody reads the whole request body, once, so it can be sent to the primary and the shadow. It returns a status
// other than 0 when the request must be refused: 413 over limit, 400 when the client failed to send it.
func readBody(r *http.Request, limit int64) ([]byte, int) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, 0
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

// exchange is one proxied request: the client's ResponseWriter, recording the status sent and keeping a copy of the
// body when capture is set, and the client's request body as the upstream reads it.
type exchange struct {
	http.ResponseWriter
	status  int
	err     error    // why the upstream did not answer
	capture *capture // nil: nothing kept
	body    clientBody
}

// WriteHeader records the final status; 1xx interim responses pass through.
func (ex *exchange) WriteHeader(code int) {
	if code >= 200 && ex.status == 0 {
		ex.status = code
	}
	ex.ResponseWriter.WriteHeader(code)
}

func (ex *exchange) Write(p []byte) (int, error) {
	if ex.status == 0 {
		ex.status = http.StatusOK
	}
	if ex.capture != nil {
		ex.capture.write(p)
	}
	return ex.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController (ReverseProxy's flushes) reach the server's ResponseWriter.
func (ex *exchange) Unwrap() http.ResponseWriter { return ex.ResponseWriter }

// clientBody is a request body on its way upstream; it keeps the error reading it failed with, the client's fault
// rather than the upstream's.
type clientBody struct {
	rc  io.ReadCloser
	err error
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}

func (b *clientBody) Close() error { return b.rc.Close() }

// capture keeps the first limit bytes of the primary's response for the comparison with the shadow's.
type capture struct {
	buf       []byte
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
// Expect, as the router reads the body itself.
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

// forward proxies r to u through ex. It returns the span context the upstream saw, for the shadow's span.
func (rt *Router) forward(ex *exchange, r *http.Request, st *state, u *upstream) trace.SpanContext {
	if rt.tracer == nil {
		u.proxy.ServeHTTP(ex, r)
		return trace.SpanContextFromContext(r.Context())
	}
	ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := rt.tracer.Start(ctx, "primary "+st.cfg.Model, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("marina.model", st.cfg.Model), attribute.String("marina.version", u.version)))
	defer func() {
		if ex.err != nil {
			span.RecordError(ex.err)
		} else {
			span.SetAttributes(attribute.Int("http.response.status_code", ex.status))
		}
		span.End()
	}()
	u.proxy.ServeHTTP(ex, r.WithContext(ctx))
	return span.SpanContext()
}

// rewrite is the request the upstream receives: the client's under the upstream's URL, without the headers that pin
// a version or belong to the client's connection, with the client's address appended to X-Forwarded-For and
// X-Forwarded-Host and -Proto set.
func (u *upstream) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(u.url)
	h := pr.Out.Header
	// ReverseProxy passes Upgrade on; the router offers none (see Serve). It sends the body itself: no Expect.
	for _, k := range []string{versionHeaderKey, "Upgrade", "Connection", "Expect"} {
		delete(h, k)
	}
	if b, ok := pr.In.Body.(inMemory); ok {
		// ReverseProxy wraps every body so that the transport cannot close the client's: net/http then flushes the
		// headers and writes the body after them. This one is the router's, in memory: the transport sends both in
		// one write.
		pr.Out.Body = io.NopCloser(b.Reader)
	}
	h["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
	pr.SetXForwarded()
	if u.traced {
		delete(h, "Traceparent")
		delete(h, "Tracestate")
		propagator.Inject(pr.In.Context(), propagation.HeaderCarrier(h))
	}
}

// answered names the version in the response, replacing whatever the upstream said, and marks the version up.
func (u *upstream) answered(resp *http.Response) error {
	resp.Header[versionHeaderKey] = u.answer
	if u.health.success() {
		u.log.Info("version answers again: marked up", "model", u.model, "version", u.version)
	}
	return nil
}

// failed answers a request the upstream did not: 499 (nothing sent) when the client hung up, 413 or 400 when its
// body was too large or broke off, else 502, or 504 on a timeout, counted as the upstream's error.
func (u *upstream) failed(w http.ResponseWriter, r *http.Request, err error) {
	ex := w.(*exchange)
	ex.err = err
	var tooLarge *http.MaxBytesError
	switch {
	case r.Context().Err() != nil: // nobody to answer, and not the upstream's fault
		ex.status = StatusClientClosed
		return
	case errors.As(ex.body.err, &tooLarge):
		u.refuse(ex, http.StatusRequestEntityTooLarge, tooLarge.Limit)
		return
	case ex.body.err != nil:
		u.refuse(ex, http.StatusBadRequest, 0)
		return
	}
	status, kind := http.StatusBadGateway, errOther
	var oe *net.OpError
	switch {
	case isTimeout(err):
		status, kind = http.StatusGatewayTimeout, errTimeout
	case errors.As(err, &oe) && oe.Op == "dial":
		kind = errConnect
	}
	u.errors[kind].Inc()
	if u.health.failure(time.Now(), u.cfg) {
		u.log.Warn("version marked down", "model", u.model, "version", u.version, "consecutiveErrors", u.cfg.ConsecutiveErrors,
			"backoff", u.cfg.Backoff.Duration, "error", err)
	}
	ex.Header()[versionHeaderKey] = u.answer
	writeError(ex, status, fmt.Sprintf("%s %s did not answer: %s", u.model, u.version, kind))
}

// refuse answers a request whose body the router would not or could not read: 413 over limit, else 400.
func (u *upstream) refuse(w http.ResponseWriter, status int, limit int64) {
	msg := "reading the request body failed"
	if status == http.StatusRequestEntityTooLarge {
		msg = fmt.Sprintf("request body larger than %d bytes (the router's maxBody)", limit)
	}
	w.Header()[versionHeaderKey] = u.answer
	writeError(w, status, msg)
}

// isTimeout reports whether err is a timeout: a deadline, or the transport's wait for response headers.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// bufferPool recycles ReverseProxy's response copy buffers.
type bufferPool struct{ pool sync.Pool }

var _ httputil.BufferPool = (*bufferPool)(nil)

func (p *bufferPool) Get() []byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }
