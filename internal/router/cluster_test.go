package router

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/logtest"
	"github.com/marina-dev/marina/internal/testenv"
)

// withStatus is a ModelDeployment iris/models whose status names versions and weights.
func withStatus(stable, canary string, w *v1alpha1.TrafficWeights) *v1alpha1.ModelDeployment {
	return &v1alpha1.ModelDeployment{ObjectMeta: metav1.ObjectMeta{Name: "iris", Namespace: "models"},
		Spec:   v1alpha1.ModelDeploymentSpec{Model: "iris"},
		Status: v1alpha1.ModelDeploymentStatus{StableVersion: stable, CanaryVersion: canary, Weights: w}}
}

func TestModelDeploymentSourceDerivesTheSplitFromTheStatus(t *testing.T) {
	t.Parallel()
	src := &ModelDeploymentSource{Namespace: "models", Name: "iris", Base: Config{Listen: "127.0.0.1:0"},
		URLs: map[string]string{"1.0.0": "http://127.0.0.1:9001"}}
	for _, tc := range []struct {
		name      string
		md        *v1alpha1.ModelDeployment
		upstreams []Upstream
		shadow    *Shadow
		err       error
		msg       string
	}{
		{name: "a stable version alone takes everything",
			md:        withStatus("1.0.0", "", &v1alpha1.TrafficWeights{Stable: 100}),
			upstreams: []Upstream{{Version: "1.0.0", URL: "http://127.0.0.1:9001", Weight: 100}}},
		{name: "a canary is reached through Service NAME-canary unless its URL is given",
			md: withStatus("1.0.0", "1.1.0", &v1alpha1.TrafficWeights{Stable: 80, Canary: 20}),
			upstreams: []Upstream{{Version: "1.0.0", URL: "http://127.0.0.1:9001", Weight: 80},
				{Version: "1.1.0", URL: "http://iris-canary.models.svc:80", Weight: 20}}},
		{name: "a shadow rollout mirrors its percent to the canary",
			md:        withStatus("2.0.0", "2.1.0", &v1alpha1.TrafficWeights{Stable: 100, Shadow: 30}),
			upstreams: []Upstream{{Version: "2.0.0", URL: "http://iris-stable.models.svc:80", Weight: 100}},
			shadow:    &Shadow{Version: "2.1.0", URL: "http://iris-canary.models.svc:80", Percent: 30}},
		{name: "a canary without traffic can still be pinned",
			md: withStatus("1.0.0", "1.1.0", &v1alpha1.TrafficWeights{Stable: 100}),
			upstreams: []Upstream{{Version: "1.0.0", URL: "http://127.0.0.1:9001", Weight: 100},
				{Version: "1.1.0", URL: "http://iris-canary.models.svc:80", Weight: 0}}},
		{name: "no weights yet is nothing to route by",
			md: withStatus("1.0.0", "", nil), err: ErrNoRouting, msg: "ModelDeployment models/iris: no status.weights"},
		{name: "no stable version yet is nothing to route by",
			md: withStatus("", "1.0.0", &v1alpha1.TrafficWeights{Canary: 100}), err: ErrNoRouting, msg: "no status.stableVersion"},
		{name: "weights for a canary that is not there are refused",
			md: withStatus("1.0.0", "", &v1alpha1.TrafficWeights{Stable: 50, Canary: 50}), err: ErrInvalidConfig,
			msg: "status.weights sends 50% (mirrors 0%) to the canary, but status.canaryVersion is empty"},
		{name: "serving and mirroring the same canary is refused",
			md: withStatus("1.0.0", "1.1.0", &v1alpha1.TrafficWeights{Stable: 50, Canary: 50, Shadow: 10}), err: ErrInvalidConfig,
			msg: "both serves (50%) and mirrors (10%) to canary 1.1.0"},
		{name: "all weights 0 is refused",
			md: withStatus("1.0.0", "1.1.0", &v1alpha1.TrafficWeights{}), err: ErrInvalidConfig, msg: "every weight is 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := src.Config(tc.md)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("error %v, want %v saying %q", err, tc.err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Model != "iris" || len(cfg.Upstreams) != len(tc.upstreams) {
				t.Fatalf("model %q, upstreams %+v, want iris, %+v", cfg.Model, cfg.Upstreams, tc.upstreams)
			}
			for i, u := range tc.upstreams {
				if cfg.Upstreams[i] != u {
					t.Errorf("upstreams[%d] = %+v, want %+v", i, cfg.Upstreams[i], u)
				}
			}
			switch s := cfg.Shadow; {
			case (s == nil) != (tc.shadow == nil):
				t.Errorf("shadow %+v, want %+v", s, tc.shadow)
			case s != nil && (s.Version != tc.shadow.Version || s.URL != tc.shadow.URL || s.Percent != tc.shadow.Percent):
				t.Errorf("shadow %+v, want %+v", s, tc.shadow)
			}
		})
	}
}

// TestClusterModeFollowsTheModelDeploymentStatus writes a ModelDeployment's status on a real API server and measures
// the router's split with real upstreams as the status moves from a canary to a shadow rollout, then loses its
// weights and is deleted.
func TestClusterModeFollowsTheModelDeploymentStatus(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true})
	c.CreateNamespaces(t, "models")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v1, _ := oipUpstream(t, "1.0.0", goodModel, 0)
	v11, _ := oipUpstream(t, "1.1.0", goodModel, 0)
	v12, _ := oipUpstream(t, "1.2.0", worseModel, 0)

	md := &v1alpha1.ModelDeployment{ObjectMeta: metav1.ObjectMeta{Name: "iris", Namespace: "models"},
		Spec: v1alpha1.ModelDeploymentSpec{Model: "iris", Version: "1.1.0",
			Artifact: v1alpha1.Artifact{URI: "models/iris/artifacts/v1.1.0.onnx", Digest: "sha256:" + strings.Repeat("ab", 32), Size: 1024, Format: "onnx"},
			Runtime:  v1alpha1.Runtime{Image: "ghcr.io/marina-dev/marina-serve:0.1.0"}}}
	if err := c.Client.Create(ctx, md); err != nil {
		t.Fatal(err)
	}
	setStatus := func(stable, canary string, w *v1alpha1.TrafficWeights) {
		t.Helper()
		md.Status = v1alpha1.ModelDeploymentStatus{StableVersion: stable, CanaryVersion: canary, Weights: w}
		if err := c.Client.Status().Update(ctx, md); err != nil {
			t.Fatal(err)
		}
	}

	var log logtest.Buffer
	src := &ModelDeploymentSource{Namespace: "models", Name: "iris", Base: Config{Listen: "127.0.0.1:0", Metrics: "127.0.0.1:0"},
		URLs: map[string]string{"1.0.0": v1.URL, "1.1.0": v11.URL, "1.2.0": v12.URL}}
	w, err := WatchModelDeployment(ctx, c.Config, src, log.Logger())
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan *Config, 1)
	go func() {
		cfg, err := w.First(ctx)
		if err != nil {
			t.Error(err)
		}
		first <- cfg
	}()
	eventually.True(t, 10*time.Second, "the router says what it waits for", func() bool {
		return strings.Contains(log.String(), "waiting for a ModelDeployment to route by") && strings.Contains(log.String(), "no status.weights")
	})
	setStatus("1.0.0", "1.1.0", &v1alpha1.TrafficWeights{Stable: 90, Canary: 10})
	r, err := New(<-first, Options{Rand: seeded(7), Log: log.Logger(), Source: "ModelDeployment models/iris"})
	if err != nil {
		t.Fatal(err)
	}
	rt := serveRouter(t, r)
	go w.Follow(ctx, r)
	cl := client()

	// split counts the versions that answer n unpinned requests.
	split := func(n int) map[string]int {
		var a, b, other atomic.Int64
		parallel(n, 8, func(int) {
			status, version, _ := infer(t, cl, rt.url, 0.5, nil)
			switch {
			case status != http.StatusOK:
				t.Errorf("status %d", status)
			case version == "1.0.0":
				a.Add(1)
			case version == "1.1.0":
				b.Add(1)
			default:
				other.Add(1)
			}
		})
		return map[string]int{"1.0.0": int(a.Load()), "1.1.0": int(b.Load()), "other": int(other.Load())}
	}
	within4σ := func(what string, got, n int, p float64) {
		t.Helper()
		sigma := math.Sqrt(float64(n) * p * (1 - p))
		if d := math.Abs(float64(got) - float64(n)*p); d > 4*sigma {
			t.Errorf("%s: %d of %d, want %v ± %.0f (4σ)", what, got, n, float64(n)*p, 4*sigma)
		}
	}

	const n = 1_000
	got := split(n)
	within4σ("canary at 10%", got["1.1.0"], n, 0.1)

	setStatus("1.0.0", "1.1.0", &v1alpha1.TrafficWeights{Stable: 30, Canary: 70})
	eventually.True(t, 10*time.Second, "the router takes the new weights", func() bool { return r.Config().Upstreams[1].Weight == 70 })
	got = split(n)
	within4σ("canary at 70%", got["1.1.0"], n, 0.7)

	setStatus("1.0.0", "1.2.0", &v1alpha1.TrafficWeights{Stable: 100, Shadow: 40})
	eventually.True(t, 10*time.Second, "the router mirrors to the shadow", func() bool { s := r.Config().Shadow; return s != nil && s.Version == "1.2.0" })
	mirrored := func() int {
		return int(testutil.ToFloat64(r.metrics.mirrored.WithLabelValues("iris", "1.0.0", "1.2.0")))
	}
	before := mirrored()
	if got = split(n); got["1.0.0"] != n {
		t.Errorf("during the shadow rollout %v answered, want 1.0.0 alone", got)
	}
	within4σ("mirrored at 40%", mirrored()-before, n, 0.4)

	for _, change := range []struct {
		what string
		do   func()
	}{
		{"status without weights", func() { setStatus("1.0.0", "", nil) }},
		{"ModelDeployment deleted", func() {
			if err := c.Client.Delete(ctx, md); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		failures := testutil.ToFloat64(r.metrics.reloads.WithLabelValues("failure"))
		change.do()
		eventually.True(t, 10*time.Second, change.what+": the failure is counted", func() bool {
			return testutil.ToFloat64(r.metrics.reloads.WithLabelValues("failure")) > failures
		})
		if s := r.Config().Shadow; s == nil || s.Percent != 40 {
			t.Errorf("%s: shadow %+v, want the last good one (1.2.0 at 40%%)", change.what, s)
		}
		if got = split(100); got["1.0.0"] != 100 {
			t.Errorf("%s: %v answered, want 1.0.0 alone", change.what, got)
		}
	}
	for _, want := range []string{"configuration not reloaded; the previous one stays", "no status.weights", "ModelDeployment models/iris not found",
		`msg="configuration reloaded" source="ModelDeployment models/iris" model=iris weights="[1.0.0=30 1.1.0=70]"`} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}
