//go:build e2e

package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/cli"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model/onnxtest"
	"github.com/marina-dev/marina/internal/sandbox"
	"github.com/marina-dev/marina/internal/testenv"
)

// status is what `marina sandbox status -o json` prints, as far as users rely on it.
type status struct {
	PID        int               `json:"pid"`
	Kubeconfig string            `json:"kubeconfig"`
	Git        string            `json:"git"`
	Registry   string            `json:"registry"`
	Prometheus string            `json:"prometheus"`
	UI         string            `json:"ui"`
	Endpoints  map[string]string `json:"endpoints"`
}

// TestSandboxServesTheExampleAndDownLeavesNothingBehind runs the README's first command, which builds marina, brings
// the sandbox up from the example repository and runs marina sandbox demo, then the sandbox's --help tour with the
// built binary. The demo's outcome is checked from Git and the cluster: the worse version blocked in the
// repository, the revert pushed by marina controller, the ModelDeployment and the endpoint back on the good
// version (answering through marina router), marina history showing the rollback. status -o json names a
// kubeconfig that works, a Git URL that clones, a registry that answers, a Prometheus scraping every model server,
// and endpoints answering an inference as ONNX Runtime does in this process; a second up is refused; down stops
// everything, and the host is as it was before (compared as test/node does), a second down says nothing runs.
func TestSandboxServesTheExampleAndDownLeavesNothingBehind(t *testing.T) {
	inferencetest.Lib(t) // make image packs ONNX Runtime, and the expected answers are computed with it
	root := testenv.RepoRoot(t)
	dir := t.TempDir()
	env := append(os.Environ(), "MARINA_SANDBOX_DIR="+dir, "PATH="+filepath.Dir(marina)+string(os.PathListSeparator)+os.Getenv("PATH"))
	run := func(line string) (string, error) {
		cmd := exec.Command("bash", "-o", "pipefail", "-c", strings.TrimPrefix(line, "sudo ")) // the test runs as root
		cmd.Dir, cmd.Env = root, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	var before testenv.HostState
	t.Run("before", func(t *testing.T) { // with the host's lock: no other package's real node comes or goes meanwhile
		testenv.HoldHost(t)
		before = testenv.SnapshotHost()
	})
	t.Cleanup(func() { // a failed test still stops the sandbox
		if out, err := run("marina sandbox down"); err != nil {
			t.Errorf("marina sandbox down: %v\n%s", err, out)
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "sandbox.log"))
			t.Logf("sandbox.log:\n%s", log[max(0, len(log)-12000):])
		}
	})

	tour := examples(t, "marina sandbox")
	first := readmeFirstCommand(t, root)
	if first != "sudo make sandbox-demo" {
		t.Fatalf("README.md's first command is %q; this test runs sudo make sandbox-demo, the sandbox's up and demo", first)
	}
	began := time.Now()
	demo, err := run(first)
	if err != nil {
		t.Fatalf("%s: %v\n%s", first, err, demo)
	}
	t.Logf("%s (build, up, demo): %s", first, time.Since(began).Round(time.Second))
	t.Logf("the demo's narration:\n%s", demo[max(0, strings.Index(demo, "$ go run ./hack/genmodels")):])
	for _, want := range []string{"shadow up: 1.0.0 answers every request", "analysis shadow-agreement, successful: measurement ", "promoted: 1.1.0 serves alone",
		"marina router compared ", "analysis shadow-agreement, failed: ",
		"aborted: ", "revert pushed to ", "Flux applied the revert", "1.1.0 serves alone again", "The loop closed in"} {
		if !strings.Contains(demo, want) {
			t.Errorf("the demo did not say %q", want)
		}
	}
	out, err := run("marina sandbox status -o json")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	var st status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}

	t.Run("the kubeconfig reaches the cluster, whose real node is Ready", func(t *testing.T) { kubeconfigWorks(t, st.Kubeconfig) })
	t.Run("the Git URL clones the repository Flux syncs", func(t *testing.T) {
		work := filepath.Join(t.TempDir(), "clone")
		if out, err := exec.Command("git", "clone", "-q", st.Git, work).CombinedOutput(); err != nil {
			t.Fatalf("git clone %s: %v\n%s", st.Git, err, out)
		}
		if _, err := os.Stat(filepath.Join(work, "marina.yaml")); err != nil {
			t.Error(err)
		}
	})
	t.Run("the registry answers /v2/", func(t *testing.T) {
		if code := get(t, "http://"+st.Registry+"/v2/"); code != http.StatusOK {
			t.Errorf("GET /v2/: %d", code)
		}
	})
	t.Run("the demo's worse version is blocked in Git, reverted by marina controller, and history shows the rollback", func(t *testing.T) {
		demoInGit(t, st.Git)
	})
	t.Run("the ModelDeployment is back on the good version", func(t *testing.T) { backOnGood(t, st.Kubeconfig) })
	t.Run("marina ui runs in the cluster and shows the demo from Git and the cluster", func(t *testing.T) { uiInCluster(t, st.UI) })
	v1 := filepath.Join(root, "examples/ml-platform/models/iris-classifier/artifacts/v1.0.0.onnx")
	for key, want := range map[string]struct{ version, file string }{
		"iris-classifier/staging": {"1.1.0", onnxtest.Generated(t, "iris-classifier-v1-retrained.onnx")},
		"iris-classifier/prod":    {"1.0.0", v1},
	} {
		t.Run(key+" answers through marina router as ONNX Runtime does here", func(t *testing.T) {
			u, ok := st.Endpoints[key]
			if !ok {
				t.Fatalf("no endpoint %s in %v", key, st.Endpoints)
			}
			got, version := infer(t, u)
			if wantAnswers := inferencetest.IrisAnswers(t, want.file); !inferencetest.Same(got, wantAnswers) || version != want.version {
				t.Errorf("%s answers %v from version %q, want %v from %s", u, got, version, wantAnswers, want.version)
			}
		})
		t.Run("Prometheus scrapes "+key, func(t *testing.T) {
			model, env, _ := strings.Cut(key, "/")
			q := fmt.Sprintf(`up{job="marina-models",model=%q,environment=%q} == 1`, model, env)
			if n := series(t, st.Prometheus, q); n == 0 {
				t.Errorf("%s: no target up", q)
			}
		})
	}
	for _, line := range tour[1 : len(tour)-1] { // the tour's status, jq and curl lines
		t.Run(line, func(t *testing.T) {
			if out, err := run(line); err != nil {
				t.Errorf("%v\n%s", err, out)
			}
		})
	}
	t.Run("a second up is refused", func(t *testing.T) {
		out, err := run("marina sandbox up")
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(out, "already running") {
			t.Errorf("second up: %v\n%s", err, out)
		}
	})

	if out, err := run(tour[len(tour)-1]); err != nil || !strings.Contains(out, "Stopped") {
		t.Fatalf("%s: %v\n%s", tour[len(tour)-1], err, out)
	}
	if !sandbox.Exited(st.PID) {
		t.Errorf("the supervisor (pid %d) still runs after down", st.PID)
	}
	if out, err := run("marina sandbox down"); err != nil || !strings.Contains(out, "No sandbox is running") {
		t.Errorf("a second down: %v\n%s", err, out)
	}
	if out, err := run("marina sandbox status"); err == nil || !strings.Contains(out, "no sandbox is running") {
		t.Errorf("status after down: %v\n%s", err, out)
	}
	t.Run("after", func(t *testing.T) {
		testenv.HoldHost(t)
		for _, d := range before.Diff(testenv.SnapshotHost()) {
			t.Errorf("across the sandbox's life, %s", d)
		}
	})
}

// readmeFirstCommand is the first line of README.md's first bash block.
func readmeFirstCommand(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "```bash\n")
	if !ok {
		t.Fatal("README.md has no bash block")
	}
	line, _, _ := strings.Cut(block, "\n")
	line, _, _ = strings.Cut(line, "#")
	return strings.TrimSpace(line)
}

// demoInGit checks the demo's outcome in a fresh clone of the sandbox's repository: 1.2.0 blocked, the revert
// commit by marina controller naming it and the analysis, marina history showing staging's 1.2.0 → 1.1.0.
func demoInGit(t *testing.T, gitURL string) {
	work := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command("git", "clone", "-q", gitURL, work).CombinedOutput(); err != nil {
		t.Fatalf("git clone %s: %v\n%s", gitURL, err, out)
	}
	metadata, err := os.ReadFile(filepath.Join(work, "models", "iris-classifier", "v1.2.0.json"))
	if err != nil || !strings.Contains(string(metadata), `"blocked"`) {
		t.Errorf("models/iris-classifier/v1.2.0.json is not blocked: %v\n%s", err, metadata)
	}
	var history []struct{ Environment, From, To, Author, Commit, Message string }
	if err := json.Unmarshal([]byte(testenv.RunMarina(t, marina, work, "history", "iris-classifier", "--env", "staging", "-o", "json")), &history); err != nil {
		t.Fatal(err)
	}
	if len(history) < 2 {
		t.Fatalf("history has %d changes: %+v", len(history), history)
	}
	revert, promote := history[0], history[1] // newest first
	if revert.From != "1.2.0" || revert.To != "1.1.0" || !strings.HasPrefix(revert.Author, "marina-controller ") {
		t.Errorf("the last change of staging is not marina controller's revert of 1.2.0: %+v", revert)
	}
	out, err := exec.Command("git", "-C", work, "log", "-1", "--format=%B", revert.Commit).Output()
	if err != nil || !strings.Contains(string(out), "shadow-agreement") {
		t.Errorf("the revert commit %s does not say the shadow-agreement analysis failed: %v\n%s", revert.Commit, err, out)
	}
	if promote.From != "1.1.0" || promote.To != "1.2.0" {
		t.Errorf("the change before the revert is not the demo's promotion of 1.2.0: %+v", promote)
	}
}

// backOnGood checks that staging's ModelDeployment runs 1.1.0 alone.
func backOnGood(t *testing.T, kubeconfig string) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	var md v1alpha1.ModelDeployment
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "models-staging", Name: "iris-classifier"}, &md); err != nil {
		t.Fatal(err)
	}
	if md.Spec.Version != "1.1.0" || md.Status.StableVersion != "1.1.0" || md.Status.CanaryVersion != "" {
		t.Errorf("staging's ModelDeployment: spec.version %s, stable %q, canary %q; want 1.1.0 alone", md.Spec.Version, md.Status.StableVersion, md.Status.CanaryVersion)
	}
}

// uiInCluster checks marina ui as the sandbox runs it in the cluster (config/ui, on the real node, as its
// ServiceAccount, reading the repository over Git with the marina-git Secret's credentials): without the token it
// answers 401; with it, the matrix shows staging's iris-classifier at 1.1.0 from Git and in sync with the cluster,
// (within a minute: it pulls every 10 s), and its rollout page shows the demo's shadow-agreement analysis.
func uiInCluster(t *testing.T, address string) {
	u, err := url.Parse(address)
	if err != nil || !u.Query().Has("token") {
		t.Fatalf("status names marina ui at %q: want a URL with its ?token=", address)
	}
	bare := *u
	bare.RawQuery = ""
	if code := get(t, bare.String()); code != http.StatusUnauthorized {
		t.Errorf("GET %s without the token: %d, want 401", bare.Redacted(), code)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Timeout: 20 * time.Second, Jar: jar}
	page := func(u string) string {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", resp.Request.URL.Path, resp.StatusCode, b)
		}
		return string(b)
	}
	// marina ui pulls the repository every 10 s in the sandbox: the demo's last push (the revert) shows within that.
	var cell, sync, link []string
	deadline := time.Now().Add(time.Minute)
	for {
		matrix := page(address)
		cell = regexp.MustCompile(`(?s)data-model="iris-classifier" data-env="staging" data-version="([^"]*)".*?</td>`).FindStringSubmatch(matrix)
		if cell == nil {
			t.Fatalf("the matrix has no staging iris-classifier cell:\n%s", matrix)
		}
		sync = regexp.MustCompile(`data-sync="([^"]*)"`).FindStringSubmatch(cell[0])
		link = regexp.MustCompile(`href="(/rollouts/[^"]+)"`).FindStringSubmatch(cell[0])
		if sync == nil || link == nil {
			t.Fatalf("staging iris-classifier's cell has no cluster view or no rollout link:\n%s", cell[0])
		}
		if cell[1] == "1.1.0" && sync[1] == "in-sync" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("staging iris-classifier: version %s, %s for a minute; want 1.1.0, in-sync:\n%s", cell[1], sync[1], cell[0])
		}
		time.Sleep(2 * time.Second)
	}
	rollout := page(bare.Scheme + "://" + bare.Host + link[1])
	for _, want := range []string{"shadow-agreement", "1.1.0"} {
		if !strings.Contains(rollout, want) {
			t.Errorf("the rollout page %s does not show %q", link[1], want)
		}
	}
}

// examples are the command lines of a command's --help Example, continuation lines joined, comments left out.
func examples(t *testing.T, path string) []string {
	t.Helper()
	root := cli.NewRootCommand(nil, io.Discard, io.Discard)
	c, _, err := root.Find(strings.Fields(path)[1:])
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(c.Example))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) < 2 || !strings.HasSuffix(lines[0], "sandbox up") || !strings.HasSuffix(lines[len(lines)-1], "sandbox down") {
		t.Fatalf("%s's examples do not start with up and end with down: %q", path, lines)
	}
	return lines
}

func kubeconfigWorks(t *testing.T, kubeconfig string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var nodes corev1.NodeList
	if err := c.List(context.Background(), &nodes); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if n.Labels[testenv.RealNodeLabel] == "real" {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					return
				}
			}
		}
	}
	t.Errorf("no Ready real node among %d nodes", len(nodes.Items))
}

// infer posts inferencetest.Iris to an endpoint over the Open Inference Protocol (v2) and returns the probabilities
// and the version marina router says answered (X-Marina-Version).
func infer(t *testing.T, endpoint string) ([]float32, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{"name": "input", "shape": []int{3, 4}, "datatype": "FP32", "data": inferencetest.Iris}}})
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Post(endpoint+"/v2/models/iris-classifier/infer", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var got struct {
		Outputs []struct{ Data []float32 }
	}
	if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != http.StatusOK || len(got.Outputs) != 1 {
		t.Fatalf("POST %s: %d %s", endpoint, resp.StatusCode, b)
	}
	return got.Outputs[0].Data, resp.Header.Get("X-Marina-Version")
}

func get(t *testing.T, u string) int {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// series is how many series Prometheus's instant query q returns.
func series(t *testing.T, prometheus, q string) int {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(prometheus + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct{ Result []json.RawMessage }
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return len(body.Data.Result)
}
