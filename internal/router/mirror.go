package router

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/marina-dev/marina/internal/oip"
)

// pairMetrics are the comparison metrics of one primary version against the shadow, resolved once per configuration.
type pairMetrics struct {
	primary, shadow         string
	mirrored                prometheus.Counter
	results                 map[Result]prometheus.Counter
	agree, disagree         prometheus.Counter
	absDiff, relDiff, delta prometheus.Observer
}

func (m *metrics) forPair(model, primary, shadow string) *pairMetrics {
	p := &pairMetrics{primary: primary, shadow: shadow, results: map[Result]prometheus.Counter{},
		mirrored: m.mirrored.WithLabelValues(model, primary, shadow),
		agree:    m.argmax.WithLabelValues(model, primary, shadow, "agree"),
		disagree: m.argmax.WithLabelValues(model, primary, shadow, "disagree"),
		absDiff:  m.absDiff.WithLabelValues(model, primary, shadow),
		relDiff:  m.relDiff.WithLabelValues(model, primary, shadow),
		delta:    m.latencyDiff.WithLabelValues(model, primary, shadow),
	}
	for _, r := range Results {
		p.results[r] = m.comparisons.WithLabelValues(model, primary, shadow, string(r))
	}
	return p
}

// record counts one comparison; the result last, so whoever sees it counted sees the rest too.
func (p *pairMetrics) record(c Comparison) {
	p.agree.Add(float64(c.ArgmaxAgree))
	p.disagree.Add(float64(c.ArgmaxRows - c.ArgmaxAgree))
	if c.Numeric {
		p.absDiff.Observe(c.MaxAbs)
		p.relDiff.Observe(c.MaxRel)
	}
	p.delta.Observe(c.LatencyDelta.Seconds())
	p.results[c.Result].Inc()
}

// Disagrees reports whether the shadow answered differently in a way that matters: anything but an exact match,
// except numeric differences whose classification rows all agree.
func (c Comparison) Disagrees() bool {
	return c.Result != ResultExact && !(c.Result == ResultDiffers && c.ArgmaxAgrees())
}

// job is one mirrored request waiting for a worker.
type job struct {
	method, path, rawPath, query string
	header                       http.Header
	body                         []byte
	primary                      Response
	encoding                     string // the primary's Content-Encoding
	pair                         *pairMetrics
	span                         trace.SpanContext
}

// mirror sends mirrored requests to the shadow from a bounded queue with a fixed pool of workers. The primary's
// handler only ever does a non-blocking send: a full queue, a slow shadow or a dead one costs drops, not latency.
type mirror struct {
	model, protocol, version string
	url                      *url.URL
	limit                    int64 // response bytes kept for comparison
	timeout                  time.Duration
	transport                *http.Transport
	tracer                   trace.Tracer
	log                      *slog.Logger
	logCfg                   *DisagreementLog
	rand                     func() uint64

	queue      chan *job
	queueBytes atomic.Int64
	maxBytes   int64
	closed     atomic.Bool
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	closeOnce  sync.Once

	queueLen prometheus.Gauge
	dropped  map[string]prometheus.Counter
}

func newMirror(cfg *Config, u *url.URL, m *metrics, log *slog.Logger, rnd func() uint64, tracer trace.Tracer) *mirror {
	s := cfg.Shadow
	mr := &mirror{
		model: cfg.Model, protocol: cfg.Protocol, version: s.Version, url: u, limit: cfg.maxBody, timeout: s.Timeout.Duration,
		// Its own pool, as large as the workers: a slow shadow must not hold the primary's connections.
		transport: newTransport(s.Workers, s.Workers, s.Timeout.Duration),
		tracer:    tracer, log: log, logCfg: s.Log, rand: rnd,
		queue: make(chan *job, s.Queue), maxBytes: s.QueueBytes,
		queueLen: m.queueLen.WithLabelValues(cfg.Model, s.Version),
		dropped:  map[string]prometheus.Counter{},
	}
	for _, r := range []string{dropQueueFull, dropTimeout, dropError, dropBusy, dropClosed} {
		mr.dropped[r] = m.dropped.WithLabelValues(cfg.Model, s.Version, r)
	}
	mr.ctx, mr.cancel = context.WithCancel(context.Background())
	mr.wg.Add(s.Workers)
	for range s.Workers {
		go mr.work()
	}
	return mr
}

// enqueue hands a request the primary answered (j, taken from it by shadowRequest) to the workers, or drops it when
// the queue is full; it never blocks.
func (mr *mirror) enqueue(j *job, body []byte, pair *pairMetrics, span trace.SpanContext, encoding string, primary Response) {
	pair.mirrored.Inc()
	if mr.closed.Load() {
		mr.dropped[dropClosed].Inc()
		return
	}
	n := int64(len(body) + len(primary.Body))
	if mr.queueBytes.Add(n) > mr.maxBytes {
		mr.queueBytes.Add(-n)
		mr.dropped[dropQueueFull].Inc()
		return
	}
	j.body, j.primary, j.encoding, j.pair, j.span = body, primary, encoding, pair, span
	select {
	case mr.queue <- j:
		mr.queueLen.Inc()
	default:
		mr.queueBytes.Add(-n)
		mr.dropped[dropQueueFull].Inc()
	}
}

func (mr *mirror) work() {
	defer mr.wg.Done()
	for {
		select {
		case <-mr.ctx.Done():
			return
		case j := <-mr.queue:
			mr.queueLen.Dec()
			mr.send(j)
			mr.queueBytes.Add(-int64(len(j.body) + len(j.primary.Body)))
		}
	}
}

// send mirrors one request and compares the answers. Transport errors, timeouts and 429/503 answers are drops, not
// comparisons: a shadow that is down or shedding load says nothing about its model.
func (mr *mirror) send(j *job) {
	ctx, cancel := context.WithTimeout(mr.ctx, mr.timeout)
	defer cancel()
	out := &http.Request{
		Method: j.method, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Host: mr.url.Host, Body: http.NoBody,
		URL:    &url.URL{Scheme: mr.url.Scheme, Host: mr.url.Host, Path: mr.url.Path + j.path, RawQuery: j.query},
		Header: make(http.Header, len(j.header)),
	}
	if j.rawPath != "" {
		out.URL.RawPath = mr.url.EscapedPath() + j.rawPath
	}
	copyHeader(out.Header, j.header)
	delete(out.Header, "Accept-Encoding") // a plain body to compare
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""}
	}
	if j.body != nil {
		out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(j.body)), int64(len(j.body))
	}
	// The span covers the exchange with the shadow and ends before the comparison is recorded: whoever sees the
	// comparison (a test, an analysis) finds the span already handed to the exporter.
	span := trace.SpanFromContext(ctx) // a no-op span unless the router traces
	if mr.tracer != nil {
		ctx, span = mr.tracer.Start(trace.ContextWithSpanContext(ctx, j.span), "shadow "+mr.model, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("marina.model", mr.model), attribute.String("marina.version", mr.version)))
		propagator.Inject(ctx, propagation.HeaderCarrier(out.Header))
	}
	start := time.Now()
	resp, err := mr.transport.RoundTrip(out.WithContext(ctx))
	var got Response
	if err == nil {
		got.Status, got.InferenceHeader = resp.StatusCode, resp.Header.Get(oip.InferenceHeader)
		got.Body, err = io.ReadAll(io.LimitReader(resp.Body, mr.limit+1))
		resp.Body.Close()
		if int64(len(got.Body)) > mr.limit {
			got.Body, got.Truncated = got.Body[:mr.limit], true
		}
	}
	got.Latency = time.Since(start)
	if err != nil {
		span.RecordError(err)
	} else {
		span.SetAttributes(attribute.Int("http.response.status_code", got.Status))
	}
	span.End()
	if err != nil {
		switch {
		case mr.ctx.Err() != nil:
			mr.dropped[dropClosed].Inc()
		case isTimeout(err) || errors.Is(ctx.Err(), context.DeadlineExceeded):
			mr.dropped[dropTimeout].Inc()
		default:
			mr.dropped[dropError].Inc()
		}
		return
	}
	if got.Status == http.StatusTooManyRequests || got.Status == http.StatusServiceUnavailable {
		mr.dropped[dropBusy].Inc() // shedding load, like a slow shadow: says nothing about its model
		return
	}
	c := Compare(mr.protocol, decompressed(j.primary, j.encoding, mr.limit), got)
	j.pair.record(c)
	if l := mr.logCfg; l != nil && c.Disagrees() && float64(mr.rand()%1_000_000) < l.Sample*1_000_000 {
		mr.logDisagreement(j, got, c)
	}
}

// logDisagreement logs one sampled disagreement; bodies only when the configuration asks for them, truncated.
func (mr *mirror) logDisagreement(j *job, got Response, c Comparison) {
	body := func(b []byte) string {
		if !mr.logCfg.Bodies {
			return "[redacted]"
		}
		const keep = 2048
		if len(b) > keep {
			return string(b[:keep]) + "…"
		}
		return string(b)
	}
	mr.log.Info("shadow disagreement", "model", mr.model, "primary", j.pair.primary, "shadow", j.pair.shadow,
		"path", j.path, "result", string(c.Result), "max_abs_diff", c.MaxAbs, "max_rel_diff", c.MaxRel,
		"argmax_rows", c.ArgmaxRows, "argmax_agree", c.ArgmaxAgree, "latency_delta", c.LatencyDelta,
		"primary_status", j.primary.Status, "shadow_status", got.Status,
		"request", body(j.body), "primary_body", body(j.primary.Body), "shadow_body", body(got.Body))
}

// close stops the workers; requests still queued are dropped and counted.
func (mr *mirror) close() {
	mr.closeOnce.Do(func() {
		mr.closed.Store(true)
		mr.cancel()
		mr.wg.Wait()
		for {
			select {
			case <-mr.queue:
				mr.queueLen.Dec()
				mr.dropped[dropClosed].Inc()
			default:
				mr.transport.CloseIdleConnections()
				return
			}
		}
	})
}

// copyHeader copies src into dst without hop-by-hop headers, those the Connection header names, and the pin.
func copyHeader(dst, src http.Header) {
	named := map[string]bool{}
	for _, v := range src["Connection"] {
		connectionNames([]byte(v), func(name []byte) { named[textproto.CanonicalMIMEHeaderKey(string(name))] = true })
	}
	for k, v := range src {
		if !named[k] && !slices.Contains(hopHeaders, k) {
			dst[k] = v
		}
	}
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
