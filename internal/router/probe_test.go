package router

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/logtest"
)

// TestProbesSendTheSamplesToEveryVersionAndCompareTheShadow runs probes with no live traffic: every version gets
// every sample request, a version that fails them is counted and logged, and the shadow is compared with each
// answer as a mirrored live request would be — while the live request metrics stay untouched.
func TestProbesSendTheSamplesToEveryVersionAndCompareTheShadow(t *testing.T) {
	t.Parallel()
	stable, _ := oipUpstream(t, "1.0.0", goodModel, 0)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"error":"model not loaded"}`)
	}))
	t.Cleanup(broken.Close)
	shadow, _ := oipUpstream(t, "1.2.0", worseModel, 0)
	samples := t.TempDir()
	// worseModel swaps the classes at 0.45, not at 0.1: one sample agrees with the stable version, one does not.
	for name, x := range map[string]float64{"agree.json": 0.1, "disagree.json": 0.45} {
		if err := os.WriteFile(filepath.Join(samples, name), []byte(inferBody(x)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var log logtest.Buffer
	rt := startRouter(t, config(fmt.Sprintf(`upstreams:
  - {version: 1.0.0, url: %q, weight: 100}
  - {version: 1.1.0, url: %q, weight: 0}
shadow: {version: 1.2.0, url: %q, percent: 0}
probes: {dir: %q, interval: 100ms}
`, stable.URL, broken.URL, shadow.URL, samples)), Options{Log: log.Logger()})

	m := rt.metrics
	eventually.True(t, 10*time.Second, "two rounds of probes, compared with the shadow", func() bool {
		return testutil.ToFloat64(m.probes.WithLabelValues("iris", "1.0.0", probeOK)) >= 4 &&
			testutil.ToFloat64(m.probes.WithLabelValues("iris", "1.1.0", probeFailed)) >= 4 &&
			testutil.ToFloat64(m.argmax.WithLabelValues("iris", "1.0.0", "1.2.0", "disagree")) >= 2 &&
			testutil.ToFloat64(m.comparisons.WithLabelValues("iris", "1.0.0", "1.2.0", "exact")) >= 2 &&
			testutil.ToFloat64(m.comparisons.WithLabelValues("iris", "1.1.0", "1.2.0", "error_mismatch")) >= 2
	})
	if n := testutil.ToFloat64(m.probes.WithLabelValues("iris", "1.1.0", probeOK)) + testutil.ToFloat64(m.probes.WithLabelValues("iris", "1.0.0", probeFailed)); n != 0 {
		t.Errorf("%v probes counted under the wrong result", n)
	}
	if n := testutil.ToFloat64(m.requests.WithLabelValues("iris", "1.0.0", "200")) + testutil.ToFloat64(m.requests.WithLabelValues("iris", "1.1.0", "500")); n != 0 {
		t.Errorf("%v probes counted among the live requests (marina_router_requests_total)", n)
	}
	if got := log.String(); !strings.Contains(got, `msg="probe failed"`) || !strings.Contains(got, "version=1.1.0") ||
		!strings.Contains(got, "sample=agree.json") || !strings.Contains(got, "model not loaded") {
		t.Errorf("the failed probe is not logged with its version, sample and answer:\n%s", got)
	}
}

func TestProbesWithoutSamplesAreAConfigurationError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := Parse("router.yaml", []byte(config(fmt.Sprintf("upstreams: [{version: a, url: \"http://127.0.0.1:1\", weight: 1}]\nprobes: {dir: %q}\n", dir))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, Options{}); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "has no sample requests (*.json)") {
		t.Fatalf("New = %v, want an ErrInvalidConfig saying the directory has no samples", err)
	}
}

func TestLoadReadsTheProbeDirectoryRelativeToTheConfigurationFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "router.yaml")
	if err := os.WriteFile(file, []byte(edit(validConfig, "probes: {dir: samples}\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "samples"); c.Probes.Dir != want || c.Probes.Interval.Duration != DefaultProbeInterval {
		t.Fatalf("probes = %+v, want dir %s and the default interval", c.Probes, want)
	}
}
