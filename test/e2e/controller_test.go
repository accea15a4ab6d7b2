//go:build e2e

package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis/prometheustest"
	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/testenv"
)

var marina string

func TestMain(m *testing.M) { testenv.MainWithMarina(m, &marina) }

const (
	ns    = "e2e"
	name  = "iris-classifier"
	pause = 8 * time.Second
)

// TestControllerKilledMidRolloutResumesWhereItWas runs `marina controller` as a process and kills it with SIGKILL
// during a pause and during an analysis: each time the restarted controller goes on with the same step, the pause
// ends its duration after it began, the analysis takes its remaining measurements (none lost, none repeated), and
// the status shows every step once and in order.
func TestControllerKilledMidRolloutResumesWhereItWas(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true, Workloads: true})
	c.AddNode(t, testenv.Node{Name: "cpu-0"})
	ctx := context.Background()
	c.CreateNamespaces(t, ns)
	prom := startPrometheus(t, 0.01)
	ctl := runController(t, c.Kubeconfig, ns)
	hist := c.WatchStatus(t, ns)

	count := int32(4)
	replicas := int32(2)
	md := &v1alpha1.ModelDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"marina.dev/environment": "staging"}},
		Spec: v1alpha1.ModelDeploymentSpec{
			Model: name, Version: "1.0.0", Replicas: &replicas,
			Artifact: v1alpha1.Artifact{URI: "models/iris-classifier/artifacts/v1.0.0.onnx",
				Digest: "sha256:1e3fa9ff4412f893618f6767cdecb4b0ad04754682bd48f47dbf51e78e3b4318", Size: 1024, Format: "onnx"},
			Runtime: v1alpha1.Runtime{Image: "ghcr.io/marina-dev/marina-serve:0.1.0", Port: 8080},
			Strategy: &v1alpha1.Strategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
				{SetWeight: new(int32(50))},
				{Pause: &v1alpha1.PauseStep{Duration: v1alpha1.DurationString(pause.String())}},
				{Analysis: &v1alpha1.AnalysisStep{Template: "error-rate"}},
				{SetWeight: new(int32(100))},
			}}},
			Analysis: &v1alpha1.Analysis{Templates: []v1alpha1.AnalysisTemplate{{
				Name: "error-rate", Prometheus: &v1alpha1.PrometheusProvider{Address: prom.Address()},
				Metrics: []v1alpha1.AnalysisMetric{{Name: "error-rate", Query: `marina_test_error_rate{version="1.1.0"}`,
					SuccessCondition: "result[0] < 0.05", Interval: "1s", Count: &count}},
			}}},
		},
	}
	if err := c.Client.Create(ctx, md); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, "1.0.0 Ready", time.Minute, func(md *v1alpha1.ModelDeployment) bool {
		return md.Status.StableVersion == "1.0.0" && ready(md)
	})
	if metrics := ctl.get(t, "/metrics"); !strings.Contains(metrics, "marina_reconcile_duration_seconds_count ") ||
		strings.Contains(metrics, "marina_reconcile_duration_seconds_count 0\n") {
		t.Fatalf("/metrics has no marina_reconcile_duration_seconds observations:\n%s", metrics)
	}

	patch := client.MergeFrom(md.DeepCopy())
	md.Spec.Version = "1.1.0"
	if err := c.Client.Patch(ctx, md, patch); err != nil {
		t.Fatal(err)
	}
	atPause := waitFor(t, c, "the pause", time.Minute, atStep(1))
	pauseStart := atPause.Status.StepStartTime.Time
	// Killed 2 s into the pause and down for 2 s: the new controller ends the pause 8 s after it began.
	time.Sleep(time.Until(pauseStart.Add(2 * time.Second)))
	ctl.kill(t)
	time.Sleep(2 * time.Second)
	if md := get(t, c); !isStep(md, 1) || !md.Status.StepStartTime.Time.Equal(pauseStart) {
		t.Fatalf("with the controller down: %+v", md.Status)
	}
	ctl.start(t)
	atAnalysis := waitFor(t, c, "the analysis", time.Minute, atStep(2))
	if took := atAnalysis.Status.StepStartTime.Sub(pauseStart); took < pause || took > pause+2*time.Second {
		t.Fatalf("the %s pause took %s across the restart", pause, took)
	}
	if starts := stepStarts(hist, "1.1.0", 1); len(starts) != 1 {
		t.Fatalf("the pause step had start times %v, want one", starts)
	}

	// Killed after the second of 4 measurements and down for 2 s: the next controller takes the last 2.
	waitFor(t, c, "the second measurement", 30*time.Second, func(md *v1alpha1.ModelDeployment) bool {
		run := md.Status.AnalysisRun("1.1.0-step-2")
		return run != nil && len(run.Metrics) == 1 && run.Metrics[0].Successful == 2
	})
	ctl.kill(t)
	time.Sleep(2 * time.Second)
	if run := get(t, c).Status.AnalysisRun("1.1.0-step-2"); run == nil || run.Phase != v1alpha1.AnalysisRunning || run.Metrics[0].Successful != 2 {
		t.Fatalf("analysis run with the controller down: %+v", run)
	}
	ctl.start(t)
	hist.Through(t, waitFor(t, c, "promotion of 1.1.0", 2*time.Minute, func(md *v1alpha1.ModelDeployment) bool {
		return md.Status.StableVersion == "1.1.0" && ready(md)
	}))
	if steps := hist.Steps("1.1.0"); !slices.Equal(steps, []int32{0, 1, 2, 3}) {
		t.Fatalf("steps seen in status %v, want [0 1 2 3]", steps)
	}
	if starts := stepStarts(hist, "1.1.0", 2); len(starts) != 1 {
		t.Fatalf("the analysis step had start times %v, want one", starts)
	}
	counts := successes(hist, "1.1.0-step-2")
	if !slices.Equal(counts, []int32{1, 2, 3, 4}) {
		t.Fatalf("successful measurements seen %v, want 1 2 3 4: one each, none lost or repeated", counts)
	}
	run := hist.LastRun("1.1.0-step-2")
	m := run.Metrics[0]
	if run.Phase != v1alpha1.AnalysisSuccessful || m.Successful != 4 || m.Error != 0 || m.Failed != 0 {
		t.Fatalf("analysis run: %+v", run)
	}
	// 4 measurements a second apart, one gap of about the 2 s the controller was down.
	if took := m.LastMeasuredAt.Sub(run.StartedAt.Time); took < 3*time.Second || took > 8*time.Second {
		t.Fatalf("4 measurements at a 1 s interval took %s across the restart", took)
	}
}

// controllerProcess is `marina controller` run by the test.
type controllerProcess struct {
	kubeconfig, log string
	namespace       string   // the one namespace it watches; "" for all
	args            []string // more arguments, e.g. -v
	metrics, health string
	cmd             *exec.Cmd
	done            chan struct{}
}

// runController starts marina controller as a process (for namespace, or all with "") with args for the rest of
// the test; when the test fails, the end of its log is logged.
func runController(t *testing.T, kubeconfig, namespace string, args ...string) *controllerProcess {
	t.Helper()
	ctl := &controllerProcess{kubeconfig: kubeconfig, log: filepath.Join(t.TempDir(), "controller.log"), namespace: namespace, args: args}
	ctl.start(t)
	t.Cleanup(func() {
		ctl.kill(t)
		if t.Failed() {
			b, _ := os.ReadFile(ctl.log)
			t.Logf("controller log:\n%s", b[max(0, len(b)-8000):])
		}
	})
	return ctl
}

// start runs the controller on fresh loopback ports and waits until it is ready.
func (p *controllerProcess) start(t *testing.T) {
	t.Helper()
	p.metrics, p.health = prometheustest.FreeAddr(t), prometheustest.FreeAddr(t)
	log, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	scope := []string{"-A"}
	if p.namespace != "" {
		scope = []string{"-n", p.namespace}
	}
	p.cmd = exec.Command(marina, append([]string{"controller", "--kubeconfig", p.kubeconfig,
		"--metrics-addr", p.metrics, "--health-addr", p.health, "--git-cache", t.TempDir()}, append(scope, p.args...)...)...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		_ = log.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func(cmd *exec.Cmd) {
		_ = cmd.Wait()
		_ = log.Close()
		close(done)
	}(p.cmd)
	p.done = done
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last error
	err = eventually.Poll(ctx, func(context.Context) (bool, error) {
		select {
		case <-done:
			return false, errors.New("marina controller exited")
		default:
		}
		resp, err := http.Get("http://" + p.health + "/readyz")
		if last = err; err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("marina controller not ready on %s: %v (last probe: %v)", p.health, err, last)
	}
}

// kill sends SIGKILL and waits for the process to be gone; it does nothing when it is not running.
func (p *controllerProcess) kill(t *testing.T) {
	t.Helper()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd = nil
}

func (p *controllerProcess) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + p.metrics + path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", path, resp.Status, err)
	}
	return string(b)
}

// startPrometheus serves marina_test_error_rate{version="1.1.0"} at rate and starts a Prometheus scraping it.
func startPrometheus(t *testing.T, rate float64) *prometheustest.Server {
	t.Helper()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "marina_test_error_rate", Help: "Error rate by version."}, []string{"version"})
	g.WithLabelValues("1.1.0").Set(rate)
	reg := prometheus.NewRegistry()
	reg.MustRegister(g)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: prometheustest.FreeAddr(t), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ListenAndServe() }()
	t.Cleanup(func() { _ = srv.Close() })
	p := prometheustest.Start(t, srv.Addr)
	p.WaitForData(context.Background(), t, "marina_test_error_rate", 1)
	return p
}

func ready(md *v1alpha1.ModelDeployment) bool {
	return md.Status.ObservedGeneration == md.Generation && meta.IsStatusConditionTrue(md.Status.Conditions, v1alpha1.ReadyCondition)
}

func isStep(md *v1alpha1.ModelDeployment, i int32) bool {
	return md.Status.CanaryVersion == "1.1.0" && md.Status.CurrentStepIndex != nil && *md.Status.CurrentStepIndex == i
}

func atStep(i int32) func(*v1alpha1.ModelDeployment) bool {
	return func(md *v1alpha1.ModelDeployment) bool { return isStep(md, i) }
}

func get(t *testing.T, c *testenv.Cluster) *v1alpha1.ModelDeployment {
	t.Helper()
	md := &v1alpha1.ModelDeployment{}
	if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, md); err != nil {
		t.Fatal(err)
	}
	return md
}

// waitFor polls the ModelDeployment until cond holds.
func waitFor(t *testing.T, c *testenv.Cluster, what string, timeout time.Duration, cond func(*v1alpha1.ModelDeployment) bool) *v1alpha1.ModelDeployment {
	t.Helper()
	return c.WaitForModelDeployment(t, client.ObjectKey{Namespace: ns, Name: name}, what, timeout, cond)
}

// stepStarts are the distinct start times step i of version's rollout had.
func stepStarts(h *testenv.StatusHistory, version string, i int32) []time.Time {
	var out []time.Time
	for _, st := range h.Statuses() {
		if st.CanaryVersion == version && st.CurrentStepIndex != nil && *st.CurrentStepIndex == i && st.StepStartTime != nil &&
			!slices.ContainsFunc(out, st.StepStartTime.Time.Equal) {
			out = append(out, st.StepStartTime.Time)
		}
	}
	return out
}

// successes is the sequence of successful-measurement counts of run's metric, each once.
func successes(h *testenv.StatusHistory, run string) []int32 {
	var out []int32
	for _, st := range h.Statuses() {
		for _, r := range st.AnalysisRuns {
			if r.Name == run && len(r.Metrics) == 1 {
				if n := r.Metrics[0].Successful; len(out) == 0 || out[len(out)-1] != n {
					out = append(out, n)
				}
			}
		}
	}
	return out
}
