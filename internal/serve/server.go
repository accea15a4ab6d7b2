package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/marina-dev/marina/internal/httpserver"
	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/oip"
)

// wildcard matches a path pattern's wildcard segment.
var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// Model is what the server runs: an inference.Session, or a stand-in in tests.
type Model interface {
	Inputs() []model.Tensor
	Outputs() []model.Tensor
	Run(inputs []inference.Tensor) ([]inference.Tensor, error)
}

var _ Model = (*inference.Session)(nil)

// Defaults of Options.
const (
	DefaultMaxBody         = 8 << 20
	DefaultShutdownTimeout = 10 * time.Second
)

// Options configure a Server.
type Options struct {
	// Name is the model name clients use in URLs.
	Name string
	// Version is reported in metadata and responses; empty when unknown.
	Version string
	// ServerVersion is marina's own version, reported by GET /v2 (ONNX Runtime's is its own field there).
	ServerVersion string
	// MaxBody bounds a request body in bytes (default DefaultMaxBody); larger bodies get 413.
	MaxBody int64
	// MaxConcurrency bounds inferences in progress (default 2×GOMAXPROCS); requests beyond it get 503 at once.
	MaxConcurrency int
	// Log receives request errors the client cannot fix (500s) at error level, and one line per request at info
	// level (method, path, status, duration; never a body); nil discards them.
	Log *slog.Logger
}

// Server serves one model. It is live from the start and ready once SetModel has been called.
type Server struct {
	opts    Options
	model   atomic.Pointer[loaded]
	slots   chan struct{}
	metrics *metrics
	handler http.Handler
}

type loaded struct {
	m               Model
	inputs, outputs []model.Tensor
	single          bool // one input: KServe v1 :predict can feed it
}

// New builds a server that is not ready until SetModel.
func New(opts Options) *Server {
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.MaxConcurrency <= 0 {
		opts.MaxConcurrency = 2 * runtime.GOMAXPROCS(0)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, slots: make(chan struct{}, opts.MaxConcurrency), metrics: newMetrics()}
	mux := http.NewServeMux()
	// allowed lists the methods of each path, so another method gets 405 with an Allow header rather than 404.
	// Paths are keyed without their wildcards' names: /v1/models/{name} and /v1/models/{target} are one path.
	allowed := map[string][]string{}
	var paths []string // as first registered, in order
	handle := func(pattern string, h http.Handler) {
		method, path, _ := strings.Cut(pattern, " ")
		key := wildcard.ReplaceAllString(path, "{}")
		if allowed[key] == nil {
			paths = append(paths, path)
		}
		allowed[key] = append(allowed[key], method)
		if method == http.MethodGet {
			allowed[key] = append(allowed[key], http.MethodHead)
		}
		mux.Handle(pattern, h)
	}
	route := func(pattern, endpoint string, h http.HandlerFunc) { handle(pattern, s.instrument(endpoint, h)) }
	route("GET /v2/health/live", "live", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"live": true})
	})
	route("GET /v2/health/ready", "ready", s.ready)
	route("GET /v2", "server_metadata", s.serverMetadata)
	route("GET /v2/models/{name}", "model_metadata", s.modelMetadata)
	route("GET /v2/models/{name}/versions/{version}", "model_metadata", s.modelMetadata)
	route("GET /v2/models/{name}/ready", "model_ready", s.modelReady)
	route("GET /v2/models/{name}/versions/{version}/ready", "model_ready", s.modelReady)
	route("POST /v2/models/{name}/infer", "infer", s.infer)
	route("POST /v2/models/{name}/versions/{version}/infer", "infer", s.infer)
	route("POST /v1/models/{target}", "predict", s.predict)
	route("GET /v1/models/{name}", "v1_model", s.v1Model)
	handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	for _, path := range paths {
		allow := strings.Join(allowed[wildcard.ReplaceAllString(path, "{}")], ", ")
		// A pattern without a method matches only what the patterns with one did not.
		mux.Handle(path, s.instrument("other", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s: use %s", r.Method, r.URL.Path, allow))
		}))
	}
	mux.Handle("/", s.instrument("other", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	}))
	s.handler = mux
	return s
}

// SetModel makes the server ready with m, loaded in loadTime.
func (s *Server) SetModel(m Model, loadTime time.Duration) {
	in := m.Inputs()
	s.model.Store(&loaded{m: m, inputs: in, outputs: m.Outputs(), single: len(in) == 1})
	s.metrics.loadSeconds.Set(loadTime.Seconds())
}

// ServeHTTP serves the protocol endpoints and /metrics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// readTimeout bounds reading a request, headers and body alike: a client trickling either holds a connection and a
// goroutine no longer than this. It asks for 0.8 MB/s of a body as large as DefaultMaxBody.
const readTimeout = 10 * time.Second

// Serve serves on ln until ctx is done, then shuts down gracefully: in-flight requests get up to timeout to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener, timeout time.Duration) error {
	return httpserver.Serve(ctx, &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.opts.Log.Handler(), slog.LevelWarn),
	}, ln, timeout)
}

// statusRecorder remembers the status code written, for the request counter.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// instrument counts and times a handler, and turns a panic into a 500 rather than a dropped connection.
func (s *Server) instrument(endpoint string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.inFlight.Inc()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				s.opts.Log.Error("panic serving a request", "endpoint", endpoint, "panic", p)
				if rec.code == 0 {
					writeError(rec, http.StatusInternalServerError, "internal error")
				}
			}
			s.metrics.inFlight.Dec()
			if rec.code == 0 {
				rec.code = http.StatusOK
			}
			elapsed := time.Since(start)
			s.metrics.requests.WithLabelValues(endpoint, strconv.Itoa(rec.code)).Inc()
			s.metrics.duration.WithLabelValues(endpoint).Observe(elapsed.Seconds())
			s.opts.Log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.code, "duration", elapsed, "remote", r.RemoteAddr)
		}()
		h(rec, r)
	})
}

func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	if s.model.Load() == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]bool{"ready": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
}

func (s *Server) serverMetadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"name": "marina", "version": s.opts.ServerVersion, "onnxruntime": inference.Version(), "extensions": []string{"binary_tensor_data"}})
}

// lookup finds the served model for a request naming it; it writes the error response and returns nil when the
// name or version is not served or the model is not loaded yet.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, name string) *loaded {
	if name != s.opts.Name {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown model %q (this server serves %q)", name, s.opts.Name))
		return nil
	}
	if v := r.PathValue("version"); v != "" && v != s.opts.Version {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown version %q of model %q (this server serves %q)", v, name, s.opts.Version))
		return nil
	}
	m := s.model.Load()
	if m == nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("model %q is loading", name))
	}
	return m
}

type tensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

type modelMetadata struct {
	Name     string           `json:"name"`
	Versions []string         `json:"versions,omitempty"`
	Platform string           `json:"platform"`
	Inputs   []tensorMetadata `json:"inputs"`
	Outputs  []tensorMetadata `json:"outputs"`
}

func describe(ts []model.Tensor) []tensorMetadata {
	out := make([]tensorMetadata, len(ts))
	for i, t := range ts {
		out[i] = tensorMetadata{Name: t.Name, Datatype: datatype(t.DType), Shape: t.Shape}
		if out[i].Shape == nil {
			out[i].Shape = []int64{}
		}
	}
	return out
}

func (s *Server) modelMetadata(w http.ResponseWriter, r *http.Request) {
	m := s.lookup(w, r, r.PathValue("name"))
	if m == nil {
		return
	}
	md := modelMetadata{Name: s.opts.Name, Platform: "onnxruntime", Inputs: describe(m.inputs), Outputs: describe(m.outputs)}
	if s.opts.Version != "" {
		md.Versions = []string{s.opts.Version}
	}
	writeJSON(w, http.StatusOK, md)
}

func (s *Server) modelReady(w http.ResponseWriter, r *http.Request) {
	if s.lookup(w, r, r.PathValue("name")) != nil {
		writeJSON(w, http.StatusOK, map[string]any{"name": s.opts.Name, "ready": true})
	}
}

func (s *Server) v1Model(w http.ResponseWriter, r *http.Request) {
	if s.lookup(w, r, r.PathValue("name")) != nil {
		writeJSON(w, http.StatusOK, map[string]any{"name": s.opts.Name, "ready": true})
	}
}

// body reads the request body up to MaxBody; it writes the error response and returns false when it cannot.
func (s *Server) body(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over the %d byte limit", s.opts.MaxBody))
		} else {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("reading the request body: %v", err))
		}
		return nil, false
	}
	return b, true
}

// run runs the model within the concurrency limit; it writes the error response and returns nil when it cannot.
func (s *Server) run(w http.ResponseWriter, m *loaded, inputs []inference.Tensor) []inference.Tensor {
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("too many concurrent requests (limit %d); retry", s.opts.MaxConcurrency))
		return nil
	}
	out, err := m.m.Run(inputs)
	switch {
	case errors.Is(err, inference.ErrBadInput):
		writeError(w, http.StatusBadRequest, err.Error())
		return nil
	case err != nil:
		s.opts.Log.Error("inference failed", "model", s.opts.Name, "error", err)
		writeError(w, http.StatusInternalServerError, "inference failed: "+err.Error())
		return nil
	}
	return out
}

type responseOutput struct {
	Name     string  `json:"name"`
	Shape    []int64 `json:"shape"`
	Datatype string  `json:"datatype"`
	// Parameters is set on an output answered as binary tensor data, whose Data then follows the JSON.
	Parameters *outputParameters `json:"parameters,omitempty"`
	Data       any               `json:"data"`
}

// outputParameters are the parameters of a binary output.
type outputParameters struct {
	BinaryDataSize int64 `json:"binary_data_size"`
}

type inferResponse struct {
	ModelName    string           `json:"model_name"`
	ModelVersion string           `json:"model_version,omitempty"`
	ID           string           `json:"id,omitempty"`
	Outputs      []responseOutput `json:"outputs"`
	binary       bool             // an output has Parameters
}

func (s *Server) infer(w http.ResponseWriter, r *http.Request) {
	m := s.lookup(w, r, r.PathValue("name"))
	if m == nil {
		return
	}
	b, ok := s.body(w, r)
	if !ok {
		return
	}
	var req decodedRequest
	var err error
	if header := r.Header.Get(oip.InferenceHeader); header != "" {
		req, err = decodeBinaryRequest(b, header, m.inputs, m.outputs)
	} else {
		req, err = decodeInferRequest(b, m.inputs, m.outputs)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := s.run(w, m, req.Inputs)
	if out == nil {
		return
	}
	resp := inferResponse{ModelName: s.opts.Name, ModelVersion: s.opts.Version, ID: req.ID, Outputs: []responseOutput{}}
	for _, t := range out {
		binary, answered := req.binaryOutput(t.Name)
		if !answered {
			continue
		}
		o := responseOutput{Name: t.Name, Shape: t.Shape, Datatype: datatype(t.DType), Data: data(t)}
		if o.Shape == nil {
			o.Shape = []int64{} // a scalar's shape is [], never null
		}
		if binary {
			o.Parameters = &outputParameters{BinaryDataSize: tensorBytes(o)}
			resp.binary = true
		}
		resp.Outputs = append(resp.Outputs, o)
	}
	writeInferResponse(w, resp)
}

// predict is KServe v1: {"instances": [example, …]} → {"predictions": [result, …]}, for a model with one input
// whose dimensions after the batch are fixed.
func (s *Server) predict(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("target"), ":predict")
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s (KServe v1 is POST /v1/models/NAME:predict)", r.Method, r.URL.Path))
		return
	}
	m := s.lookup(w, r, name)
	if m == nil {
		return
	}
	if !m.single {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("model %q has %d inputs; KServe v1 :predict feeds one, use /v2/models/%s/infer", s.opts.Name, len(m.inputs), s.opts.Name))
		return
	}
	b, ok := s.body(w, r)
	if !ok {
		return
	}
	in, err := decodePredictRequest(b, m.inputs[0])
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := s.run(w, m, []inference.Tensor{in})
	if out == nil {
		return
	}
	batch := int(in.Shape[0])
	predictions := make([]any, batch)
	for i := range batch {
		if len(out) == 1 {
			predictions[i] = example(out[0], i)
			continue
		}
		byName := make(map[string]any, len(out))
		for _, t := range out {
			byName[t.Name] = example(t, i)
		}
		predictions[i] = byName
	}
	writeJSON(w, http.StatusOK, map[string]any{"predictions": predictions})
}

// data is the buffer of t that its dtype selects.
func data(t inference.Tensor) any {
	switch t.DType {
	case inference.Int64:
		return t.Int64
	case inference.Bool:
		return t.Bool
	case inference.String:
		return t.String
	}
	return t.Float32
}

// example is the i-th entry along the batch dimension of t, nested as t's other dimensions; a scalar output is
// the same for every example.
func example(t inference.Tensor, i int) any {
	if len(t.Shape) == 0 {
		return batchEntry(t, 0, 1, nil)
	}
	if t.Shape[0] <= int64(i) {
		return nil
	}
	rest := t.Shape[1:]
	return batchEntry(t, i, int(elements(rest)), rest)
}

// batchEntry is the i-th run of n values of t's buffer, nested as shape.
func batchEntry(t inference.Tensor, i, n int, shape []int64) any {
	switch t.DType {
	case inference.Int64:
		return nest(t.Int64[i*n:(i+1)*n], shape)
	case inference.Bool:
		return nest(t.Bool[i*n:(i+1)*n], shape)
	case inference.String:
		return nest(t.String[i*n:(i+1)*n], shape)
	}
	return nest(t.Float32[i*n:(i+1)*n], shape)
}

func nest[T any](data []T, shape []int64) any {
	if len(shape) == 0 {
		return data[0]
	}
	if len(shape) == 1 {
		return data
	}
	out := make([]any, shape[0])
	step := len(data) / int(shape[0])
	for i := range out {
		out[i] = nest(data[i*step:(i+1)*step], shape[1:])
	}
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		// NaN or ±Inf in an output: JSON has no way to say it.
		code = http.StatusInternalServerError
		buf.Reset()
		_ = json.NewEncoder(&buf).Encode(map[string]string{"error": "encoding the response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
