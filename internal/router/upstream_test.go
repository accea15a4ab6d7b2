package router

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"

	"github.com/marina-dev/marina/internal/eventually"
)

// An upstream may close a kept-alive connection just as the router reuses it. As Go's client, the router then sends
// an idempotent request again on a new connection; a POST it does not (TestAPostTheUpstreamDiedOnAfterReadingItIsNotReplayed).
func TestAnIdempotentRequestOnAConnectionTheUpstreamClosedIsRetriedOnANewOne(t *testing.T) {
	t.Parallel()
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"name":"iris"}`) }))
	up.Config.IdleTimeout = 20 * time.Millisecond // closes the router's idle connection between requests
	up.Start()
	t.Cleanup(up.Close)
	rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: 1.0.0, url: %q, weight: 1}]\n", up.URL)), Options{})
	for i := range 5 {
		resp, err := client().Get(rt.url + "/v2/models/iris")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d after the upstream closed the idle connection: %d", i, resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, kind := range []string{errConnect, errTimeout, errOther} {
		if n := testutil.ToFloat64(rt.metrics.upstreamError.WithLabelValues("iris", "1.0.0", kind)); n != 0 {
			t.Errorf("%v upstream %s errors, want 0", n, kind)
		}
	}
}

func TestAClientThatHangsUpFreesTheUpstreamConnectionAndIsNotAnUpstreamError(t *testing.T) {
	t.Parallel()
	up, _ := oipUpstream(t, "1.0.0", goodModel, 300*time.Millisecond)
	rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: 1.0.0, url: %q, weight: 1}]\n", up.URL)), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req := mustRequest(t, rt.url, inferBody(0.3), nil)
	if resp, err := client().Do(req.WithContext(ctx)); err == nil {
		resp.Body.Close()
		t.Fatal("the request outlived its client's deadline")
	}
	eventually.True(t, 5*time.Second, "the abandoned request leaves", func() bool {
		return testutil.ToFloat64(rt.metrics.inFlight.WithLabelValues("iris")) == 0
	})
	if status, _, _ := infer(t, client(), rt.url, 0.3, nil); status != http.StatusOK {
		t.Errorf("the next request: %d", status)
	}
	if n := testutil.ToFloat64(rt.metrics.upstreamError.WithLabelValues("iris", "1.0.0", errOther)) + testutil.ToFloat64(rt.metrics.upstreamError.WithLabelValues("iris", "1.0.0", errTimeout)); n != 0 {
		t.Errorf("%v upstream errors for a client that hung up, want 0", n)
	}
	if n := testutil.ToFloat64(rt.metrics.requests.WithLabelValues("iris", "1.0.0", "499")); n != 1 {
		t.Errorf("requests with code 499: %v, want 1", n)
	}
}

func TestStreamedResponsesReachTheClientAsTheyAreWritten(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: second\n\n")
	}))
	t.Cleanup(up.Close)
	t.Cleanup(func() { close(release) })
	rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: 1.0.0, url: %q, weight: 1}]\n", up.URL)), Options{})
	resp, err := client().Do(mustRequest(t, rt.url, inferBody(0.3), nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, "first") {
		t.Errorf("first event: %q %v", line, err)
	}
}

// TestTheUpstreamSeesTheClientsRequestWithoutConnectionHeaders sends raw requests through the router and checks what
// a real server receives.
func TestTheUpstreamSeesTheClientsRequestWithoutConnectionHeaders(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, uri, host, body string
		contentLength           int64
		header                  http.Header
	}
	got := make(chan seen, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Host, string(b), r.ContentLength, r.Header}
	}))
	t.Cleanup(up.Close)
	rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: \"1\", url: %q, weight: 1}]\n", up.URL+"/base/")), Options{})
	host := strings.TrimPrefix(up.URL, "http://")
	for _, tc := range []struct {
		name    string
		request string // without the Host line and the blank line that ends the header
		want    seen
		absent  []string
	}{
		{name: "the path joins the upstream's prefix, the query stays and the body gets its length",
			request: "POST /v2/models/iris/infer?debug=1&x=%20 HTTP/1.1\r\nContent-Length: 4\r\nUser-Agent: curl/8\r\nX-Request-Id: a\r\n\r\nbody",
			want: seen{method: "POST", uri: "/base/v2/models/iris/infer?debug=1&x=%20", host: host, body: "body", contentLength: 4,
				header: http.Header{"User-Agent": {"curl/8"}, "X-Request-Id": {"a"}, "X-Forwarded-For": {"127.0.0.1"}}}},
		{name: "an escaped slash in the path stays escaped",
			request: "GET /v2/models/a%2Fb/ready HTTP/1.1\r\n\r\n",
			want:    seen{method: "GET", uri: "/base/v2/models/a%2Fb/ready", host: host, header: http.Header{"X-Forwarded-For": {"127.0.0.1"}}},
			absent:  []string{"User-Agent", "Content-Length"}},
		{name: "hop-by-hop headers, those Connection names and the pin stay with the router; trailers are accepted as the client does",
			request: "POST /p HTTP/1.1\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: secret\r\nTe: deflate, trailers\r\n" +
				"X-Marina-Version: 1\r\nContent-Length: 0\r\nAccept: a\r\nAccept: b\r\n\r\n",
			want:   seen{method: "POST", uri: "/base/p", host: host, header: http.Header{"Accept": {"a", "b"}, "Content-Length": {"0"}, "X-Forwarded-For": {"127.0.0.1"}, "Te": {"trailers"}}},
			absent: []string{"Connection", "X-Hop", "Keep-Alive", "Proxy-Authorization", "X-Marina-Version", "User-Agent"}},
		{name: "X-Forwarded-For gets the client's address appended",
			request: "GET /p HTTP/1.1\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2, 10.0.0.3\r\n\r\n",
			want:    seen{method: "GET", uri: "/base/p", host: host, header: http.Header{"X-Forwarded-For": {"10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(rt.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			first, rest, _ := strings.Cut(tc.request, "\r\n")
			if _, err := io.WriteString(conn, first+"\r\nHost: router\r\n"+rest); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			s := <-got
			if s.method != tc.want.method || s.uri != tc.want.uri || s.host != tc.want.host || s.body != tc.want.body || s.contentLength != tc.want.contentLength {
				t.Errorf("upstream saw %s %s host %s length %d body %q, want %s %s host %s length %d body %q",
					s.method, s.uri, s.host, s.contentLength, s.body, tc.want.method, tc.want.uri, tc.want.host, tc.want.contentLength, tc.want.body)
			}
			for k, v := range tc.want.header {
				if !slices.Equal(s.header[k], v) {
					t.Errorf("%s: %q, want %q", k, s.header[k], v)
				}
			}
			for _, k := range tc.absent {
				if v, ok := s.header[k]; ok {
					t.Errorf("the upstream saw %s: %q", k, v)
				}
			}
		})
	}
}

// dyingUpstream is a real TCP server that answers requests on a connection with a small OIP v2 response until it
// reads one whose body contains poison: it reads that request to the end and closes the connection without a byte of
// answer, as a model server OOM-killed by its input would. It counts the poison requests it received.
type dyingUpstream struct {
	url    string
	poison atomic.Int64
}

func startDyingUpstream(t *testing.T) *dyingUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	u := &dyingUpstream{url: "http://" + ln.Addr().String()}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go u.serve(conn)
		}
	}()
	return u
}

func (u *dyingUpstream) serve(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		if strings.Contains(string(body), "poison") {
			u.poison.Add(1)
			return
		}
		const answer = `{"outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[1]}]}`
		if _, err := fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(answer), answer); err != nil {
			return
		}
	}
}

func TestAPostTheUpstreamDiedOnAfterReadingItIsNotReplayed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		warmUp bool // a request answered first, so the poison one goes out on a kept-alive connection
	}{
		{name: "on a kept-alive connection", warmUp: true},
		{name: "on a new connection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := startDyingUpstream(t)
			rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: 1.0.0, url: %q, weight: 1}]\n", up.url)), Options{})
			c := client()
			if tc.warmUp {
				if status, _, _ := infer(t, c, rt.url, 0.3, nil); status != http.StatusOK {
					t.Fatalf("warm-up request: %d", status)
				}
			}
			resp, err := c.Post(rt.url+"/v2/models/iris/infer", "application/json", strings.NewReader(`{"inputs":[{"name":"poison"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway {
				t.Errorf("status %d, want 502", resp.StatusCode)
			}
			if n := up.poison.Load(); n != 1 {
				t.Errorf("the upstream received the POST %d times, want once", n)
			}
			if n := testutil.ToFloat64(rt.metrics.upstreamError.WithLabelValues("iris", "1.0.0", errOther)); n != 1 {
				t.Errorf("upstream errors: %v, want 1", n)
			}
		})
	}
}

func TestARequestBodyReachesTheUpstreamAsItArrives(t *testing.T) {
	t.Parallel()
	// A body of unknown length (chunked, as here) or larger than smallBody streams; a small one of a known length is
	// read before it is sent.
	const first = `{"inputs":[{"name":"x","shape":[1,1],`
	gotFirst := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadFull(r.Body, make([]byte, len(first))); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		close(gotFirst)
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, `{"outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[1]}]}`)
	}))
	t.Cleanup(up.Close)
	rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: 1.0.0, url: %q, weight: 1}]\n", up.URL)), Options{})
	pr, pw := io.Pipe()
	defer pw.Close()
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := client().Post(rt.url+"/v2/models/iris/infer", "application/json", pr)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	if _, err := io.WriteString(pw, first); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gotFirst:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream saw nothing of the body while the client was still sending it: the router held it back")
	}
	_, _ = io.WriteString(pw, `"datatype":"FP32","data":[0.3]}]}`)
	pw.Close()
	if res := <-done; res.err != nil || res.status != http.StatusOK {
		t.Errorf("status %d, error %v; want 200", res.status, res.err)
	}
}

func TestConnectionsToAnUpstreamAreCapped(t *testing.T) {
	t.Parallel()
	var opened, active, most atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := active.Add(1)
		defer active.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(50 * time.Millisecond)
		fmt.Fprint(w, `{"outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[1]}]}`)
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	rt := startRouter(t, config(fmt.Sprintf("maxConnsPerHost: 2\nupstreams: [{version: 1.0.0, url: %q, weight: 1}]\n", up.URL)), Options{})
	c := client()
	parallel(12, 6, func(int) {
		if status, _, _ := infer(t, c, rt.url, 0.3, nil); status != http.StatusOK {
			t.Errorf("status %d", status)
		}
	})
	if n, m := opened.Load(), most.Load(); n > 2 || m > 2 {
		t.Errorf("the router opened %d connections and sent %d requests at once, want at most 2 of each", n, m)
	}
}

func TestAnInferenceAnswerThatIsNotTheProtocolsJSONReachesTheClientAndIsCountedAsAProtocolError(t *testing.T) {
	t.Parallel()
	gzipped := func(s string) string {
		var b strings.Builder
		zw := gzip.NewWriter(&b)
		_, _ = io.WriteString(zw, s)
		_ = zw.Close()
		return b.String()
	}
	const oipAnswer = `{"outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[1]}]}`
	for _, tc := range []struct {
		name, protocol, method, path, body, encoding string
		status                                       int
		counted                                      bool
	}{
		{name: "an OIP v2 answer", protocol: ProtocolOIPv2, method: "POST", path: "/v2/models/iris/infer", body: oipAnswer, status: 200},
		{name: "an HTML page", protocol: ProtocolOIPv2, method: "POST", path: "/v2/models/iris/infer", body: "<html>oops</html>", status: 200, counted: true},
		{name: "JSON without outputs", protocol: ProtocolOIPv2, method: "POST", path: "/v2/models/iris/versions/1/infer", body: `{"predictions":[1]}`, status: 200, counted: true},
		{name: "an output without data", protocol: ProtocolOIPv2, method: "POST", path: "/v2/models/iris/infer", body: `{"outputs":[{"name":"y","shape":[1],"datatype":"FP32"}]}`, status: 200, counted: true},
		{name: "a gzipped OIP v2 answer", protocol: ProtocolOIPv2, method: "POST", path: "/v2/models/iris/infer", body: gzipped(oipAnswer), encoding: "gzip", status: 200},
		{name: "a gzipped HTML page", protocol: ProtocolOIPv2, method: "POST", path: "/v2/models/iris/infer", body: gzipped("<html>"), encoding: "gzip", status: 200, counted: true},
		{name: "an error answer is the client's or a 5xx, not garbage", protocol: ProtocolOIPv2, method: "POST", path: "/v2/models/iris/infer", body: "bad input", status: 400},
		{name: "metadata is not an inference", protocol: ProtocolOIPv2, method: "GET", path: "/v2/models/iris", body: `{"name":"iris"}`, status: 200},
		{name: "a KServe v1 answer", protocol: ProtocolKServeV1, method: "POST", path: "/v1/models/iris:predict", body: `{"predictions":[[0.1,0.9]]}`, status: 200},
		{name: "a KServe v1 answer without predictions", protocol: ProtocolKServeV1, method: "POST", path: "/v1/models/iris:predict", body: `{"outputs":[]}`, status: 200, counted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.encoding != "" {
					w.Header().Set("Content-Encoding", tc.encoding)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			t.Cleanup(up.Close)
			rt := startRouter(t, fmt.Sprintf("listen: 127.0.0.1:0\nmodel: iris\nprotocol: %s\nupstreams: [{version: \"1\", url: %q, weight: 1}]\n", tc.protocol, up.URL), Options{})
			req, err := http.NewRequest(tc.method, rt.url+tc.path, strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || string(got) != tc.body {
				t.Errorf("the client got %d %q, want the upstream's %d %q unchanged", resp.StatusCode, got, tc.status, tc.body)
			}
			want := 0.0
			if tc.counted {
				want = 1
			}
			if n := testutil.ToFloat64(rt.metrics.upstreamError.WithLabelValues("iris", "1", "protocol")); n != want {
				t.Errorf("upstream protocol errors: %v, want %v", n, want)
			}
		})
	}
}

// FuzzRewrite sends any request the router's server would accept through the router's rewrite and writes it as its
// client does: the upstream (here net/http's parser) must be able to read it, under the upstream's path prefix, for
// its host, with the same method, query and body, and without the pin or the client's connection headers.
func FuzzRewrite(f *testing.F) {
	for _, seed := range []string{
		"POST /v2/models/iris/infer?debug=1&x=%20 HTTP/1.1\r\nHost: r\r\nContent-Length: 4\r\nX-Marina-Version: 1\r\n\r\nbody",
		"GET /v2/models/a%2Fb/ready HTTP/1.1\r\nHost: r\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nTe: trailers\r\n\r\n",
		"PUT / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: 10.0.0.1\r\nUpgrade: h2c\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: r\r\nExpect: 100-continue\r\n\r\n",
	} {
		f.Add(seed)
	}
	u := &upstream{version: "1", answer: []byte("1"), url: &url.URL{Scheme: "http", Host: "10.1.2.3:8080", Path: "/base"}, prefix: "/base"}
	f.Fuzz(func(t *testing.T, raw string) {
		var in fasthttp.Request
		if err := in.Read(bufio.NewReader(strings.NewReader(raw))); err != nil || in.Header.IsConnect() {
			return // the router's server refuses it; CONNECT is not proxied
		}
		body := string(in.Body())
		method := string(in.Header.Method())
		u.rewrite(&in, []byte("192.0.2.1"))
		var wire bytes.Buffer
		w := bufio.NewWriter(&wire)
		if err := in.Write(w); err != nil {
			t.Fatalf("writing the rewritten request of %q: %v", raw, err)
		}
		_ = w.Flush()
		got, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(wire.Bytes())))
		if err != nil {
			t.Fatalf("the upstream cannot read %q (from %q): %v", wire.String(), raw, err)
		}
		gotBody, err := io.ReadAll(got.Body)
		if err != nil || string(gotBody) != body {
			t.Errorf("body %q (%v), want %q", gotBody, err, body)
		}
		if got.Method != method || got.Host != u.url.Host || !strings.HasPrefix(got.URL.Path, "/base") {
			t.Errorf("%s %s for %s, want %s /base… for %s", got.Method, got.URL.Path, got.Host, method, u.url.Host)
		}
		for _, k := range []string{VersionHeader, "Connection", "Upgrade", "Expect", "Keep-Alive"} {
			if v, ok := got.Header[k]; ok {
				t.Errorf("the upstream got %s: %q", k, v)
			}
		}
		if xff := got.Header.Get("X-Forwarded-For"); !strings.HasSuffix(xff, "192.0.2.1") {
			t.Errorf("X-Forwarded-For %q, want the client's address last", xff)
		}
	})
}
