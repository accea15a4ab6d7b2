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

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis"
)

func TestNewClientSendsTheCredentialsItIsGiven(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		auth analysis.Auth
		want string
	}{
		{"basic auth from a username and password", analysis.Auth{Username: "marina", Password: "s3cret"}, "Basic bWFyaW5hOnMzY3JldA=="},
		{"a bearer token", analysis.Auth{Token: "t0ken"}, "Bearer t0ken"},
		{"nothing without credentials", analysis.Auth{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != tc.want || r.URL.Path != "/prom/api/v1/query" {
					http.Error(w, "unauthorized", http.StatusUnauthorized)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.99"]}]}}`))
			}))
			t.Cleanup(srv.Close)
			q, err := analysis.NewClient(srv.URL+"/prom/", tc.auth)
			if err != nil {
				t.Fatal(err)
			}
			got := analysis.Measure(context.Background(), q, v1alpha1.AnalysisMetric{Name: "m", Query: "up", SuccessCondition: "result[0] > 0.9"}, time.Now())
			if got.Phase != v1alpha1.AnalysisSuccessful {
				t.Fatalf("Measure = %s %q, want Successful", got.Phase, got.Message)
			}
		})
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
	q, err := analysis.NewClient("http://"+closed, analysis.Auth{Username: "marina", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	got := analysis.Measure(context.Background(), q, v1alpha1.AnalysisMetric{Name: "m", Query: "up"}, time.Now())
	if got.Phase != v1alpha1.AnalysisError || !strings.Contains(got.Message, "connection refused") || strings.Contains(got.Message, "s3cret") {
		t.Errorf("Measure on a closed port = %s %q, want an Error without the password", got.Phase, got.Message)
	}
	for _, address := range []string{"http://marina:s3cret@[::1", "ftp://marina:s3cret@host", "marina:s3cret@host:9090", "http://marina:s3cret@"} {
		_, err := analysis.NewClient(address, analysis.Auth{})
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
	q, err := analysis.NewClient(srv.URL, analysis.Auth{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = q.Query(context.Background(), "up", time.Now())
	if !errors.Is(err, analysis.ErrResponseTooLarge) {
		t.Fatalf("err = %v, want ErrResponseTooLarge", err)
	}
	now := time.Now()
	_, _, err = q.QueryRange(context.Background(), "up", promv1.Range{Start: now.Add(-time.Hour), End: now, Step: time.Minute})
	if !errors.Is(err, analysis.ErrResponseTooLarge) {
		t.Fatalf("range query: err = %v, want ErrResponseTooLarge", err)
	}
}

func TestNewClientRefusesWhatIsNotAnAddress(t *testing.T) {
	t.Parallel()
	for _, address := range []string{"http://http://127.0.0.1:9090", "prometheus:9090", "ftp://prometheus:9090", "http://", "http://prometheus:"} {
		if _, err := analysis.NewClient(address, analysis.Auth{}); err == nil || !strings.Contains(err.Error(), "want http://host:port") {
			t.Errorf("NewClient(%q) = %v, want an error asking for http://host:port", address, err)
		}
	}
}

func TestNewClientRefusesCredentialsInTheAddress(t *testing.T) {
	t.Parallel()
	for _, address := range []string{"http://marina:s3cret@prometheus:9090", "https://marina@prometheus", "https://:s3cret@prometheus/prom"} {
		_, err := analysis.NewClient(address, analysis.Auth{})
		if err == nil || !strings.Contains(err.Error(), "secretRef") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("NewClient(%q) = %v, want an error pointing at secretRef, without the password", strings.ReplaceAll(address, "s3cret", "…"), err)
		}
	}
}
