package router

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/logtest"
)

func TestSplitsTrafficByWeightWithinFourSigma(t *testing.T) {
	t.Parallel()
	v1, _ := oipUpstream(t, "1.0.0", goodModel, 0)
	v2, _ := oipUpstream(t, "1.1.0", goodModel, 0)
	rt := startRouter(t, config(fmt.Sprintf(`upstreams:
  - {version: 1.0.0, url: %q, weight: 90}
  - {version: 1.1.0, url: %q, weight: 10}
`, v1.URL, v2.URL)), Options{Rand: seeded(1)})
	const n, p = 4_000, 0.1
	var got [2]atomic.Int64
	c := client()
	parallel(n, 16, func(i int) {
		status, version, _ := infer(t, c, rt.url, 0.3, nil)
		switch {
		case status != http.StatusOK:
			t.Errorf("status %d", status)
		case version == "1.0.0":
			got[0].Add(1)
		case version == "1.1.0":
			got[1].Add(1)
		default:
			t.Errorf("X-Marina-Version %q", version)
		}
	})
	sigma := math.Sqrt(n * p * (1 - p))
	if d := math.Abs(float64(got[1].Load()) - n*p); d > 4*sigma {
		t.Errorf("1.1.0 answered %d of %d requests, want %v ± %.0f (4σ)", got[1].Load(), n, n*p, 4*sigma)
	}
	if total := testutil.ToFloat64(rt.metrics.requests.WithLabelValues("iris", "1.1.0", "200")); total != float64(got[1].Load()) {
		t.Errorf("marina_router_requests_total{version=1.1.0,code=200} = %v, want %d", total, got[1].Load())
	}
}

func TestWeightedChoiceIsDeterministicWithAnInjectedRand(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("r.yaml", []byte(config(`upstreams:
  - {version: a, url: "http://127.0.0.1:1", weight: 1}
  - {version: b, url: "http://127.0.0.1:2", weight: 3}
  - {version: off, url: "http://127.0.0.1:3", weight: 0}
`)))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := New(cfg, Options{Rand: func() uint64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	st := rt.state.Load()
	var r fasthttp.RequestHeader
	r.SetMethod(http.MethodPost)
	r.SetRequestURI("/")
	for point, want := range map[uint64]string{0: "a", 1: "b", 3: "b", 4: "a", 7: "b"} {
		u, _, err := st.choose(&r, func() uint64 { return point })
		if err != nil || u.version != want {
			t.Errorf("rand %d: got %v (%v), want %s", point, u, err, want)
		}
	}
}

func TestStickyRoutingKeepsEachClientOnOneVersionWhileWeightsStay(t *testing.T) {
	t.Parallel()
	v1, _ := oipUpstream(t, "1.0.0", goodModel, 0)
	v2, _ := oipUpstream(t, "1.1.0", goodModel, 0)
	upstreams := func(w1, w2 int) string {
		return fmt.Sprintf("upstreams:\n  - {version: 1.0.0, url: %q, weight: %d}\n  - {version: 1.1.0, url: %q, weight: %d}\n", v1.URL, w1, v2.URL, w2)
	}
	sticky := "sticky: {header: X-User-Id, cookie: session}\n"
	rt := startRouter(t, config(sticky+upstreams(50, 50)), Options{})
	c := client()
	first := map[string]string{}
	seen := map[string]int{}
	for user := range 100 {
		key := fmt.Sprintf("user-%d", user)
		for try := range 5 {
			h := map[string]string{"X-User-Id": key}
			if try%2 == 1 { // the cookie is the same key
				h = map[string]string{"Cookie": "session=" + key}
			}
			_, version, _ := infer(t, c, rt.url, 0.3, h)
			if try == 0 {
				first[key] = version
				seen[version]++
			} else if version != first[key] {
				t.Fatalf("%s: request %d went to %s, the first to %s", key, try, version, first[key])
			}
		}
	}
	if seen["1.0.0"] < 25 || seen["1.1.0"] < 25 {
		t.Errorf("100 sticky keys at 50/50 split %v: the hash does not spread keys", seen)
	}

	// A reload with the same weights (here: a new timeout) keeps every client where it was.
	cfg, err := Parse("r.yaml", []byte(config(sticky+upstreams(50, 50)+"timeouts: {upstream: 5s}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	for key, want := range first {
		if _, got, _ := infer(t, c, rt.url, 0.3, map[string]string{"X-User-Id": key}); got != want {
			t.Errorf("%s moved from %s to %s after a reload with the same weights", key, want, got)
		}
	}
}

func TestVersionHeaderPinsTheVersionAndUnknownVersionsAreRefused(t *testing.T) {
	t.Parallel()
	v1, _ := oipUpstream(t, "1.0.0", goodModel, 0)
	v2, _ := oipUpstream(t, "1.1.0", goodModel, 0)
	sh, _ := oipUpstream(t, "1.2.0", goodModel, 0)
	rt := startRouter(t, config(fmt.Sprintf(`upstreams:
  - {version: 1.0.0, url: %q, weight: 100}
  - {version: 1.1.0, url: %q, weight: 0}
shadow: {version: 1.2.0, url: %q, percent: 100}
`, v1.URL, v2.URL, sh.URL)), Options{})
	c := client()
	for _, want := range []string{"1.1.0", "1.2.0", "1.0.0"} {
		for range 20 {
			status, got, _ := infer(t, c, rt.url, 0.3, map[string]string{VersionHeader: want})
			if status != http.StatusOK || got != want {
				t.Fatalf("pinned %s: status %d from %q", want, status, got)
			}
		}
	}
	if n := testutil.ToFloat64(rt.metrics.mirrored.WithLabelValues("iris", "1.0.0", "1.2.0")); n != 0 {
		t.Errorf("pinned requests were mirrored %v times, want 0", n)
	}
	resp, err := c.Do(mustRequest(t, rt.url, inferBody(0.3), map[string]string{VersionHeader: "9.9.9"}))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "1.0.0, 1.1.0, 1.2.0") {
		t.Errorf("unknown pinned version: %d %s, want 400 listing the versions", resp.StatusCode, body)
	}
}

func mustRequest(t *testing.T, base, body string, header map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/v2/models/iris/infer", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req
}

// mirrorAll sends the inputs (i+0.5)/n for i < n through rt and waits until the shadow's answers are compared.
func mirrorAll(t *testing.T, rt *running, n int, primary, shadow string) {
	t.Helper()
	c := client()
	parallel(n, 4, func(i int) {
		if status, _, _ := infer(t, c, rt.url, (float64(i)+0.5)/float64(n), nil); status != http.StatusOK {
			t.Errorf("status %d", status)
		}
	})
	eventually.True(t, 20*time.Second, "every mirrored request compared", func() bool { return rt.compared(primary, shadow) == float64(n) })
}

func TestShadowComparisonMeasuresHowOftenTheShadowAgrees(t *testing.T) {
	t.Parallel()
	const n = 500
	for _, c := range []struct {
		name     string
		model    model
		agreeing float64 // of the n rows, those whose argmax agrees; of the n responses, those exactly equal
	}{
		{"an identical model agrees on every request", goodModel, n},
		{"a worse model disagrees at its measured rate (it swaps classes on 20% of inputs)", worseModel, 0.8 * n},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v1, _ := oipUpstream(t, "1.0.0", goodModel, 0)
			sh, _ := oipUpstream(t, "1.2.0", c.model, 0)
			rt := startRouter(t, config(fmt.Sprintf(`upstreams: [{version: 1.0.0, url: %q, weight: 1}]
shadow: {version: 1.2.0, url: %q, percent: 100}
`, v1.URL, sh.URL)), Options{})
			mirrorAll(t, rt, n, "1.0.0", "1.2.0")
			agree := testutil.ToFloat64(rt.metrics.argmax.WithLabelValues("iris", "1.0.0", "1.2.0", "agree"))
			disagree := testutil.ToFloat64(rt.metrics.argmax.WithLabelValues("iris", "1.0.0", "1.2.0", "disagree"))
			if agree != c.agreeing || disagree != n-c.agreeing {
				t.Errorf("argmax rows agree %v disagree %v, want %v and %v", agree, disagree, c.agreeing, n-c.agreeing)
			}
			if exact, differs := rt.comparisonsOf("1.0.0", "1.2.0", ResultExact), rt.comparisonsOf("1.0.0", "1.2.0", ResultDiffers); exact != c.agreeing || differs != n-c.agreeing {
				t.Errorf("exact %v differs %v, want %v and %v", exact, differs, c.agreeing, n-c.agreeing)
			}
			// The metrics listener exports the comparison for an analysis query.
			resp, err := http.Get(rt.metricsURL)
			if err != nil {
				t.Fatal(err)
			}
			text, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := fmt.Sprintf(`marina_router_shadow_argmax_rows_total{agreement="disagree",model="iris",primary="1.0.0",shadow="1.2.0"} %v`, disagree)
			if !strings.Contains(string(text), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		})
	}
}

func TestSampledDisagreementsAreLoggedWithBodiesRedacted(t *testing.T) {
	t.Parallel()
	v1, _ := oipUpstream(t, "1.0.0", goodModel, 0)
	sh, _ := oipUpstream(t, "1.2.0", worseModel, 0)
	var log logtest.Buffer
	cfg, err := Parse("r.yaml", []byte(config(fmt.Sprintf(`upstreams: [{version: 1.0.0, url: %q, weight: 1}]
shadow: {version: 1.2.0, url: %q, percent: 100, log: {sample: 1}}
`, v1.URL, sh.URL))))
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(cfg, Options{Log: log.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	rt := serveRouter(t, r)
	mirrorAll(t, rt, 100, "1.0.0", "1.2.0")
	eventually.True(t, 5*time.Second, "20 disagreements logged (sample 1)", func() bool { return strings.Count(log.String(), "shadow disagreement") == 20 })
	out := log.String()
	if strings.Contains(out, "probabilities") || !strings.Contains(out, "[redacted]") {
		t.Errorf("bodies are not redacted:\n%s", out)
	}
}

func TestPrimaryLatencyIsUnchangedWhenTheShadowIsSlowOrDown(t *testing.T) {
	t.Parallel()
	v1, _ := oipUpstream(t, "1.0.0", goodModel, 0)
	slow, _ := oipUpstream(t, "1.2.0", goodModel, 2*time.Second)
	measure := func(shadow string) (*running, time.Duration) {
		rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: 1.0.0, url: %q, weight: 1}]\n%s", v1.URL, shadow)), Options{})
		c := client()
		var mu sync.Mutex
		var lat []time.Duration
		parallel(1000, 4, func(int) {
			status, _, d := infer(t, c, rt.url, 0.3, nil)
			if status != http.StatusOK {
				t.Errorf("status %d", status)
			}
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		})
		return rt, percentile(lat, 99)
	}
	_, base := measure("")
	for name, shadow := range map[string]string{
		"sleeps 2s": fmt.Sprintf("shadow: {version: 1.2.0, url: %q, percent: 100, queue: 16, workers: 2, timeout: 3s}\n", slow.URL),
		"is down":   fmt.Sprintf("shadow: {version: 1.2.0, url: %q, percent: 100, queue: 16, workers: 2}\n", deadURL(t)),
	} {
		rt, p99 := measure(shadow)
		// Generous: the machine is shared, but a primary that waited for the shadow would take 2 s per request.
		if limit := 5*base + 500*time.Millisecond; p99 > limit {
			t.Errorf("shadow %s: primary p99 %v, without a shadow %v (limit %v)", name, p99, base, limit)
		}
		drops := rt.dropsOf("1.2.0", dropQueueFull) + rt.dropsOf("1.2.0", dropError) + rt.dropsOf("1.2.0", dropTimeout)
		if drops < 500 {
			t.Errorf("shadow %s: %v mirrored requests dropped, want most of 1000", name, drops)
		}
		t.Logf("shadow %s: primary p99 %v (without a shadow %v), %v mirrored requests dropped", name, p99, base, drops)
	}
}

func TestBodiesOverTheLimitGet413(t *testing.T) {
	t.Parallel()
	v1, _ := oipUpstream(t, "1.0.0", goodModel, 0)
	rt := startRouter(t, config(fmt.Sprintf("maxBody: 1Ki\nupstreams: [{version: 1.0.0, url: %q, weight: 1}]\n", v1.URL)), Options{})
	big := strings.Repeat(" ", 1025) + inferBody(0.3)
	for name, body := range map[string]io.Reader{
		"with Content-Length": strings.NewReader(big),
		"chunked":             io.MultiReader(strings.NewReader(big)), // unknown length
	} {
		req, _ := http.NewRequest(http.MethodPost, rt.url+"/v2/models/iris/infer", body)
		resp, err := client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get(VersionHeader) != "1.0.0" {
			t.Errorf("%s: %d %q, want 413 from 1.0.0", name, resp.StatusCode, resp.Header.Get(VersionHeader))
		}
	}
	if status, _, _ := infer(t, client(), rt.url, 0.3, nil); status != http.StatusOK {
		t.Errorf("a small body got %d", status)
	}
}

func TestUpstreamFailuresAre502Or504AndCounted(t *testing.T) {
	t.Parallel()
	slow, _ := oipUpstream(t, "slow", goodModel, 2*time.Second)
	rt := startRouter(t, config(fmt.Sprintf(`timeouts: {upstream: 100ms}
upstreams:
  - {version: down, url: %q, weight: 1}
  - {version: slow, url: %q, weight: 0}
`, deadURL(t), slow.URL)), Options{})
	if status, version, _ := infer(t, client(), rt.url, 0.3, nil); status != http.StatusBadGateway || version != "down" {
		t.Errorf("down upstream: %d from %q, want 502 from down", status, version)
	}
	if status, _, _ := infer(t, client(), rt.url, 0.3, map[string]string{VersionHeader: "slow"}); status != http.StatusGatewayTimeout {
		t.Errorf("slow upstream: %d, want 504", status)
	}
	for version, kind := range map[string]string{"down": errConnect, "slow": errTimeout} {
		if n := testutil.ToFloat64(rt.metrics.upstreamError.WithLabelValues("iris", version, kind)); n != 1 {
			t.Errorf("upstream errors{version=%s,kind=%s} = %v, want 1", version, kind, n)
		}
	}
}

func TestConfigFileChangesAreReloadedAndBadOnesKeepThePrevious(t *testing.T) {
	t.Parallel()
	v1, _ := oipUpstream(t, "1.0.0", goodModel, 0)
	v2, _ := oipUpstream(t, "1.1.0", goodModel, 0)
	weights := func(w1, w2 int) string {
		return config(fmt.Sprintf("upstreams:\n  - {version: 1.0.0, url: %q, weight: %d}\n  - {version: 1.1.0, url: %q, weight: %d}\n", v1.URL, w1, v2.URL, w2))
	}
	file := writeFile(t, t.TempDir(), "router.yaml", weights(100, 0))
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rt := serveRouter(t, r)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go rt.WatchFile(ctx, file, 20*time.Millisecond)
	c := client()
	answeredBy := func(want string) func() bool {
		return func() bool { _, got, _ := infer(t, c, rt.url, 0.3, nil); return got == want }
	}
	if !answeredBy("1.0.0")() {
		t.Fatal("1.0.0 at weight 100 did not answer")
	}
	time.Sleep(30 * time.Millisecond) // a modification time the watcher can tell apart
	writeFile(t, file[:strings.LastIndex(file, "/")], "router.yaml", weights(0, 100))
	eventually.True(t, 5*time.Second, "the new weights route to 1.1.0", answeredBy("1.1.0"))

	writeFile(t, file[:strings.LastIndex(file, "/")], "router.yaml", weights(0, 100)+"bogus: field\n")
	eventually.True(t, 5*time.Second, "the bad configuration is counted", func() bool {
		return testutil.ToFloat64(rt.metrics.reloads.WithLabelValues("failure")) == 1
	})
	for range 20 {
		if !answeredBy("1.1.0")() {
			t.Fatal("a configuration that failed to load replaced the previous one")
		}
	}
}

func TestShutdownDrainsRequestsInFlight(t *testing.T) {
	t.Parallel()
	slow, _ := oipUpstream(t, "1.0.0", goodModel, 300*time.Millisecond)
	rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: 1.0.0, url: %q, weight: 1}]\n", slow.URL)), Options{})
	type result struct {
		status int
		err    error
	}
	results := make(chan result, 4)
	for range 4 {
		go func() {
			resp, err := client().Do(mustRequest(t, rt.url, inferBody(0.3), nil))
			if err != nil {
				results <- result{err: err}
				return
			}
			resp.Body.Close()
			results <- result{status: resp.StatusCode}
		}()
	}
	eventually.True(t, 5*time.Second, "4 requests in flight", func() bool {
		return testutil.ToFloat64(rt.metrics.inFlight.WithLabelValues("iris")) == 4
	})
	if err := rt.stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for range 4 {
		if r := <-results; r.err != nil || r.status != http.StatusOK {
			t.Errorf("a request in flight during shutdown: %d %v, want 200", r.status, r.err)
		}
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(rt.url, "http://"), time.Second); err == nil {
		t.Error("the router still accepts connections after shutdown")
	}
}

func TestServesHTTP2WithoutTLS(t *testing.T) {
	t.Parallel()
	v1, _ := oipUpstream(t, "1.0.0", goodModel, 0)
	rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: 1.0.0, url: %q, weight: 1}]\n", v1.URL)), Options{})
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	c := &http.Client{Transport: &http.Transport{Protocols: &protocols, TLSClientConfig: &tls.Config{}}}
	resp, err := c.Do(mustRequest(t, rt.url, inferBody(0.3), nil))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK || resp.Header.Get(VersionHeader) != "1.0.0" || !strings.Contains(string(body), "outputs") {
		t.Errorf("h2c: %s %d %q %s", resp.Proto, resp.StatusCode, resp.Header.Get(VersionHeader), body)
	}
}

// An HTTP/1.1 Upgrade is a request a server may ignore (RFC 9110 §7.8): the router answers it over HTTP/1.1 and the
// connection-level headers stay with the client's connection.
func TestAnUpgradeToH2CIsAnsweredOverHTTP1(t *testing.T) {
	t.Parallel()
	v1, seen := oipUpstream(t, "1.0.0", goodModel, 0)
	rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: 1.0.0, url: %q, weight: 1}]\n", v1.URL)), Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(rt.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := inferBody(0.3)
	fmt.Fprintf(conn, "POST /v2/models/iris/infer HTTP/1.1\r\nHost: router\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"+
		"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/1.1" || !strings.Contains(string(got), "outputs") {
		t.Fatalf("%s %d %s, want HTTP/1.1 200 with the model's answer", resp.Proto, resp.StatusCode, got)
	}
	for _, h := range []string{"Upgrade", "HTTP2-Settings", "Connection"} {
		if v := seen.get(h); v != "" {
			t.Errorf("the upstream saw %s: %s", h, v)
		}
	}
}

func TestTraceparentReachesPrimaryAndShadow(t *testing.T) {
	t.Parallel()
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceparent := "00-" + traceID + "-00f067aa0ba902b7-01"
	t.Run("verbatim without a tracer", func(t *testing.T) {
		t.Parallel()
		v1, primary := oipUpstream(t, "1.0.0", goodModel, 0)
		sh, shadow := oipUpstream(t, "1.2.0", goodModel, 0)
		rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: 1.0.0, url: %q, weight: 1}]\nshadow: {version: 1.2.0, url: %q, percent: 100}\n", v1.URL, sh.URL)), Options{})
		infer(t, client(), rt.url, 0.3, map[string]string{"Traceparent": traceparent})
		eventually.True(t, 5*time.Second, "the shadow compared", func() bool { return rt.compared("1.0.0", "1.2.0") == 1 })
		if p, s := primary.get("Traceparent"), shadow.get("Traceparent"); p != traceparent || s != traceparent {
			t.Errorf("traceparent at primary %q, shadow %q, want %q", p, s, traceparent)
		}
	})
	t.Run("with a span for primary and shadow", func(t *testing.T) {
		t.Parallel()
		v1, primary := oipUpstream(t, "1.0.0", goodModel, 0)
		sh, shadow := oipUpstream(t, "1.2.0", goodModel, 0)
		spans := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
		rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: 1.0.0, url: %q, weight: 1}]\nshadow: {version: 1.2.0, url: %q, percent: 100}\n", v1.URL, sh.URL)), Options{TracerProvider: tp})
		infer(t, client(), rt.url, 0.3, map[string]string{"Traceparent": traceparent})
		eventually.True(t, 5*time.Second, "two spans ended", func() bool { return len(spans.Ended()) == 2 })
		// The primary's span is a child of the client's; the shadow's, which starts once the primary answered, a child
		// of the primary's.
		ended := spans.Ended()
		if ended[0].Name() != "primary iris" || ended[1].Name() != "shadow iris" {
			t.Fatalf("spans %q, %q, want primary then shadow", ended[0].Name(), ended[1].Name())
		}
		for i, parent := range []string{"00f067aa0ba902b7", ended[0].SpanContext().SpanID().String()} {
			if s := ended[i]; s.SpanContext().TraceID().String() != traceID || s.Parent().SpanID().String() != parent {
				t.Errorf("span %q in trace %s under %s, want %s under %s", s.Name(), s.SpanContext().TraceID(), s.Parent().SpanID(), traceID, parent)
			}
		}
		for name, got := range map[string]string{"primary": primary.get("Traceparent"), "shadow": shadow.get("Traceparent")} {
			if !strings.HasPrefix(got, "00-"+traceID+"-") || got == traceparent {
				t.Errorf("%s saw traceparent %q, want the trace with the router's span", name, got)
			}
		}
	})
}

func TestAGzippedPrimaryResponseIsComparedDecompressed(t *testing.T) {
	t.Parallel()
	const answer = `{"outputs":[{"name":"p","shape":[1,2],"datatype":"FP32","data":[0.2,0.8]}]}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			fmt.Fprint(w, answer)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		fmt.Fprint(zw, answer)
		zw.Close()
	}))
	t.Cleanup(up.Close)
	rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: 1.0.0, url: %q, weight: 1}]\nshadow: {version: 1.2.0, url: %q, percent: 100}\n", up.URL, up.URL)), Options{})
	resp, err := client().Do(mustRequest(t, rt.url, inferBody(0.3), map[string]string{"Accept-Encoding": "gzip"}))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("the client asked for gzip and got %q", resp.Header.Get("Content-Encoding"))
	}
	eventually.True(t, 5*time.Second, "the shadow compared", func() bool { return rt.compared("1.0.0", "1.2.0") == 1 })
	if n := rt.comparisonsOf("1.0.0", "1.2.0", ResultExact); n != 1 {
		t.Errorf("exact comparisons %v, want 1", n)
	}
}

func TestAShadowSheddingLoadIsADropNotADisagreement(t *testing.T) {
	t.Parallel()
	v1, _ := oipUpstream(t, "1.0.0", goodModel, 0)
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "too many inferences in progress", http.StatusServiceUnavailable)
	}))
	t.Cleanup(busy.Close)
	rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: 1.0.0, url: %q, weight: 1}]\nshadow: {version: 1.2.0, url: %q, percent: 100}\n", v1.URL, busy.URL)), Options{})
	for range 10 {
		if status, _, _ := infer(t, client(), rt.url, 0.3, nil); status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
	}
	eventually.True(t, 5*time.Second, "10 drops as overloaded", func() bool { return rt.dropsOf("1.2.0", dropBusy) == 10 })
	if n := rt.compared("1.0.0", "1.2.0"); n != 0 {
		t.Errorf("%v comparisons with a shadow that answered 503, want 0", n)
	}
}
