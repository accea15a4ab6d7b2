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
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/cli"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
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
	Endpoints  map[string]string `json:"endpoints"`
}

// TestSandboxServesTheExampleAndDownLeavesNothingBehind runs the sandbox's --help tour with the built binary:
// up brings everything up from the example repository; status -o json names a kubeconfig that works, a Git URL
// that clones, a registry that answers, a Prometheus scraping every model server, and endpoints answering an
// inference as ONNX Runtime does in this process; a second up is refused; down stops everything, and the host is
// as it was before (compared as test/node does), a second down says nothing runs.
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
	up := time.Now()
	if out, err := run(tour[0]); err != nil {
		t.Fatalf("%s: %v\n%s", tour[0], err, out)
	}
	t.Logf("marina sandbox up: %s", time.Since(up).Round(time.Second))
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
	want := inferencetest.IrisAnswers(t, filepath.Join(root, "examples/ml-platform/models/iris-classifier/artifacts/v1.0.0.onnx"))
	for _, key := range []string{"iris-classifier/staging", "iris-classifier/prod"} {
		t.Run(key+" answers as ONNX Runtime does here", func(t *testing.T) {
			u, ok := st.Endpoints[key]
			if !ok {
				t.Fatalf("no endpoint %s in %v", key, st.Endpoints)
			}
			if got := infer(t, u); !inferencetest.Same(got, want) {
				t.Errorf("%s answers %v, want %v", u, got, want)
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

// infer posts inferencetest.Iris to an endpoint over the Open Inference Protocol (v2) and returns the probabilities.
func infer(t *testing.T, endpoint string) []float32 {
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
	return got.Outputs[0].Data
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
