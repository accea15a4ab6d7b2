package router

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/marina-dev/marina/internal/eventually"
)

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes the protobuf requests posted to its path and keeps the
// spans with their resource's service.name.
type otlpReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	spans   []*tracepb.Span
	service []string
	errs    []string
}

func startOTLPReceiver(t *testing.T, path string) *otlpReceiver {
	t.Helper()
	rc := &otlpReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := rc.receive(r, path); err != nil {
			rc.mu.Lock()
			rc.errs = append(rc.errs, err.Error())
			rc.mu.Unlock()
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		_, _ = w.Write(b)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *otlpReceiver) receive(r *http.Request, path string) error {
	if r.Method != http.MethodPost || r.URL.Path != path || r.Header.Get("Content-Type") != "application/x-protobuf" {
		return fmt.Errorf("%s %s (%s), want POST %s (application/x-protobuf)", r.Method, r.URL.Path, r.Header.Get("Content-Type"), path)
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return err
		}
		body = zr
	}
	data, err := io.ReadAll(io.LimitReader(body, 8<<20))
	if err != nil {
		return err
	}
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		return err
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				rc.spans = append(rc.spans, s)
				rc.service = append(rc.service, service)
			}
		}
	}
	return nil
}

// byName returns the received spans by name, and the service.name of each.
func (rc *otlpReceiver) byName() (map[string]*tracepb.Span, map[string]string, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	spans, services := map[string]*tracepb.Span{}, map[string]string{}
	for i, s := range rc.spans {
		spans[s.Name], services[s.Name] = s, rc.service[i]
	}
	return spans, services, rc.errs
}

func TestSpansReachAnOTLPCollector(t *testing.T) {
	const traceID, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, tc := range []struct {
		name     string
		endpoint string            // the flag; the receiver's URL replaces {}
		env      map[string]string // the receiver's URL replaces {}
		path     string            // where the exporter posts
	}{
		{name: "the flag names the collector's base URL", endpoint: "{}/collector", path: "/collector/v1/traces"},
		{name: "OTEL_EXPORTER_OTLP_ENDPOINT names the base URL", env: map[string]string{EnvOTLPEndpoint: "{}"}, path: "/v1/traces"},
		{name: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT names the full URL and wins", path: "/traces",
			env: map[string]string{EnvOTLPEndpoint: "http://127.0.0.1:1", EnvOTLPTracesEndpoint: "{}/traces"}},
		{name: "the flag wins over the environment", endpoint: "{}", path: "/v1/traces",
			env: map[string]string{EnvOTLPTracesEndpoint: "http://127.0.0.1:1/v1/traces"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := startOTLPReceiver(t, tc.path)
			t.Setenv(EnvOTLPEndpoint, "")
			t.Setenv(EnvOTLPTracesEndpoint, "")
			t.Setenv("OTEL_SERVICE_NAME", "")
			for k, v := range tc.env {
				t.Setenv(k, strings.ReplaceAll(v, "{}", rc.URL))
			}
			tp, err := NewOTLPTracing(context.Background(), strings.ReplaceAll(tc.endpoint, "{}", rc.URL))
			if err != nil || tp == nil {
				t.Fatalf("NewOTLPTracing: %v, %v", tp, err)
			}
			v1, _ := oipUpstream(t, "1.0.0", goodModel, 0)
			sh, shadow := oipUpstream(t, "1.2.0", goodModel, 0)
			rt := startRouter(t, config(fmt.Sprintf("upstreams: [{version: 1.0.0, url: %q, weight: 1}]\nshadow: {version: 1.2.0, url: %q, percent: 100}\n", v1.URL, sh.URL)),
				Options{TracerProvider: tp})
			infer(t, client(), rt.url, 0.3, map[string]string{"Traceparent": "00-" + traceID + "-" + clientSpan + "-01"})
			eventually.True(t, 10*time.Second, "the shadow answered", func() bool { return rt.compared("1.0.0", "1.2.0") == 1 })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tp.Shutdown(ctx); err != nil { // sends what is batched
				t.Fatal(err)
			}

			spans, services, errs := rc.byName()
			if len(errs) > 0 {
				t.Fatalf("the receiver refused: %v", errs)
			}
			primary, shadowSpan := spans["primary iris"], spans["shadow iris"]
			if primary == nil || shadowSpan == nil || len(spans) != 2 {
				t.Fatalf("received spans %v, want primary iris and shadow iris", spans)
			}
			for _, s := range []struct {
				span   *tracepb.Span
				parent string
			}{{primary, clientSpan}, {shadowSpan, hex.EncodeToString(primary.SpanId)}} {
				if got := hex.EncodeToString(s.span.TraceId); got != traceID {
					t.Errorf("%s in trace %s, want %s", s.span.Name, got, traceID)
				}
				if got := hex.EncodeToString(s.span.ParentSpanId); got != s.parent {
					t.Errorf("%s under %s, want %s", s.span.Name, got, s.parent)
				}
				if s.span.Kind != tracepb.Span_SPAN_KIND_CLIENT || services[s.span.Name] != ServiceName {
					t.Errorf("%s: kind %s, service.name %q, want client, %s", s.span.Name, s.span.Kind, services[s.span.Name], ServiceName)
				}
			}
			// The shadow saw the shadow span's context.
			if got, want := shadow.get("Traceparent"), "00-"+traceID+"-"+hex.EncodeToString(shadowSpan.SpanId)+"-01"; got != want {
				t.Errorf("the shadow saw traceparent %q, want %q", got, want)
			}
		})
	}
}

func TestOTLPTracingIsOffUnlessAnEndpointIsSet(t *testing.T) {
	t.Setenv(EnvOTLPEndpoint, "")
	t.Setenv(EnvOTLPTracesEndpoint, "")
	tp, err := NewOTLPTracing(context.Background(), "")
	if tp != nil || err != nil {
		t.Fatalf("NewOTLPTracing without an endpoint: %v, %v, want nil, nil", tp, err)
	}
	for _, bad := range []string{"otel-collector:4318", "ftp://h:1", "http://", "http://h:1?x=1"} {
		if _, err := NewOTLPTracing(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "want the collector's base URL") {
			t.Errorf("endpoint %q: %v, want a refusal naming the fix", bad, err)
		}
	}
}
