package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAKeptAliveConnectionTheUpstreamClosedIsRetriedOnANewOne(t *testing.T) {
	t.Parallel()
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"outputs":[]}`) }))
	up.Config.IdleTimeout = 20 * time.Millisecond // closes the router's idle connection between requests
	up.Start()
	t.Cleanup(up.Close)
	rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: 1.0.0, url: %q, weight: 1}]\n", up.URL)), Options{})
	for i := range 5 {
		if status, _, _ := infer(t, client(), rt.url, 0.3, nil); status != http.StatusOK {
			t.Fatalf("request %d after the upstream closed the idle connection: %d", i, status)
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
	eventually(t, 5*time.Second, "the abandoned request leaves", func() bool {
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
		{name: "hop-by-hop headers, those Connection names and the pin stay with the router",
			request: "POST /p HTTP/1.1\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: secret\r\nTe: trailers\r\n" +
				"X-Marina-Version: 1\r\nContent-Length: 0\r\nAccept: a\r\nAccept: b\r\n\r\n",
			want:   seen{method: "POST", uri: "/base/p", host: host, header: http.Header{"Accept": {"a", "b"}, "Content-Length": {"0"}, "X-Forwarded-For": {"127.0.0.1"}}},
			absent: []string{"Connection", "X-Hop", "Keep-Alive", "Proxy-Authorization", "Te", "X-Marina-Version", "User-Agent"}},
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
