package router

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
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
