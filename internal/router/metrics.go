package router

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Drop reasons of marina_router_mirror_dropped_total.
const (
	dropQueueFull = "queue_full"
	dropTimeout   = "timeout"
	dropError     = "upstream_error"
	dropBusy      = "overloaded"
	dropClosed    = "shutdown"
)

// metrics are the router's Prometheus collectors; they outlive configuration reloads.
type metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec   // model, version, code
	duration      *prometheus.HistogramVec // model, version, code
	inFlight      *prometheus.GaugeVec     // model
	upstreamError *prometheus.CounterVec   // model, version, kind
	reloads       *prometheus.CounterVec   // result
	probes        *prometheus.CounterVec   // model, version, result

	mirrored    *prometheus.CounterVec   // model, primary, shadow
	dropped     *prometheus.CounterVec   // model, shadow, reason
	queueLen    *prometheus.GaugeVec     // model, shadow
	comparisons *prometheus.CounterVec   // model, primary, shadow, result
	argmax      *prometheus.CounterVec   // model, primary, shadow, agreement (rows)
	absDiff     *prometheus.HistogramVec // model, primary, shadow
	relDiff     *prometheus.HistogramVec // model, primary, shadow
	latencyDiff *prometheus.HistogramVec // model, primary, shadow
}

// latencyBuckets cover a fast model server on loopback (100 µs) up to slow generative models (~40 s).
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2.5, 15)

// diffBuckets cover float32 rounding (1e-7) up to completely different outputs.
var diffBuckets = []float64{0, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 10}

// deltaBuckets are symmetric: a shadow can be faster (negative) or slower (positive) than the primary.
var deltaBuckets = []float64{-5, -1, -0.25, -0.05, -0.01, -0.001, 0, 0.001, 0.01, 0.05, 0.25, 1, 5}

func newMetrics() *metrics {
	pair := []string{"model", "primary", "shadow"}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marina_router_requests_total",
			Help: "Requests answered, by the version that answered and the status code."}, []string{"model", "version", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "marina_router_request_duration_seconds",
			Help: "Time from the request's arrival to the end of the response, by version and status code.", Buckets: latencyBuckets},
			[]string{"model", "version", "code"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "marina_router_in_flight_requests",
			Help: "Requests being answered."}, []string{"model"}),
		upstreamError: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marina_router_upstream_errors_total",
			Help: "Requests a version did not answer (kind connect, timeout or other), and 2xx answers to inference requests that are not the protocol's JSON (kind protocol)."}, []string{"model", "version", "kind"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marina_router_config_reloads_total",
			Help: "Configuration reloads, by result (success or failure: the previous configuration stays)."}, []string{"result"}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marina_router_probes_total",
			Help: "Sample requests sent to a version by the router's probes, by result (ok: a 2xx answer; failed)."}, []string{"model", "version", "result"}),
		mirrored: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marina_router_mirror_requests_total",
			Help: "Requests chosen to be mirrored to the shadow, queued or dropped."}, pair),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marina_router_mirror_dropped_total",
			Help: "Mirrored requests dropped: queue_full, timeout, upstream_error, overloaded (the shadow answered 429 or 503) or shutdown."}, []string{"model", "shadow", "reason"}),
		queueLen: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "marina_router_mirror_queue_length",
			Help: "Mirrored requests waiting for a worker."}, []string{"model", "shadow"}),
		comparisons: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marina_router_shadow_comparisons_total",
			Help: "Shadow responses compared with the primary's, by result: exact, differs, output_mismatch, dtype_mismatch, shape_mismatch, error_mismatch, both_error, unparseable."},
			[]string{"model", "primary", "shadow", "result"}),
		argmax: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marina_router_shadow_argmax_rows_total",
			Help: "Classification rows compared between shadow and primary, by agreement (agree or disagree) of the predicted class."},
			[]string{"model", "primary", "shadow", "agreement"}),
		absDiff: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "marina_router_shadow_max_abs_diff",
			Help: "Largest absolute difference between a numeric output of the shadow and the primary, per compared response.", Buckets: diffBuckets}, pair),
		relDiff: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "marina_router_shadow_max_rel_diff",
			Help: "Largest relative difference between a numeric output of the shadow and the primary, per compared response.", Buckets: diffBuckets}, pair),
		latencyDiff: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "marina_router_shadow_latency_delta_seconds",
			Help: "Shadow latency minus primary latency, per compared response.", Buckets: deltaBuckets}, pair),
	}
	m.reg.MustRegister(m.requests, m.duration, m.inFlight, m.upstreamError, m.reloads, m.probes, m.mirrored, m.dropped, m.queueLen,
		m.comparisons, m.argmax, m.absDiff, m.relDiff, m.latencyDiff,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// handler serves /metrics.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// versionMetrics caches the children of one version's request metrics for the status codes seen, so the hot path
// does no label hashing.
type versionMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	codes    [600]struct {
		counter  prometheus.Counter
		observer prometheus.Observer
	}
}

func (m *metrics) forVersion(model, version string) *versionMetrics {
	v := &versionMetrics{
		requests: m.requests.MustCurryWith(prometheus.Labels{"model": model, "version": version}),
		duration: m.duration.MustCurryWith(prometheus.Labels{"model": model, "version": version}).(*prometheus.HistogramVec),
	}
	for _, code := range []int{200, 400, 404, 413, 500, 502, 503, 504} {
		c := &v.codes[code]
		c.counter, c.observer = v.requests.WithLabelValues(strconv.Itoa(code)), v.duration.WithLabelValues(strconv.Itoa(code))
	}
	return v
}

// observe counts one answered request.
func (v *versionMetrics) observe(code int, seconds float64) {
	if code < 0 || code >= len(v.codes) || v.codes[code].counter == nil {
		s := strconv.Itoa(code)
		v.requests.WithLabelValues(s).Inc()
		v.duration.WithLabelValues(s).Observe(seconds)
		return
	}
	c := &v.codes[code]
	c.counter.Inc()
	c.observer.Observe(seconds)
}
