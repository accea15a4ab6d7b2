package router

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/marina-dev/marina/internal/eventually"
)

// The router's HTTP/1.1 server and client (fasthttp) against the protocol: what net/http's did, on the wire.

// echoUpstream answers every request with its method, path, body length and body digest, and records its headers.
func echoUpstream(t *testing.T) (*httptest.Server, *lastHeader) {
	t.Helper()
	last := &lastHeader{}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last.set(r.Header.Clone())
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%s %s %d %x", r.Method, r.URL.Path, len(b), sha256.Sum256(b))
	}))
	t.Cleanup(up.Close)
	return up, last
}

// echoed is what echoUpstream answers to a request for path with body.
func echoed(method, path string, body []byte) string {
	return fmt.Sprintf("%s %s %d %x", method, path, len(body), sha256.Sum256(body))
}

// routeTo starts a router in front of one version, "1", at url.
func routeTo(t *testing.T, url string) *running {
	t.Helper()
	return startRouter(t, config(fmt.Sprintf("upstreams: [{version: \"1\", url: %q, weight: 1}]\n", url)), Options{})
}

// wantEcho reads an answer from br and checks that it is echoUpstream's to a POST of body to path.
func wantEcho(t *testing.T, br *bufio.Reader, path string, body []byte) {
	t.Helper()
	resp, got := readAnswer(t, br)
	if want := echoed("POST", path, body); resp.StatusCode != http.StatusOK || got != want {
		t.Errorf("%d %q, want 200 %q", resp.StatusCode, got, want)
	}
}

// wantAbsent checks that the upstream did not see header key.
func wantAbsent(t *testing.T, last *lastHeader, key string) {
	t.Helper()
	if v := last.get(key); v != "" {
		t.Errorf("the upstream saw %s: %q", key, v)
	}
}

// dial opens a raw connection to the router.
func dial(t *testing.T, rt *running) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(rt.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn
}

func readAnswer(t *testing.T, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestPipelinedRequestsAreAnsweredInOrder(t *testing.T) {
	t.Parallel()
	up, _ := echoUpstream(t)
	rt := routeTo(t, up.URL)
	conn := dial(t, rt)
	var all strings.Builder
	for i := range 5 {
		fmt.Fprintf(&all, "POST /p%d HTTP/1.1\r\nHost: r\r\nContent-Length: %d\r\n\r\n%s", i, len(fmt.Sprint(i)), fmt.Sprint(i))
	}
	if _, err := io.WriteString(conn, all.String()); err != nil { // in one write: all five are in flight at once
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for i := range 5 {
		wantEcho(t, br, fmt.Sprintf("/p%d", i), []byte(fmt.Sprint(i)))
	}
}

func TestAChunkedRequestBodyReachesTheUpstreamIntact(t *testing.T) {
	t.Parallel()
	up, last := echoUpstream(t)
	rt := routeTo(t, up.URL)
	conn := dial(t, rt)
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB in chunks of 1000 bytes and a short last one
	fmt.Fprint(conn, "POST /chunked HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n")
	for rest := body; len(rest) > 0; {
		n := min(1000, len(rest))
		fmt.Fprintf(conn, "%x\r\n%s\r\n", n, rest[:n])
		rest = rest[n:]
	}
	fmt.Fprint(conn, "0\r\nX-Trailer: t\r\n\r\n")
	wantEcho(t, bufio.NewReader(conn), "/chunked", body)
	wantAbsent(t, last, "Transfer-Encoding")
}

func TestExpect100ContinueIsAnsweredByTheRouterAndNotForwarded(t *testing.T) {
	t.Parallel()
	up, last := echoUpstream(t)
	rt := routeTo(t, up.URL)
	for _, size := range []int{100, 64 << 10} { // read before forwarding, and streamed
		conn := dial(t, rt)
		body := bytes.Repeat([]byte("x"), size)
		fmt.Fprintf(conn, "POST /e HTTP/1.1\r\nHost: r\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", size)
		br := bufio.NewReader(conn)
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
			t.Fatalf("%d bytes: before the body, the router said %q (%v), want 100 Continue", size, line, err)
		}
		if blank, _ := br.ReadString('\n'); blank != "\r\n" {
			t.Fatalf("100 Continue followed by %q", blank)
		}
		if _, err := conn.Write(body); err != nil {
			t.Fatal(err)
		}
		wantEcho(t, br, "/e", body)
		wantAbsent(t, last, "Expect")
	}
}

func TestOversizedHeadersAreRefusedWith431(t *testing.T) {
	t.Parallel()
	up, _ := echoUpstream(t)
	rt := routeTo(t, up.URL)
	conn := dial(t, rt)
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: r\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", maxHeaderBytes))
	resp, _ := readAnswer(t, bufio.NewReader(conn))
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("%d, want 431", resp.StatusCode)
	}
	// Headers just under the limit pass.
	conn = dial(t, rt)
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: r\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", maxHeaderBytes/2))
	if resp, _ := readAnswer(t, bufio.NewReader(conn)); resp.StatusCode != http.StatusOK {
		t.Errorf("headers of half the limit: %d, want 200", resp.StatusCode)
	}
}

func TestASlowClientDoesNotHoldOthersUpAndIsTimedOut(t *testing.T) {
	t.Parallel()
	up, _ := echoUpstream(t)
	rt := startRouter(t, config(fmt.Sprintf("timeouts: {readHeader: 500ms}\nupstreams: [{version: \"1\", url: %q, weight: 1}]\n", up.URL)), Options{})
	slow := dial(t, rt)
	start := time.Now()
	fmt.Fprint(slow, "GET / HTTP/1.1\r\nHost: r\r\n")
	trickled := make(chan error, 1)
	go func() { // a header line every 100 ms, never the blank line that ends them
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(slow, "X-Slow-%d: 1\r\n", i); err != nil {
				trickled <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	for i := range 5 { // meanwhile other clients are answered
		if status, _, _ := infer(t, client(), rt.url, 0.1*float64(i), nil); status != http.StatusOK {
			t.Errorf("another client: %d", status)
		}
	}
	_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.Copy(io.Discard, slow) // until the router closes it (it may first answer 408)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the slow client was cut off after %s, want about timeouts.readHeader (500ms)", took)
	}
	select {
	case <-trickled:
	case <-time.After(5 * time.Second):
		t.Error("the slow client could still send after the router closed its connection")
	}
}

func TestHopByHopResponseHeadersStayWithTheUpstreamsConnection(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Connection", "X-Up")
		h.Set("X-Up", "1")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set("X-End-To-End", "kept")
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(up.Close)
	rt := routeTo(t, up.URL)
	resp, err := client().Get(rt.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, k := range []string{"X-Up", "Keep-Alive", "Proxy-Authenticate"} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("the client got %s: %q", k, v)
		}
	}
	if resp.Header.Get("X-End-To-End") != "kept" || resp.Header.Get(VersionHeader) != "1" || resp.Close {
		t.Errorf("headers %v, close %v: want X-End-To-End, the version and a kept-alive connection", resp.Header, resp.Close)
	}
}

func TestLargeBodiesPassBothWaysAndTooLargeOnesAreRefused(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil || !bytes.Equal(b, big) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_, _ = w.Write(big)
	}))
	t.Cleanup(up.Close)
	rt := startRouter(t, config(fmt.Sprintf("maxBody: 2Mi\nupstreams: [{version: \"1\", url: %q, weight: 1}]\n", up.URL)), Options{})
	for _, chunked := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(big)
		if chunked {
			body = io.MultiReader(body) // no length: sent chunked
		}
		resp, err := client().Post(rt.url+"/big", "application/octet-stream", body)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, big) {
			t.Errorf("chunked %v: %d, %d bytes back (%v), want 200 and the 1 MiB", chunked, resp.StatusCode, len(got), err)
		}
	}
	over := bytes.Repeat(big, 3)
	for _, chunked := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(over)
		if chunked {
			body = io.MultiReader(body)
		}
		resp, err := client().Post(rt.url+"/big", "application/octet-stream", body)
		if err != nil {
			continue // the router may close the connection before the client has sent it all
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("3 MiB over a 2 MiB maxBody, chunked %v: %d, want 413", chunked, resp.StatusCode)
		}
	}
}

func TestAClientThatHangsUpMidResponseFreesTheUpstream(t *testing.T) {
	t.Parallel()
	released := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the router closed its connection
		close(released)
	}))
	t.Cleanup(up.Close)
	rt := routeTo(t, up.URL)
	conn := dial(t, rt)
	fmt.Fprint(conn, "GET /events HTTP/1.1\r\nHost: r\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || line != "data: first\n" {
		t.Fatalf("first event %q (%v)", line, err)
	}
	conn.Close()
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream's request outlived its client by 5 s")
	}
	eventually.True(t, 5*time.Second, "the request leaves", func() bool {
		return testutil.ToFloat64(rt.metrics.inFlight.WithLabelValues("iris")) == 0
	})
}

func TestAnUpstreamThatIsDownIsA502WithAJSONError(t *testing.T) {
	t.Parallel()
	rt := routeTo(t, deadURL(t))
	resp, err := client().Post(rt.url+"/v2/models/iris/infer", "application/json", strings.NewReader(inferBody(0.5)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get(VersionHeader) != "1" ||
		string(body) != `{"error":"iris 1 did not answer: connect"}`+"\n" {
		t.Errorf("%d %q %v, want 502 and the JSON error naming the version", resp.StatusCode, body, resp.Header)
	}
}

func TestAnHTTP10RequestIsAnsweredAndItsConnectionClosed(t *testing.T) {
	t.Parallel()
	up, _ := echoUpstream(t)
	rt := routeTo(t, up.URL)
	conn := dial(t, rt)
	fmt.Fprint(conn, "POST /old HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi")
	wantEcho(t, bufio.NewReader(conn), "/old", []byte("hi"))
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after an HTTP/1.0 answer the connection stays open: %v", err)
	}
}

func TestResponseTrailersReachTheClient(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		fmt.Fprint(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Checksum", "abc")
	}))
	t.Cleanup(up.Close)
	rt := routeTo(t, up.URL)
	resp, err := client().Get(rt.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "data: one\n\n" || resp.Trailer.Get("X-Checksum") != "abc" {
		t.Errorf("body %q, trailer %v; want the upstream's trailer X-Checksum: abc", body, resp.Trailer)
	}
}

func TestRequestTrailersReachTheUpstream(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got <- r.Trailer.Get("X-Checksum")
	}))
	t.Cleanup(up.Close)
	conn := dial(t, routeTo(t, up.URL))
	fmt.Fprint(conn, "POST /t HTTP/1.1\r\nHost: r\r\nTrailer: X-Checksum\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: abc\r\n\r\n")
	if resp, _ := readAnswer(t, bufio.NewReader(conn)); resp.StatusCode != http.StatusOK {
		t.Fatalf("%d", resp.StatusCode)
	}
	if v := <-got; v != "abc" {
		t.Errorf("the upstream's trailer X-Checksum: %q, want abc", v)
	}
}
