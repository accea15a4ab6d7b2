package controller_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/controller"
)

func TestPrometheusAnalyzerAsksWithTheSecretOfTheTemplate(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, password, ok := r.BasicAuth(); !ok || user != "marina" || password != "s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.001"]}]}}`))
	}))
	t.Cleanup(srv.Close)
	secret := func(data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "prometheus"}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	a := &controller.PrometheusAnalyzer{}
	for _, tc := range []struct {
		name      string
		address   string
		secret    *corev1.Secret
		want      v1alpha1.AnalysisPhase
		wantInMsg string
	}{
		{"basic auth from the Secret's username and password", srv.URL, secret(map[string]string{"username": "marina", "password": "s3cret"}), v1alpha1.AnalysisSuccessful, ""},
		{"no Secret, no credentials: Prometheus refuses, a measurement error retried", srv.URL, nil, v1alpha1.AnalysisRunning, "401"},
		{"a Secret without the keys names them", srv.URL, secret(map[string]string{"user": "marina"}), v1alpha1.AnalysisError, "has none of the keys username and password, or token"},
		{"credentials in the address are refused, pointing at secretRef", strings.Replace(srv.URL, "http://", "http://marina:s3cret@", 1), nil, v1alpha1.AnalysisError, "prometheus.secretRef"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmpl := v1alpha1.AnalysisTemplate{Name: "error-rate", Prometheus: &v1alpha1.PrometheusProvider{Address: tc.address},
				Metrics: []v1alpha1.AnalysisMetric{{Name: "errors", Query: "up", SuccessCondition: "result[0] < 0.01"}}}
			run := &v1alpha1.AnalysisRunStatus{Name: "1.1.0-step-1", Template: "error-rate", Phase: v1alpha1.AnalysisPending}
			a.Measure(context.Background(), tmpl, tc.secret, run, time.Now())
			if run.Phase != tc.want || !strings.Contains(run.Message, tc.wantInMsg) {
				t.Fatalf("run %s %q, want %s with %q", run.Phase, run.Message, tc.want, tc.wantInMsg)
			}
			if strings.Contains(run.Message, "s3cret") {
				t.Fatalf("the run's message %q holds the password", run.Message)
			}
		})
	}
}
