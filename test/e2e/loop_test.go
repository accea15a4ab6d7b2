//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/config/monitoring"
	"github.com/marina-dev/marina/internal/controller"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model/onnxtest"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/sandbox"
	"github.com/marina-dev/marina/internal/testenv"
)

// TestTheLoopClosesOnTheRealNode is marina's reason to exist, with every hop real: Flux applies the repository
// from a Git server; marina controller (as the ServiceAccount the repository's infrastructure gives it) rolls
// iris-classifier out behind marina router on the real node; Prometheus scrapes the router while a load generator
// replays the iris evaluation rows through the model's Service. A good new version (v1 fitted again on fresh
// data) passes the built-in shadow-agreement analysis — with the controller and then a router Pod killed
// mid-analysis —, goes on as a canary with half the live traffic judged by the built-in error-rate analysis, and
// is promoted. The deliberately worse version fails it: the controller aborts, pushes the revert (the
// version blocked, the measured agreement in the message) to the Git server, Flux applies it and the good version
// serves alone.
func TestTheLoopClosesOnTheRealNode(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true, Workloads: true, InClusterClients: true})
	d := startDataPath(t, c, testenv.RealNode{DNS: true})
	c.StartFlux(t, 2*time.Second)
	prom := c.StartPrometheus(t, realNodeName)

	root := t.TempDir()
	server := repotest.ServeGit(t, root, repotest.GitAuth{})
	bare := filepath.Join(root, "ml-platform.git")
	url := server.RepoURL(bare)
	v1, good, bad := irisV1(), onnxtest.Generated(t, "iris-classifier-v1-retrained.onnx"), onnxtest.Generated(t, "iris-classifier-v2-worse.onnx")
	work := routedRepo(t, d, url, fmt.Sprintf(`      strategy: {shadow: {percent: 100, duration: 10s, steps: [{setWeight: 50}, {analysis: {template: error-rate}}]}}
      analysis:
        prometheus: {address: "%s"}
        window: 30s
        interval: 5s
        count: 6
        minSamples: 30
        builtin: [{name: shadow-agreement, min: 0.9}, {name: error-rate, max: 0.05}]
      writeBack: {mode: commit}
`, prom.Address()), modelVersion{"1.0.0", v1}, modelVersion{"1.1.0", good}, modelVersion{"1.2.0", bad})
	replaceIn(t, filepath.Join(work, "gitops", "flux", "gitrepository.yaml"), "interval: 1m", "interval: "+fluxPoll)
	repotest.Git(t, work, "commit", "-qam", "e2e: Flux polls every "+fluxPoll)
	repotest.Publish(t, work, bare, url) // anonymous pushes: the team's and the controller's
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s\n%s\n%s\n%s", endpoints(c, routedNamespace), routerCounts(prom.Address()), c.Logs("source-controller"), c.Logs("kustomize-controller"))
		}
	})

	applyKustomization(t, c.Client, filepath.Join(work, "gitops", "flux"))
	testenv.WaitUntil(t, "Flux applies the infrastructure", 3*time.Minute, func(ctx context.Context) (bool, string) {
		return fluxApplied(ctx, c.Client, repotest.Git(t, work, "rev-parse", "HEAD"), "ml-platform-infrastructure")
	})
	// The controller runs as the ServiceAccount, bound to the ClusterRole, that Flux has just applied from the
	// repository's infrastructure/base/rbac.yaml.
	ctl := runController(t, c.ServiceAccount(t, testenv.ControllerNamespace, "marina-controller").Kubeconfig, "")
	waitModel(t, c, "1.0.0 stable behind its router on the real node", func(md *v1alpha1.ModelDeployment) bool {
		return md.Status.StableVersion == "1.0.0" && meta.IsStatusConditionTrue(md.Status.Conditions, v1alpha1.ReadyCondition)
	})
	routerRunning(t, c)
	answersAre(t, c, routedNamespace, "iris-classifier", inferencetest.IrisAnswers(t, v1), "1.0.0 answers through the router")
	load, loadStart := replayEval(t, c, routedNamespace, "iris-classifier"), time.Now()

	t.Run("a good version passes the shadow analysis and is promoted", func(t *testing.T) {
		testenv.RunMarina(t, marina, work, "promote", "iris-classifier@1.1.0", "--env", "staging", "--push")
		waitModel(t, c, "1.1.0's shadow analysis has measured twice", func(md *v1alpha1.ModelDeployment) bool {
			return measured(md, "1.1.0") >= 2
		})
		ctl.kill(t)
		time.Sleep(2 * time.Second)
		ctl.start(t)
		waitModel(t, c, "1.1.0's shadow analysis has measured four times", func(md *v1alpha1.ModelDeployment) bool {
			return measured(md, "1.1.0") >= 4
		})
		killRouterPod(t, c)
		// After the shadow, a canary: half the live traffic, judged by the error-rate analysis of its answers.
		waitModel(t, c, "1.1.0 a canary with half the live traffic", func(md *v1alpha1.ModelDeployment) bool {
			return md.Status.CanaryVersion == "1.1.0" && md.Status.Weights != nil && md.Status.Weights.Canary == 50 && md.Status.Weights.Shadow == 0
		})
		md := waitModel(t, c, "1.1.0 promoted", func(md *v1alpha1.ModelDeployment) bool {
			return md.Status.StableVersion == "1.1.0" && md.Status.CanaryVersion == "" && meta.IsStatusConditionTrue(md.Status.Conditions, v1alpha1.ReadyCondition)
		})
		t.Logf("1.1.0 promoted: %s", meta.FindStatusCondition(md.Status.Conditions, v1alpha1.ReadyCondition).Message)
		answersAre(t, c, routedNamespace, "iris-classifier", inferencetest.IrisAnswers(t, good), "1.1.0 answers")
	})

	t.Run("a worse version fails it: the abort is pushed to Git and Flux applies it", func(t *testing.T) {
		testenv.RunMarina(t, marina, work, "promote", "iris-classifier@1.2.0", "--env", "staging", "--push")
		promoted := repotest.Git(t, work, "rev-parse", "HEAD")
		md := waitModel(t, c, "1.2.0 aborted and the revert written to Git", func(md *v1alpha1.ModelDeployment) bool {
			return md.Status.AbortMessage != "" && meta.IsStatusConditionTrue(md.Status.Conditions, controller.WriteBackCondition)
		})
		if !strings.Contains(md.Status.AbortMessage, "shadow-agreement") {
			t.Fatalf("abort message %q does not name the shadow-agreement analysis", md.Status.AbortMessage)
		}
		repotest.Git(t, work, "pull", "-q", "--ff-only")
		revert := repotest.Git(t, work, "log", "-1", "--format=%B", promoted+"..HEAD")
		if !strings.Contains(revert, "1.2.0") || !strings.Contains(revert, "shadow-agreement") {
			t.Fatalf("the revert commit's message does not say which version and why:\n%s", revert)
		}
		metadata := repotest.ReadFile(t, work, "models/iris-classifier/v1.2.0.json")
		if !strings.Contains(metadata, `"blocked"`) {
			t.Fatalf("1.2.0 is not blocked in Git:\n%s", metadata)
		}
		head := repotest.Git(t, work, "rev-parse", "HEAD")
		testenv.WaitUntil(t, "Flux applies the revert", 2*time.Minute, func(ctx context.Context) (bool, string) {
			return fluxApplied(ctx, c.Client, head, "ml-platform-apps-staging")
		})
		waitModel(t, c, "1.1.0 alone again", func(md *v1alpha1.ModelDeployment) bool {
			return md.Spec.Version == "1.1.0" && md.Status.StableVersion == "1.1.0" && md.Status.CanaryVersion == "" &&
				meta.IsStatusConditionTrue(md.Status.Conditions, v1alpha1.ReadyCondition)
		})
		answersAre(t, c, routedNamespace, "iris-classifier", inferencetest.IrisAnswers(t, good), "1.1.0 answers after the revert")
		t.Logf("revert commit:\n%s\nmarina history:\n%s", revert, testenv.RunMarina(t, marina, work, "history", "iris-classifier", "--env", "staging"))
	})

	counts := load.Stop()
	dashboardHasData(t, prom.Address(), loadStart, time.Now())
	t.Logf("load: %s", counts)
	if counts.Total() < counts.Sent*9/10 {
		t.Errorf("only %d of %d replayed requests were answered through the rollouts and the restarts", counts.Total(), counts.Sent)
	}
}

// measured is how many measurements the running shadow analysis of version has taken.
func measured(md *v1alpha1.ModelDeployment, version string) int32 {
	if md.Status.CanaryVersion != version {
		return 0
	}
	var n int32
	for _, r := range md.Status.AnalysisRuns {
		for _, m := range r.Metrics {
			n = max(n, m.Successful+m.Failed+m.Inconclusive+m.Error)
		}
	}
	return n
}

// killRouterPod deletes one of the router's Pods at once (no grace period): its container is killed and its
// ReplicaSet makes another, while the other Pod serves.
func killRouterPod(t *testing.T, c *testenv.Cluster) {
	t.Helper()
	var pods corev1.PodList
	if err := c.Client.List(context.Background(), &pods, client.InNamespace(routedNamespace),
		client.MatchingLabels{v1alpha1.LabelRouter: "iris-classifier"}); err != nil || len(pods.Items) == 0 {
		t.Fatalf("the router's Pods: %v (%d)", err, len(pods.Items))
	}
	if err := c.Client.Delete(context.Background(), &pods.Items[0], client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed router Pod %s", pods.Items[0].Name)
}

// replayEval is sandbox demo's load generator on the model's Service (its ClusterIP, through kube-proxy's rules on
// the host), replaying the iris evaluation rows of the example repository, until Stop or the end of the test.
func replayEval(t *testing.T, c *testenv.Cluster, ns, name string) *sandbox.Replay {
	t.Helper()
	set, err := sandbox.EvalRows(repotest.ExamplePath(), name)
	if err != nil {
		t.Fatal(err)
	}
	var svc corev1.Service
	if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
		t.Fatal(err)
	}
	r := sandbox.StartReplay("http://"+net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(svc.Spec.Ports[0].Port))), name, set)
	t.Cleanup(func() { r.Stop() })
	return r
}

// dashboardHasData checks that every panel of the Grafana dashboard config/monitoring ships would show data from
// this Prometheus over [from, to] — its queries as Grafana sends them for model iris-classifier, over a range at
// Grafana's step — and that the dashboard's model variable offers iris-classifier.
func dashboardHasData(t *testing.T, address string, from, to time.Time) {
	t.Helper()
	var dashboard struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Name  string
				Query json.RawMessage // a string, or {query, refId}
			}
		}
	}
	if err := json.Unmarshal(monitoring.Dashboard, &dashboard); err != nil {
		t.Fatal(err)
	}
	pc, err := promapi.NewClient(promapi.Config{Address: address})
	if err != nil {
		t.Fatal(err)
	}
	prom := promv1.NewAPI(pc)
	ctx := context.Background()
	series := func(expr string) int {
		expr = strings.NewReplacer("$__rate_interval", "1m", "$model", "iris-classifier").Replace(expr)
		v, _, err := prom.QueryRange(ctx, expr, promv1.Range{Start: from, End: to, Step: 15 * time.Second})
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		m, ok := v.(model.Matrix)
		if !ok {
			t.Fatalf("%s: a %s, want a matrix", expr, v.Type())
		}
		return len(m)
	}
	for _, v := range dashboard.Templating.List {
		var q struct{ Query string }
		if v.Name != "model" || json.Unmarshal(v.Query, &q) != nil {
			continue
		}
		metric := strings.TrimSuffix(strings.TrimPrefix(q.Query, "label_values("), ", model)")
		if series(fmt.Sprintf(`count by (model) (%s{model="iris-classifier"})`, metric)) == 0 {
			t.Errorf("the dashboard's model variable (%s) does not offer iris-classifier", q.Query)
		}
	}
	for _, p := range dashboard.Panels {
		if len(p.Targets) == 0 {
			continue // a row
		}
		n := 0
		for _, target := range p.Targets {
			n += series(target.Expr)
		}
		if n == 0 {
			t.Errorf("the dashboard's panel %q shows no data: %+v", p.Title, p.Targets)
		}
		t.Logf("dashboard panel %q: %d series", p.Title, n)
	}
}

// routerCounts is what the routers counted, as Prometheus scraped it, for a failure message: per 15 s over the last
// 10 minutes, the answers by version and status, the shadows' comparisons by result and the mirrored requests
// dropped by reason (what an analysis measured, or could not).
func routerCounts(address string) string {
	pc, err := promapi.NewClient(promapi.Config{Address: address})
	if err != nil {
		return err.Error()
	}
	prom, to := promv1.NewAPI(pc), time.Now()
	var b strings.Builder
	for _, expr := range []string{
		`sum by (version, code) (increase(marina_router_requests_total[15s]))`,
		`sum by (shadow, result) (increase(marina_router_shadow_comparisons_total[15s]))`,
		`sum by (shadow, agreement) (increase(marina_router_shadow_argmax_rows_total[15s]))`,
		`sum by (shadow, reason) (increase(marina_router_mirror_dropped_total[15s]))`,
	} {
		fmt.Fprintf(&b, "--- %s (per 15 s) ---\n", expr)
		v, _, err := prom.QueryRange(context.Background(), expr, promv1.Range{Start: to.Add(-10 * time.Minute), End: to, Step: 15 * time.Second})
		m, ok := v.(model.Matrix)
		if err != nil || !ok {
			fmt.Fprintf(&b, "%v\n", err)
			continue
		}
		for _, series := range m {
			fmt.Fprintf(&b, "%s:", series.Metric)
			for _, p := range series.Values {
				fmt.Fprintf(&b, " %s=%.0f", p.Timestamp.Time().Format("15:04:05"), float64(p.Value))
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// routedNamespace is staging's namespace in the repository marina init makes.
const routedNamespace = "models-staging"

// modelVersion is one version of iris-classifier and its model file.
type modelVersion struct{ version, file string }

// irisV1 is iris-classifier 1.0.0's model file, from the example repository.
func irisV1() string {
	return filepath.Join(repotest.ExamplePath(), "models", "iris-classifier", "artifacts", "v1.0.0.onnx")
}

// routedRepo makes staging's repository with marina init --repo-url repoURL: iris-classifier on
// backend marina, versions registered and pushed to d's registry, model servers and router on the real node,
// staging at the first version with the settings of staging (model.yaml lines under the environment, e.g. its
// strategy); rendered and committed. It returns the clone.
func routedRepo(t *testing.T, d *dataPath, repoURL, staging string, versions ...modelVersion) string {
	t.Helper()
	work := filepath.Join(t.TempDir(), "ml-platform")
	repotest.SetIdentity(t, "e2e")
	testenv.RunMarina(t, marina, filepath.Dir(work), "init", work, "--envs", "staging", "--engine", "flux", "--ci", "github", "--repo-url", repoURL)
	placement := func(indent string) string {
		return fmt.Sprintf("%snodeSelector: {%s: real}\n%stolerations: [{key: %s, operator: Equal, value: real, effect: NoSchedule}]\n",
			indent, testenv.RealNodeLabel, indent, testenv.RealNodeLabel)
	}
	repotest.WriteFile(t, work, "applications/iris-classifier/model.yaml", "apiVersion: marina.dev/v1alpha1\nkind: ModelApplication\n"+
		"metadata:\n  name: iris-classifier\nspec:\n  model: iris-classifier\n  backend: marina\n"+d.runtime()+
		"  resources:\n    requests: {cpu: 100m, memory: 128Mi}\n    limits: {cpu: \"1\", memory: 512Mi}\n  replicas: 1\n"+
		placement("  ")+"  router:\n    image: "+d.pull+"\n"+placement("    ")+
		"  environments:\n    staging:\n      version: "+versions[0].version+"\n"+staging)
	for _, v := range versions {
		testenv.RunMarina(t, marina, work, "model", "register", "iris-classifier", "--version", v.version, "--file", v.file,
			"--push", "--to", d.reg.Host+"/models/iris-classifier", "--plain-http")
	}
	testenv.RunMarina(t, marina, work, "render", "--write")
	repotest.Git(t, work, "add", "-A")
	repotest.Git(t, work, "commit", "-qm", "iris-classifier on backend marina, rendered")
	return work
}

// waitModel waits until staging's iris-classifier ModelDeployment satisfies cond and returns it.
func waitModel(t *testing.T, c *testenv.Cluster, what string, cond func(*v1alpha1.ModelDeployment) bool) *v1alpha1.ModelDeployment {
	t.Helper()
	return c.WaitForModelDeployment(t, client.ObjectKey{Namespace: routedNamespace, Name: "iris-classifier"}, what, 4*time.Minute, cond)
}

// routerRunning checks that the router's Pods run on the real node, Ready.
func routerRunning(t *testing.T, c *testenv.Cluster) {
	t.Helper()
	testenv.WaitUntil(t, "the router's Pods Ready on the real node", 3*time.Minute, func(ctx context.Context) (bool, string) {
		var dep appsv1.Deployment
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: routedNamespace, Name: "iris-classifier-router"}, &dep); err != nil {
			return false, err.Error()
		}
		var pods corev1.PodList
		if err := c.Client.List(ctx, &pods, client.InNamespace(routedNamespace), client.MatchingLabels(dep.Spec.Selector.MatchLabels)); err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, p := range pods.Items {
			if p.Spec.NodeName != realNodeName {
				return false, fmt.Sprintf("router Pod %s is on node %q", p.Name, p.Spec.NodeName)
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Ready {
					ready++
				}
			}
		}
		return ready == int(*dep.Spec.Replicas) && ready > 0, fmt.Sprintf("%d of %d router Pods Ready: %s", ready, *dep.Spec.Replicas, podStates(pods))
	})
}

// podStates says what each Pod's containers are doing, for failure messages.
func podStates(pods corev1.PodList) string {
	s := ""
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			s += fmt.Sprintf("%s/%s ready=%v restarts=%d state=%+v", p.Name, cs.Name, cs.Ready, cs.RestartCount, cs.State)
			if t := cs.LastTerminationState.Terminated; t != nil {
				s += fmt.Sprintf(", last exit %d: %s", t.ExitCode, t.Message)
			}
			s += "; "
		}
	}
	return s
}
