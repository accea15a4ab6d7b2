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
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/marina-dev/marina/internal/oip"
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

// Router is the reverse proxy in front of the versions of one model. Serve runs it; its handler is a
// fasthttp.RequestHandler (see Serve for why).
type Router struct {
	log     *slog.Logger
	rand    func() uint64
	tracer  trace.Tracer // nil without a TracerProvider
	metrics *metrics
	state   atomic.Pointer[state]
	reload  sync.Mutex // serialises Reload, not requests
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
	pools     *pools               // keep-alive connections to every version
	samples   []sample             // the probes' requests; nil without probes
	mirror    *mirror              // nil without a shadow
	mirrorPPM uint64               // mirrored requests per million
	inFlight  prometheus.Gauge     // of the model
}

// upstream is one version's address, client and metrics.
type upstream struct {
	model   string
	version string
	answer  []byte // the X-Marina-Version value of its responses
	url     *url.URL
	prefix  string // the URL's path, escaped, without a trailing slash: prepended to every request's
	traced  bool   // the router records spans: the upstream sees the router's traceparent, not the client's
	client  *fasthttp.HostClient
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
	if old.pools != st.pools {
		old.pools.closeIdle()
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
	st.pools.closeIdle()
}

// build prepares cfg for routing, reusing the connections and mirror of old when their settings did not change.
func (rt *Router) build(cfg *Config, old *state) (*state, error) {
	if cfg.maxBody == 0 { // built by hand rather than by Load or Parse
		if err := cfg.validate(); err != nil {
			return nil, err
		}
	}
	st := &state{cfg: cfg, byVersion: map[string]*upstream{}, inFlight: rt.metrics.inFlight.WithLabelValues(cfg.Model)}
	if p := cfg.Probes; p != nil {
		var err error
		if st.samples, err = readSamples(p.Dir, cfg.maxBody); err != nil {
			return nil, err
		}
	}
	if old != nil && old.pools.same(cfg.MaxConnsPerHost, cfg.Timeouts.Upstream.Duration) {
		st.pools = old.pools
	} else {
		st.pools = newPools(cfg.MaxConnsPerHost, cfg.Timeouts.Upstream.Duration)
	}
	m := rt.metrics
	for _, u := range cfg.Upstreams {
		up, err := rt.newUpstream(cfg.Model, u.Version, u.URL, st.pools)
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
		up, err := rt.newUpstream(cfg.Model, s.Version, s.URL, st.pools) // for requests pinned to the shadow
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

func (rt *Router) newUpstream(model, version, rawURL string, p *pools) (*upstream, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("version %s: url %q: %w", version, rawURL, err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	up := &upstream{model: model, version: version, answer: []byte(version), url: u, prefix: u.EscapedPath(), traced: rt.tracer != nil,
		client: p.client(addr), metrics: rt.metrics.forVersion(model, version), errors: map[string]prometheus.Counter{},
		health: &health{}, log: rt.log}
	for _, kind := range []string{errConnect, errTimeout, errProtocol, errOther} {
		up.errors[kind] = rt.metrics.upstreamError.WithLabelValues(model, version, kind)
	}
	return up, nil
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

// smallBody is the largest request body read before it is sent upstream (the server reads it with the headers): from
// memory, the request goes upstream in one write, and a request the upstream closed the connection on before reading
// it can be sent again. Larger bodies, and those of unknown length, stream.
const smallBody = 8 << 10

// bufferedAnswer is the largest response body of a known length read whole before it is sent to the client; larger
// ones, and those of unknown length (an event stream), reach the client as they arrive.
const bufferedAnswer = 64 << 10

// StatusClientClosed is counted for requests whose client hung up before the upstream answered (nginx's 499); such
// requests are not mirrored.
const StatusClientClosed = 499

// choose picks the version that answers h: the pinned one, else the sticky one, else a weighted random one.
func (st *state) choose(h *fasthttp.RequestHeader, rnd func() uint64) (u *upstream, pinned bool, err error) {
	if v := h.Peek(VersionHeader); v != nil {
		if u, ok := st.byVersion[string(v)]; ok {
			return u, true, nil
		}
		known := slices.Sorted(maps.Keys(st.byVersion))
		return nil, true, fmt.Errorf("%s: %q is not a version of %s; use one of %s", VersionHeader, v, st.cfg.Model, strings.Join(known, ", "))
	}
	if key := st.stickyKey(h); len(key) > 0 {
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
func (st *state) stickyKey(h *fasthttp.RequestHeader) []byte {
	s := st.cfg.Sticky
	if s == nil {
		return nil
	}
	if s.Header != "" {
		if v := h.Peek(s.Header); len(v) > 0 {
			return v
		}
	}
	if s.Cookie != "" {
		return h.Cookie(s.Cookie)
	}
	return nil
}

// fnv64a hashes sticky keys: the same on every replica and every restart, unlike maphash.
func fnv64a(s []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range s {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// probeKey marks a probe's request (a user value of its RequestCtx): a client cannot set it, unlike a header.
type probeKey struct{}

// serve routes one request to a version, answers with its response and, when chosen, mirrors it to the shadow. The
// end of the exchange (metrics, the protocol check, the mirror) comes once the client has the whole answer: at once
// for an answer read whole, when the server has written the last byte of a streamed one (exchange.Close).
func (rt *Router) serve(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	st := rt.state.Load()
	st.inFlight.Inc()
	req := &ctx.Request
	u, pinned, err := st.choose(&req.Header, rt.rand)
	if err != nil {
		writeError(ctx, http.StatusBadRequest, err.Error())
		st.inFlight.Dec()
		return
	}
	if !pinned {
		if down, until := u.health.down(start); down {
			var alt *upstream
			if st.cfg.Health.Failover {
				alt = st.failover(start, rt.rand)
			}
			if alt == nil {
				u.metrics.observe(http.StatusServiceUnavailable, time.Since(start).Seconds())
				u.unavailable(ctx, until, start, st.cfg.Health)
				st.inFlight.Dec()
				return
			}
			u = alt
		}
	}
	// A probe is synthetic: counted by the prober, not among the requests, and always compared with the shadow.
	probe := ctx.UserValue(probeKey{}) != nil
	ex := &exchange{rt: rt, st: st, u: u, ctx: ctx, start: start, probe: probe}
	defer ex.end()
	length := req.Header.ContentLength()
	if int64(length) > st.cfg.maxBody {
		u.refuse(ex, http.StatusRequestEntityTooLarge, st.cfg.maxBody)
		return
	}
	ex.mirrored = st.mirror != nil && req.Header.IsPost() && (probe || !pinned && rt.rand()%1_000_000 < st.mirrorPPM)
	ex.inference = st.inference(req)
	if ex.mirrored {
		ex.shadow = shadowRequest(req)
	}
	switch stream := req.BodyStream(); {
	case stream == nil || 0 <= length && length <= smallBody:
		// The server read it with the headers: sent from memory, in the request's one write.
		_ = req.CloseBodyStream()
		ex.body = req.Body()
	case ex.mirrored: // the shadow is sent the body after the primary answered: only then is it kept
		var status int
		if ex.body, status = readBody(stream, st.cfg.maxBody); status != 0 {
			u.refuse(ex, status, st.cfg.maxBody)
			return
		}
		req.SetBodyRaw(ex.body)
	default: // streamed to the upstream as it arrives
		ex.clientBody = clientBody{r: stream, left: st.cfg.maxBody, limit: st.cfg.maxBody}
		req.SetBodyStream(&ex.clientBody, length)
		// The server's read deadline bounds the headers (timeouts.readHeader), not a body that takes its time.
		if c, ok := ctx.Conn().(*clientConn); ok {
			_ = c.SetReadDeadline(time.Time{})
		}
	}
	ex.forward()
}

// inference reports whether req asks for an inference in the configuration's protocol: its successful answers must
// be the protocol's JSON.
func (st *state) inference(req *fasthttp.Request) bool {
	if !req.Header.IsPost() {
		return false
	}
	path := req.URI().Path()
	if st.cfg.Protocol == ProtocolKServeV1 {
		return bytes.HasSuffix(path, []byte(":predict"))
	}
	return bytes.HasSuffix(path, []byte("/infer"))
}

// readBody reads a whole request body of up to limit bytes, for the shadow. It returns a status other than 0 when
// the request must be refused: 413 over limit, 400 when the client failed to send it.
func readBody(r io.Reader, limit int64) ([]byte, int) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	switch {
	case err != nil:
		return nil, http.StatusBadRequest
	case int64(len(b)) > limit:
		return nil, http.StatusRequestEntityTooLarge
	}
	return b, 0
}

// shadowRequest is what the shadow is sent of req, taken before the request is rewritten for the primary.
func shadowRequest(req *fasthttp.Request) *job {
	j := &job{method: string(req.Header.Method()), header: http.Header{}}
	if u, err := url.ParseRequestURI(string(req.Header.RequestURI())); err == nil {
		j.path, j.rawPath, j.query = u.Path, u.RawPath, u.RawQuery
	}
	for k, v := range req.Header.All() {
		if key := string(k); key != "Host" {
			j.header[key] = append(j.header[key], string(v))
		}
	}
	return j
}

// exchange is one proxied request: the version chosen, what the client sent and what it was answered.
type exchange struct {
	rt        *Router
	st        *state
	u         *upstream
	ctx       *fasthttp.RequestCtx
	start     time.Time
	sent      time.Time
	probe     bool
	mirrored  bool
	inference bool
	body      []byte // the request body when read whole; the shadow's copy is taken at the end
	shadow    *job   // the request as the shadow gets it; nil unless mirrored
	span      trace.SpanContext

	status     int
	err        error // why the upstream did not answer
	answer     []byte
	capture    *capture // the primary's answer as it streams by, when kept
	clientBody clientBody

	upstream *fasthttp.Response // streamed to the client; released by CloseWithError
	stream   io.Reader
	broken   error  // why the upstream's stream ended early
	unwatch  func() // stops watching for the client hanging up
	streamed bool   // the end of the exchange waits for the stream's
	ended    bool
}

// forward sends the request to the version and hands its answer to the client.
func (ex *exchange) forward() {
	rt, u, req := ex.rt, ex.u, &ex.ctx.Request
	var span trace.Span
	if rt.tracer != nil {
		ctx := propagator.Extract(ex.ctx, headerCarrier{&req.Header})
		ctx, span = rt.tracer.Start(ctx, "primary "+ex.st.cfg.Model, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("marina.model", ex.st.cfg.Model), attribute.String("marina.version", u.version)))
		ex.span = span.SpanContext()
		u.rewrite(req, clientIP(ex.ctx))
		propagator.Inject(ctx, headerCarrier{&req.Header})
	} else {
		u.rewrite(req, clientIP(ex.ctx))
	}
	ex.sent = time.Now()
	resp := fasthttp.AcquireResponse()
	err := u.client.Do(req, resp)
	if span != nil {
		if err != nil {
			span.RecordError(err)
		} else {
			span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode()))
		}
		span.End()
	}
	switch {
	case clientGone(ex.ctx): // nobody to answer, and not the upstream's fault
		ex.status, ex.err = StatusClientClosed, errClientGone
		ex.ctx.SetConnectionClose()
		if err == nil {
			_ = resp.CloseBodyStream()
		}
		fasthttp.ReleaseResponse(resp)
	case err != nil:
		fasthttp.ReleaseResponse(resp)
		u.failed(ex, err)
	default:
		ex.respond(resp)
	}
}

// errClientGone is the error of an exchange whose client hung up before the answer.
var errClientGone = errors.New("the client closed the connection")

// respond passes the upstream's answer on to the client, naming the version that answered.
func (ex *exchange) respond(resp *fasthttp.Response) {
	u, out := ex.u, &ex.ctx.Response
	if u.health.success() {
		u.log.Info("version answers again: marked up", "model", u.model, "version", u.version)
	}
	ex.status = resp.StatusCode()
	resp.Header.CopyTo(&out.Header)
	stripHop(&out.Header)
	out.Header.SetBytesV(VersionHeader, u.answer)
	stream, length := resp.BodyStream(), resp.Header.ContentLength()
	switch {
	case stream == nil: // no body: HEAD, 204, 304
		fasthttp.ReleaseResponse(resp)
	case 0 <= length && length <= bufferedAnswer:
		buf := bufferPool.Get().(*[]byte)
		n, err := io.ReadFull(stream, (*buf)[:length])
		if rc, ok := stream.(fasthttp.ReadCloserWithError); ok {
			_ = rc.CloseWithError(err)
		}
		fasthttp.ReleaseResponse(resp)
		if err != nil {
			// Cut short: the client gets what came and then a closed connection, as when a stream breaks.
			out.SetBodyStream(io.MultiReader(bytes.NewReader(bytes.Clone((*buf)[:n])), failing{err}), length)
		} else {
			out.SetBody((*buf)[:n])
			ex.answer = out.Body()
		}
		bufferPool.Put(buf)
	default:
		if ex.mirrored || ex.inference {
			ex.capture = &capture{limit: ex.st.cfg.maxBody}
		}
		ex.upstream, ex.stream, ex.streamed = resp, stream, true
		out.SetBodyStream(ex, length)
		if rc, ok := stream.(fasthttp.ReadCloserWithError); ok {
			// A client that hangs up mid-stream frees the upstream's connection rather than waiting for its next bytes.
			ex.unwatch = watchClient(ex.ctx, func() { _ = rc.CloseWithError(errClientGone) })
		}
	}
}

// bufferPool holds the buffers answers are read into, bufferedAnswer bytes each.
var bufferPool = sync.Pool{New: func() any { b := make([]byte, bufferedAnswer); return &b }}

// Read passes a streamed answer on to the client's connection, keeping what the comparison needs.
func (ex *exchange) Read(p []byte) (int, error) {
	n, err := ex.stream.Read(p)
	if ex.capture != nil {
		ex.capture.write(p[:n])
	}
	switch {
	case errors.Is(err, io.EOF): // the upstream's trailers have arrived: the client's come after the body
		h, out := &ex.upstream.Header, &ex.ctx.Response.Header
		for _, k := range h.PeekTrailerKeys() {
			for _, v := range h.PeekAllTrailer(string(k)) {
				out.AddBytesKV(k, v)
			}
		}
	case err != nil:
		ex.broken = err
	}
	return n, err
}

// failing is a reader that fails with err.
type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }

// CloseWithError is called by the server once it has written a streamed answer, or failed to (werr: the client went
// away); it releases the upstream's connection and ends the exchange.
func (ex *exchange) CloseWithError(werr error) error {
	if ex.unwatch != nil {
		ex.unwatch()
	}
	err := ex.broken
	if err == nil {
		err = werr
	}
	if rc, ok := ex.stream.(fasthttp.ReadCloserWithError); ok {
		_ = rc.CloseWithError(err)
	}
	fasthttp.ReleaseResponse(ex.upstream)
	ex.streamed = false
	ex.end()
	return nil
}

var _ fasthttp.ReadCloserWithError = (*exchange)(nil)

// end counts the exchange once its answer is complete and, for an inference or a mirrored request, checks the
// answer against the protocol and hands it to the shadow. Deferred by serve; a streamed answer ends in CloseWithError.
func (ex *exchange) end() {
	if ex.streamed || ex.ended {
		return
	}
	ex.ended = true
	end := time.Now()
	st, u := ex.st, ex.u
	st.inFlight.Dec()
	if !ex.probe {
		u.metrics.observe(ex.status, end.Sub(ex.start).Seconds())
	}
	if !ex.mirrored && !ex.inference || ex.sent.IsZero() {
		return
	}
	answer := Response{Status: ex.status, Err: ex.err, Body: ex.answer, Latency: end.Sub(ex.sent),
		InferenceHeader: string(ex.ctx.Response.Header.Peek(oip.InferenceHeader))}
	if ex.capture != nil {
		answer.Body, answer.Truncated = ex.capture.buf, ex.capture.truncated
	} else if int64(len(answer.Body)) > st.cfg.maxBody {
		answer.Body, answer.Truncated = answer.Body[:st.cfg.maxBody], true
	}
	encoding := string(ex.ctx.Response.Header.ContentEncoding())
	if ex.inference {
		if plain := decompressed(answer, encoding, st.cfg.maxBody); plain.ok() && !plain.Truncated && checkResponse(st.cfg.Protocol, plain.Body, plain.InferenceHeader) != nil {
			u.errors[errProtocol].Inc() // passed on as it is, but the upstream failed
		}
	}
	if ex.mirrored && ex.status != StatusClientClosed {
		if ex.capture == nil {
			answer.Body = bytes.Clone(answer.Body) // the response's buffer is the server's again once it is written
		}
		st.mirror.enqueue(ex.shadow, bytes.Clone(ex.body), u.pair, ex.span, encoding, answer)
	}
}

// clientBody is a request body on its way upstream, cut at limit bytes; it keeps the error reading it failed with,
// the client's fault rather than the upstream's.
type clientBody struct {
	r     io.Reader
	left  int64
	limit int64
	err   error
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	if int64(n) > b.left {
		b.err = &http.MaxBytesError{Limit: b.limit}
		return int(b.left), b.err
	}
	b.left -= int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}

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
// Expect, as the router reads the body itself, nor the pin. Trailer is not among them: the router passes trailers on
// both ways.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Transfer-Encoding", "Upgrade", "Expect", VersionHeader}

// connectionNames calls f with each header name a Connection header value lists.
func connectionNames(value []byte, f func(name []byte)) {
	for len(value) > 0 {
		var name []byte
		name, value, _ = bytes.Cut(value, []byte(","))
		if name = bytes.TrimSpace(name); len(name) > 0 {
			f(name)
		}
	}
}

// hasToken reports whether a comma-separated header value lists token, in any case.
func hasToken(value []byte, token string) bool {
	found := false
	connectionNames(value, func(name []byte) { found = found || strings.EqualFold(string(name), token) })
	return found
}

// rewrite turns the client's request into the one the upstream receives: under the upstream's URL, without the
// headers that pin a version or belong to the client's connection (those the Connection header names too), with the
// client's address (client; none for a probe) appended to X-Forwarded-For and X-Forwarded-Host and -Proto set, as
// httputil.ReverseProxy's SetXForwarded does.
func (u *upstream) rewrite(req *fasthttp.Request, client []byte) {
	h := &req.Header
	buf := bufferPool.Get().(*[]byte)
	defer bufferPool.Put(buf)
	// Into buf: the Connection header's names, the X-Forwarded-For chain, and the client's Host.
	b, trailers := (*buf)[:0], false
	for k, v := range h.All() {
		switch string(k) {
		case "Connection":
			b = append(append(b, v...), ',')
		case "Te":
			trailers = trailers || hasToken(v, "trailers")
		}
	}
	names := len(b)
	dropped := func(k []byte) bool {
		key := string(k)
		if slices.Contains(hopHeaders, key) || key == "X-Forwarded-For" || u.traced && (key == "Traceparent" || key == "Tracestate") {
			return true
		}
		named := false
		connectionNames(b[:names], func(name []byte) { named = named || strings.EqualFold(string(name), key) })
		return named
	}
	for k, v := range h.All() {
		if string(k) == "X-Forwarded-For" {
			if len(b) > names {
				b = append(b, ", "...)
			}
			b = append(b, v...)
		}
	}
	if len(client) > 0 {
		if len(b) > names {
			b = append(b, ", "...)
		}
		b = append(b, client...)
	}
	forwarded := len(b)
	b = append(b, h.Host()...)
	removeHeaders(h, dropped)
	h.ResetConnectionClose() // the client's connection, not the upstream's
	h.SetProtocol("HTTP/1.1")
	if trailers {
		h.Set("Te", "trailers")
	}
	if forwarded > names {
		h.SetBytesV("X-Forwarded-For", b[names:forwarded])
	}
	h.SetBytesV("X-Forwarded-Host", b[forwarded:])
	h.Set("X-Forwarded-Proto", "http")
	uri := append(b[len(b):], u.prefix...)
	uri = appendOriginForm(uri, h.RequestURI())
	h.SetHost(u.url.Host)
	req.SetRequestURIBytes(uri)
	*buf = b[:0]
}

// removeHeaders removes the headers for which drop is true, keeping the order of the others: fasthttp's Del moves the
// last header into the place of the one it removes, which would reorder the values of a repeated header.
func removeHeaders(h *fasthttp.RequestHeader, drop func(key []byte) bool) {
	found := false
	for k := range h.All() {
		if drop(k) {
			found = true
			break
		}
	}
	if !found { // the common case: nothing to move
		return
	}
	type field struct{ key, value string }
	var keep []field
	var all []string // every header but the special ones, which keep their places
	for k, v := range h.All() {
		key := string(k)
		all = append(all, key)
		if special[key] {
			if !drop(k) {
				all = all[:len(all)-1]
			}
			continue
		}
		if !drop(k) {
			keep = append(keep, field{key, string(v)})
		}
	}
	for _, k := range all {
		h.Del(k)
	}
	for _, f := range keep {
		h.Add(f.key, f.value)
	}
}

// special are the request headers fasthttp keeps apart from the others, in an order of its own.
var special = map[string]bool{fasthttp.HeaderHost: true, fasthttp.HeaderContentType: true, fasthttp.HeaderUserAgent: true,
	fasthttp.HeaderContentLength: true, fasthttp.HeaderTransferEncoding: true, fasthttp.HeaderConnection: true,
	fasthttp.HeaderCookie: true, fasthttp.HeaderTrailer: true}

// appendOriginForm appends the path and query of a request target to dst, '/'-prefixed: as it is for the origin form,
// from the path on for the absolute form (http://host/path), after a '/' for the asterisk form.
func appendOriginForm(dst, target []byte) []byte {
	if _, rest, ok := bytes.Cut(target, []byte("://")); ok && len(target) > 0 && target[0] != '/' {
		if i := bytes.IndexAny(rest, "/?"); i >= 0 {
			target = rest[i:]
		} else {
			target = nil
		}
	}
	if len(target) == 0 || target[0] != '/' {
		dst = append(dst, '/')
	}
	return append(dst, target...)
}

// clientIP is the client's address for X-Forwarded-For; empty for a probe, which has none.
func clientIP(ctx *fasthttp.RequestCtx) []byte {
	a, ok := ctx.RemoteAddr().(*net.TCPAddr)
	if !ok || a.IP.IsUnspecified() {
		return nil
	}
	ip, _ := netip.AddrFromSlice(a.IP)
	return ip.Unmap().AppendTo(nil)
}

// stripHop removes an upstream's hop-by-hop response headers, and those its Connection header names.
func stripHop(h *fasthttp.ResponseHeader) {
	if v := h.Peek("Connection"); len(v) > 0 {
		connectionNames(bytes.Clone(v), func(name []byte) { h.Del(string(name)) })
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
	h.ResetConnectionClose()
	h.SetNoDefaultContentType(true)
}

// headerCarrier is propagation.TextMapCarrier over a request's headers.
type headerCarrier struct{ h *fasthttp.RequestHeader }

func (c headerCarrier) Get(key string) string { return string(c.h.Peek(key)) }

func (c headerCarrier) Set(key, value string) { c.h.Set(key, value) }

func (c headerCarrier) Keys() []string {
	var keys []string
	for k := range c.h.All() {
		keys = append(keys, string(k))
	}
	return keys
}

var propagator = propagation.TraceContext{}

// failed answers a request the upstream did not: 413 or 400 when the client's body was too large or broke off, else
// 502, or 504 on a timeout, counted as the upstream's error.
func (u *upstream) failed(ex *exchange, err error) {
	ex.err = err
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(ex.clientBody.err, &tooLarge):
		u.refuse(ex, http.StatusRequestEntityTooLarge, tooLarge.Limit)
		return
	case ex.clientBody.err != nil:
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
	ex.status = status
	ex.ctx.Response.Header.SetBytesV(VersionHeader, u.answer)
	writeError(ex.ctx, status, fmt.Sprintf("%s %s did not answer: %s", u.model, u.version, kind))
}

// refuse answers a request whose body the router would not or could not read: 413 over limit, else 400.
func (u *upstream) refuse(ex *exchange, status int, limit int64) {
	msg := "reading the request body failed"
	if status == http.StatusRequestEntityTooLarge {
		msg = fmt.Sprintf("request body larger than %d bytes (the router's maxBody)", limit)
	}
	ex.status = status
	ex.ctx.Response.Header.SetBytesV(VersionHeader, u.answer)
	writeError(ex.ctx, status, msg)
}

// isTimeout reports whether err is a timeout: a deadline, or the client's wait for the response's first bytes.
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &te) && te.Timeout())
}
