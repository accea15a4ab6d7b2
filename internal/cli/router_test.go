package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model/onnxtest"
	"github.com/marina-dev/marina/internal/testenv"
)

var routingRE = regexp.MustCompile(`routing \S+ on (http://[0-9.:]+), metrics on (http://[0-9.:]+/metrics)`)

// startRouter runs `marina router args…` until the test ends and returns its proxy and metrics URLs.
func startRouter(t *testing.T, args ...string) (string, string) {
	t.Helper()
	m, _ := startCommand(t, routingRE, "stopped routing", append([]string{"router"}, args...)...)
	return m[1], m[2]
}

// answeredBy posts one request to the router at base and returns the version that answered it.
func answeredBy(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Post(base+"/v2/models/m/infer", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("X-Marina-Version")
}

// thresholdModel writes a one-feature, two-class ONNX classifier that picks class 1 when x > threshold.
func thresholdModel(t *testing.T, threshold float32) string {
	t.Helper()
	return inferencetest.Write(t, onnxtest.Linear{Input: "input", Output: "probabilities", InputShape: []int64{1},
		Weights: []float32{-1, 1}, Bias: []float32{threshold, -threshold}}.Bytes)
}

func TestRouterInFrontOfMarinaServeMeasuresTheShadowsAgreement(t *testing.T) {
	inferencetest.Lib(t)
	v1 := startServe(t, "--model", thresholdModel(t, 0.5), "--name", "clf")
	v11 := startServe(t, "--model", thresholdModel(t, 0.5), "--name", "clf")
	// Disagrees for 0.5 < x < 0.7. Two shadow workers stay under its --max-concurrency (4 on two cores): more would
	// get 503s, which are drops, not comparisons.
	shadow := startServe(t, "--model", thresholdModel(t, 0.7), "--name", "clf")
	file := filepath.Join(t.TempDir(), "router.yaml")
	config := fmt.Sprintf(`listen: 127.0.0.1:0
metrics: 127.0.0.1:0
model: clf
upstreams:
  - {version: 1.0.0, url: %q, weight: 1}
  - {version: 1.1.0, url: %q, weight: 0}
shadow: {version: 1.2.0, url: %q, percent: 100, workers: 2}
`, v1, v11, shadow)
	if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	base, metrics := startRouter(t, "--config", file, "--reload-interval", "20ms")

	const n = 100
	for i := range n {
		code, body := post(t, base+"/v2/models/clf/infer", fmt.Sprintf(`{"inputs":[{"name":"input","shape":[1,1],"datatype":"FP32","data":[%v]}]}`, (float64(i)+0.5)/n))
		if code != http.StatusOK || body["model_name"] != "clf" {
			t.Fatalf("request %d: %d %v", i, code, body)
		}
	}
	want := []string{
		`marina_router_shadow_argmax_rows_total{agreement="agree",model="clf",primary="1.0.0",shadow="1.2.0"} 80`,
		`marina_router_shadow_argmax_rows_total{agreement="disagree",model="clf",primary="1.0.0",shadow="1.2.0"} 20`,
		`marina_router_requests_total{code="200",model="clf",version="1.0.0"} 100`,
	}
	waitForMetrics(t, metrics, want)

	// A new weight in the file moves the traffic without a restart.
	if err := os.WriteFile(file, []byte(strings.Replace(strings.Replace(config, "weight: 1}", "weight: 0}", 1), "weight: 0}\nshadow", "weight: 1}\nshadow", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 10*time.Second, "the reloaded weights route to 1.1.0", func() bool {
		resp, err := http.Post(base+"/v2/models/clf/infer", "application/json", strings.NewReader(`{"inputs":[{"name":"input","shape":[1,1],"datatype":"FP32","data":[0.1]}]}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("X-Marina-Version") == "1.1.0"
	})
}

// waitForMetrics waits up to 10 s until the router's /metrics has every line of want, and fails naming those it lacks.
func waitForMetrics(t *testing.T, metrics string, want []string) {
	t.Helper()
	var text string
	eventually.True(t, 10*time.Second, "/metrics has every line of want", func() bool {
		_, text = get(t, metrics)
		return !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(text, w) })
	})
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
}

// TestRouterProbesEveryVersionWithTheSampleRequests has no live traffic: the probes alone, from the sample requests
// beside the configuration file, reach marina serve's versions and compare the shadow with them.
func TestRouterProbesEveryVersionWithTheSampleRequests(t *testing.T) {
	inferencetest.Lib(t)
	v1 := startServe(t, "--model", thresholdModel(t, 0.5), "--name", "clf")
	shadow := startServe(t, "--model", thresholdModel(t, 0.7), "--name", "clf") // disagrees for 0.5 < x < 0.7
	dir := t.TempDir()
	for name, x := range map[string]float64{"agree.json": 0.1, "disagree.json": 0.6} {
		body := fmt.Sprintf(`{"inputs":[{"name":"input","shape":[1,1],"datatype":"FP32","data":[%v]}]}`, x)
		if err := os.MkdirAll(filepath.Join(dir, "samples"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "samples", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "router.yaml")
	config := fmt.Sprintf(`listen: 127.0.0.1:0
metrics: 127.0.0.1:0
model: clf
upstreams:
  - {version: 1.0.0, url: %q, weight: 1}
shadow: {version: 1.2.0, url: %q, percent: 0, workers: 2}
probes: {dir: samples, interval: 200ms}
`, v1, shadow)
	if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	_, metrics := startRouter(t, "--config", file)
	// Counted from the first round on: each series reaches 1 or more (the router exports them at 0 from the start).
	counted := regexp.MustCompile(`(?m)^(marina_router_probes_total\{model="clf",result="ok",version="1.0.0"\}|` +
		`marina_router_shadow_argmax_rows_total\{agreement="(?:agree|disagree)",model="clf",primary="1.0.0",shadow="1.2.0"\}) [1-9]`)
	var text string
	eventually.True(t, 10*time.Second, "the probes reach the version and are compared with the shadow", func() bool {
		_, text = get(t, metrics)
		return len(counted.FindAllString(text, -1)) == 3
	})
	if !strings.Contains(text, `marina_router_requests_total{code="200",model="clf",version="1.0.0"} 0`) {
		t.Errorf("probes were counted among the live requests:\n%s", text)
	}
}

func TestRouterRefusesBadConfigurationsWithExit2(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "router.yaml")
	if err := os.WriteFile(bad, []byte("listen: 127.0.0.1:0\nmodel: m\nupstreams: [{version: a, url: \"http://h:1\", weight: 1}]\nshadow: {version: s, url: \"http://h:2\", percent: 150}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Flags are checked before the cluster is asked anything.
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"http://127.0.0.1:1\"}}]\ncontexts: [{name: c, context: {cluster: c}}]\ncurrent-context: c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantUsageErrors(t, []usageError{
		{[]string{"router"}, "--config or --model-deployment is required"},
		{[]string{"router", "--config", filepath.Join(dir, "missing.yaml")}, "no such file"},
		{[]string{"router", "--config", bad}, bad + ": shadow.percent: 150: want 0 to 100"},
		{[]string{"router", "--config", bad, "--reload-interval", "-1s"}, "--reload-interval must be 0 or more"},
		{[]string{"router", "--config", bad, "--model-deployment", "iris"}, "--config and --model-deployment exclude each other"},
		{[]string{"router", "--config", bad, "--listen", ":8080"}, "--listen, --metrics, --protocol, --upstream and --probes are for --model-deployment"},
		{[]string{"router", "--model-deployment", "iris", "--upstream", "1.0.0"}, `--upstream "1.0.0": want VERSION=URL`},
		{[]string{"router", "--model-deployment", "iris", "-n", "models", "--kubeconfig", kubeconfig, "--protocol", "grpc"}, `--model-deployment iris: protocol: "grpc": want oip-v2 or kserve-v1`},
		{[]string{"router", "--model-deployment", "iris", "-n", "models", "--kubeconfig", kubeconfig, "--upstream", "1.0.0=https://h:1"}, `upstream 1.0.0.url: "https://h:1": want http://host:port`},
	})
}

func TestRouterReloadsItsConfigurationOnSIGHUP(t *testing.T) {
	var upstreams [2]string
	for i := range upstreams {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"outputs":[]}`) }))
		t.Cleanup(srv.Close)
		upstreams[i] = srv.URL
	}
	file := filepath.Join(t.TempDir(), "router.yaml")
	write := func(w1, w2 int) {
		t.Helper()
		config := fmt.Sprintf("listen: 127.0.0.1:0\nmetrics: 127.0.0.1:0\nmodel: m\nupstreams:\n  - {version: a, url: %q, weight: %d}\n  - {version: b, url: %q, weight: %d}\n", upstreams[0], w1, upstreams[1], w2)
		if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	version := func(base string) string { return answeredBy(t, base) }
	write(1, 0)
	base, _ := startRouter(t, "--config", file, "--reload-interval", "0") // only SIGHUP reloads
	if v := version(base); v != "a" {
		t.Fatalf("answered by %q, want a", v)
	}
	write(0, 1)
	time.Sleep(50 * time.Millisecond)
	if v := version(base); v != "a" {
		t.Fatalf("reloaded without SIGHUP (answered by %q)", v)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 5*time.Second, "SIGHUP reloads the new weights", func() bool { return version(base) == "b" })
}

// TestRouterInClusterModeFollowsTheModelDeploymentsWeights runs the router as the cluster's admin and as a
// ServiceAccount with a real token bound (in the model's namespace) to nothing but the ClusterRole marina-router
// that config/rbac and the Helm chart ship: a permission cluster mode needs and the role lacks fails the test.
func TestRouterInClusterModeFollowsTheModelDeploymentsWeights(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true})
	c.CreateNamespaces(t, "models")
	var upstreams [2]string
	for i := range upstreams {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"outputs":[]}`) }))
		t.Cleanup(srv.Close)
		upstreams[i] = srv.URL
	}
	type identity struct {
		name       string
		kubeconfig func(t *testing.T) string
	}
	identities := []identity{{"the cluster's admin", func(*testing.T) string { return c.Kubeconfig }}}
	for _, install := range testenv.Installs {
		identities = append(identities, identity{"a ServiceAccount bound to marina-router of " + install.Name, func(t *testing.T) string {
			c.InstallRBAC(t, install)
			binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "marina-router", Namespace: "models"},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "marina-router"},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "marina-router", Namespace: "models"}}}
			if err := c.Client.Create(context.Background(), binding); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := c.Client.Delete(context.Background(), binding); err != nil {
					t.Error(err)
				}
			})
			return c.ServiceAccount(t, "models", "marina-router").Kubeconfig
		}})
	}
	for i, id := range identities {
		// Not parallel: both installs create the same ClusterRole.
		t.Run(id.name, func(t *testing.T) {
			ctx := context.Background()
			name := fmt.Sprintf("iris-%d", i)
			md := createModelDeployment(t, c, "models", name, "1.1.0")
			md.Status = v1alpha1.ModelDeploymentStatus{StableVersion: "1.0.0", CanaryVersion: "1.1.0", Weights: &v1alpha1.TrafficWeights{Stable: 100}}
			if err := c.Client.Status().Update(ctx, md); err != nil {
				t.Fatal(err)
			}
			base, _ := startRouter(t, "--model-deployment", name, "-n", "models", "--kubeconfig", id.kubeconfig(t),
				"--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0",
				"--upstream", "1.0.0="+upstreams[0], "--upstream", "1.1.0="+upstreams[1])
			version := func() string { return answeredBy(t, base) }
			if v := version(); v != "1.0.0" {
				t.Fatalf("answered by %q, want the stable 1.0.0", v)
			}
			md.Status.Weights = &v1alpha1.TrafficWeights{Canary: 100}
			if err := c.Client.Status().Update(ctx, md); err != nil {
				t.Fatal(err)
			}
			eventually.True(t, 10*time.Second, "the canary's weight of 100 in the status routes to 1.1.0", func() bool { return version() == "1.1.0" })
		})
	}
}

func TestRouterSendsSpansToTheOTLPEndpointItIsGiven(t *testing.T) {
	var mu sync.Mutex
	var received []byte
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" {
			mu.Lock()
			received = append(received, b...)
			mu.Unlock()
		}
	}))
	t.Cleanup(collector.Close)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"outputs":[]}`) }))
	t.Cleanup(upstream.Close)
	file := filepath.Join(t.TempDir(), "router.yaml")
	config := fmt.Sprintf("listen: 127.0.0.1:0\nmetrics: 127.0.0.1:0\nmodel: m\nupstreams: [{version: a, url: %q, weight: 1}]\n", upstream.URL)
	if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("router", func(t *testing.T) { // its cleanup stops the router, which sends the batched spans
		base, _ := startRouter(t, "--config", file, "--otlp-endpoint", collector.URL)
		if v := answeredBy(t, base); v != "a" {
			t.Fatalf("answered by %q", v)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	// A protobuf string field is its bytes: the span's name and the resource's service.name.
	for _, want := range []string{"primary m", "marina-router"} {
		if !bytes.Contains(received, []byte(want)) {
			t.Errorf("the collector received no %q (%d bytes)", want, len(received))
		}
	}
}
