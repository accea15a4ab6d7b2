package router

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// model is how a test upstream answers: class scores for one input value.
type model func(x float64) []float64

// goodModel scores two classes: [1-x, x].
func goodModel(x float64) []float64 { return []float64{1 - x, x} }

// worseModel is goodModel with the classes swapped for 0.4 ≤ x < 0.6: on inputs spread evenly over [0, 1) it picks the
// other class 20% of the time.
func worseModel(x float64) []float64 {
	p := goodModel(x)
	if x >= 0.4 && x < 0.6 {
		p[0], p[1] = p[1], p[0]
	}
	return p
}

// oipUpstream starts a real HTTP server answering Open Inference Protocol v2 requests for version with m, after
// delay. It records the traceparent header of the last request.
func oipUpstream(t *testing.T, version string, m model, delay time.Duration) (*httptest.Server, *lastHeader) {
	t.Helper()
	last := &lastHeader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last.set(r.Header.Clone())
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		var req struct {
			Inputs []struct {
				Data []float64 `json:"data"`
			} `json:"inputs"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Inputs) != 1 || len(req.Inputs[0].Data) != 1 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":"want one input with one value"}`)
			return
		}
		out, _ := json.Marshal(m(req.Inputs[0].Data[0]))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"model_name":"iris","model_version":%q,"outputs":[{"name":"probabilities","shape":[1,2],"datatype":"FP32","data":%s}]}`, version, out)
	}))
	t.Cleanup(srv.Close)
	return srv, last
}

// lastHeader is the header of the last request an upstream saw.
type lastHeader struct {
	mu sync.Mutex
	h  http.Header
}

func (l *lastHeader) set(h http.Header) { l.mu.Lock(); l.h = h; l.mu.Unlock() }
func (l *lastHeader) get(key string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.h.Get(key)
}

// deadURL is a loopback address nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// seeded is a concurrency-safe deterministic random source.
func seeded(seed uint64) func() uint64 {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		return r.Uint64()
	}
}

// running is a router serving on loopback for one test.
type running struct {
	*Router
	url, metricsURL string
	stop            func() error // cancels Serve and returns its error
}

// startRouter parses yaml (listen and metrics are replaced by free loopback ports) and serves it until the test ends.
func startRouter(t *testing.T, yaml string, opts Options) *running {
	t.Helper()
	cfg, err := Parse("router.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return serveRouter(t, rt)
}

func serveRouter(t *testing.T, rt *Router) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Serve(ctx, ln, mln) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() { cancel(); serveErr = <-done })
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &running{Router: rt, url: "http://" + ln.Addr().String(), metricsURL: "http://" + mln.Addr().String() + "/metrics", stop: stop}
}

// config writes a router configuration with listen/metrics placeholders for startRouter.
func config(body string) string {
	return "listen: 127.0.0.1:0\nmetrics: 127.0.0.1:0\nmodel: iris\nprotocol: oip-v2\n" + body
}

// inferBody is an OIP v2 request for input x.
func inferBody(x float64) string {
	return fmt.Sprintf(`{"inputs":[{"name":"x","shape":[1,1],"datatype":"FP32","data":[%v]}]}`, x)
}

// infer posts an inference request for x with extra headers and returns the status, the answering version and
// the latency.
func infer(t testing.TB, client *http.Client, base string, x float64, header map[string]string) (int, string, time.Duration) {
	req, err := http.NewRequest(http.MethodPost, base+"/v2/models/iris/infer", strings.NewReader(inferBody(x)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get(VersionHeader), time.Since(start)
}

// client is a keep-alive client sized for a test's concurrency.
func client() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
}

// parallel runs n calls of f over workers goroutines.
func parallel(n, workers int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// percentile returns the p-th percentile (0–100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p/100))]
}

// writeFile writes data to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// comparisons is the number of comparisons of shadow against primary with result r.
func (rt *Router) comparisonsOf(primary, shadow string, r Result) float64 {
	return testutil.ToFloat64(rt.metrics.comparisons.WithLabelValues(rt.Config().Model, primary, shadow, string(r)))
}

// compared is the number of comparisons of shadow against primary, whatever their result.
func (rt *Router) compared(primary, shadow string) float64 {
	n := 0.0
	for _, r := range Results {
		n += rt.comparisonsOf(primary, shadow, r)
	}
	return n
}

// dropsOf is the number of mirrored requests dropped for reason.
func (rt *Router) dropsOf(shadow, reason string) float64 {
	return testutil.ToFloat64(rt.metrics.dropped.WithLabelValues(rt.Config().Model, shadow, reason))
}
