package analysis_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis"
)

func TestNewClientSendsAddressCredentialsAsBasicAuth(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		if !ok || user != "marina" || password != "s3cret" || r.URL.Path != "/prom/api/v1/query" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.99"]}]}}`))
	}))
	t.Cleanup(srv.Close)
	q, err := analysis.NewClient(strings.Replace(srv.URL, "http://", "http://marina:s3cret@", 1) + "/prom/")
	if err != nil {
		t.Fatal(err)
	}
	got := analysis.Measure(context.Background(), q, v1alpha1.AnalysisMetric{Name: "m", Query: "up", SuccessCondition: "result[0] > 0.9"}, time.Now())
	if got.Phase != v1alpha1.AnalysisSuccessful {
		t.Fatalf("Measure = %s %q, want Successful", got.Phase, got.Message)
	}
}

func TestNewClientKeepsCredentialsOutOfErrors(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	_ = l.Close()
	q, err := analysis.NewClient("http://marina:s3cret@" + closed)
	if err != nil {
		t.Fatal(err)
	}
	got := analysis.Measure(context.Background(), q, v1alpha1.AnalysisMetric{Name: "m", Query: "up"}, time.Now())
	if got.Phase != v1alpha1.AnalysisError || !strings.Contains(got.Message, "connection refused") || strings.Contains(got.Message, "s3cret") {
		t.Errorf("Measure on a closed port = %s %q, want an Error without the password", got.Phase, got.Message)
	}
	for _, address := range []string{"http://marina:s3cret@[::1", "ftp://marina:s3cret@host", "marina:s3cret@host:9090", "http://marina:s3cret@"} {
		_, err := analysis.NewClient(address)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("NewClient(%q) = %v, want an error without the password", strings.ReplaceAll(address, "s3cret", "…"), err)
		}
	}
}

func TestNewClientRefusesHugeResponses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"x":"`))
		chunk := []byte(strings.Repeat("x", 1<<20))
		for range 17 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		_, _ = w.Write([]byte(`"},"value":[1,"1"]}]}}`))
	}))
	t.Cleanup(srv.Close)
	q, err := analysis.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = q.Query(context.Background(), "up", time.Now())
	if !errors.Is(err, analysis.ErrResponseTooLarge) {
		t.Fatalf("err = %v, want ErrResponseTooLarge", err)
	}
}
