package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/testenv"
)

type statusJSON struct {
	Models []struct {
		Model, Environment, Version, State string
		LastChange                         *struct{ Author, Commit, Message string }
		Blocked                            []string
		Cluster                            *struct {
			Sync      string
			Workloads []struct {
				Kind, Name, Version, Message string
				Ready                        bool
				Replicas, ReadyReplicas      *int32
			}
		}
	}
}

func (s statusJSON) row(t *testing.T, model, env string) int {
	t.Helper()
	for i, m := range s.Models {
		if m.Model == model && m.Environment == env {
			return i
		}
	}
	t.Fatalf("no row for %s/%s: %+v", model, env, s)
	return -1
}

// statusExample is the example repository with a blocked and a newer registered version of iris-classifier, prod
// moved to the newer one by a person (a hand edit, not marina), and vision-gpu on the controller's backend.
func statusExample(t *testing.T) string {
	t.Helper()
	meta, err := os.ReadFile(filepath.Join(repotest.ExamplePath(), "models", "iris-classifier", "v1.0.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	version := func(v, state string) string {
		s := strings.Replace(string(meta), `"version": "1.0.0"`, `"version": "`+v+`"`, 1)
		return strings.Replace(s, `"state": "active"`, `"state": "`+state+`", "stateReason": "test"`, 1)
	}
	app, err := os.ReadFile(filepath.Join(repotest.ExamplePath(), "applications", "vision-gpu", "model.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := repotest.Example(t, map[string]string{
		"models/iris-classifier/v0.9.0.json": version("0.9.0", "blocked"),
		"models/iris-classifier/v1.1.0.json": version("1.1.0", "registered"),
		"applications/vision-gpu/model.yaml": strings.Replace(string(app), "backend: plain", "backend: marina", 1),
	})
	mustMarina(t, "--repo", dir, "render", "--write")
	repotest.Git(t, dir, "add", "-A")
	repotest.Git(t, dir, "commit", "-qm", "vision-gpu: rollouts by the controller")
	return dir
}

// apply creates the objects of a rendered directory as kubectl apply -k would.
func apply(t *testing.T, c *testenv.Cluster, repoDir, dir string) {
	t.Helper()
	c.Create(t, testenv.Kustomize(t, filepath.Join(repoDir, dir))...)
}

// TestStatusShowsGitAndWhatTheClusterRuns runs marina status on the example: from Git alone, then against a real
// kube-apiserver where the rendered objects of some environments were applied and kwok runs their Pods.
func TestStatusShowsGitAndWhatTheClusterRuns(t *testing.T) {
	t.Parallel()
	dir := statusExample(t)
	// A person moves prod to 1.1.0 by hand; status names them as the last change.
	p := filepath.Join(dir, "applications", "iris-classifier", "model.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), "    prod:\n      version: 1.0.0", "    prod:\n      version: 1.1.0", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	repotest.Git(t, dir, "commit", "-qam", "prod: iris-classifier 1.1.0", "--author", "Alice Ops <alice@example.com>")

	t.Run("from Git: versions, states, last change and blocked versions", func(t *testing.T) {
		t.Parallel()
		out := mustMarina(t, "--repo", dir, "status")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "MODEL") || strings.Contains(lines[0], "CLUSTER") {
			t.Fatalf("want a header and 3 rows, no cluster columns:\n%s", out)
		}
		for i, want := range [][]string{
			{"iris-classifier", "staging", "1.0.0", "active", "0.9.0"},
			{"iris-classifier", "prod", "1.1.0", "registered", "Alice Ops", "0.9.0"},
			{"vision-gpu", "staging", "1.0.0", "active"},
		} {
			for _, w := range want {
				if !strings.Contains(lines[i+1], w) {
					t.Errorf("row %d lacks %q:\n%s", i+1, w, out)
				}
			}
		}

		var s statusJSON
		if err := json.Unmarshal([]byte(mustMarina(t, "--repo", dir, "status", "iris-classifier", "-o", "json")), &s); err != nil {
			t.Fatal(err)
		}
		if len(s.Models) != 2 {
			t.Fatalf("iris-classifier only: %+v", s)
		}
		prod := s.Models[s.row(t, "iris-classifier", "prod")]
		if prod.LastChange == nil || prod.LastChange.Author != "Alice Ops <alice@example.com>" || prod.LastChange.Message != "prod: iris-classifier 1.1.0" ||
			len(prod.Blocked) != 1 || prod.Blocked[0] != "0.9.0" || prod.Cluster != nil {
			t.Errorf("prod: %+v", prod)
		}
		out = mustMarina(t, "--repo", dir, "status", "--env", "prod", "-o", "yaml")
		if !strings.Contains(out, "environment: prod") || strings.Contains(out, "staging") {
			t.Errorf("--env prod:\n%s", out)
		}
	})

	t.Run("usage errors exit 2, an unknown model exits 1", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"--env", "qa"}, 2, `--env "qa" is not an environment of marina.yaml`},
			{[]string{"-o", "wide"}, 2, "unknown output format"},
			{[]string{"a", "b"}, 2, "accepts at most 1 arg"},
			{[]string{"fraud"}, 1, `model "fraud": neither applications/fraud/model.yaml nor models/fraud/ exists`},
			{[]string{"--timeout", "0s"}, 2, "--timeout 0s"},
		} {
			code, out, errOut := marina(t, append([]string{"--repo", dir, "status"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("status %v: exit %d, want %d and %q\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
			}
		}
	})

	t.Run("with a cluster: the version each environment runs and whether it is ready", func(t *testing.T) {
		t.Parallel()
		c := testenv.Start(t, testenv.Options{CRDs: true, Workloads: true})
		c.AddNode(t, testenv.Node{Name: "cpu-1"})
		// Argo CD or Flux applied what is committed: the hand edit did not re-render prod, so prod still runs
		// 1.0.0; nothing runs GPU pods.
		apply(t, c, dir, "applications/iris-classifier/staging")
		apply(t, c, dir, "applications/iris-classifier/prod")
		apply(t, c, dir, "applications/vision-gpu/staging")

		status := func(t *testing.T, args ...string) statusJSON {
			t.Helper()
			var s statusJSON
			out := mustMarina(t, append([]string{"--repo", dir, "status", "--kubeconfig", c.Kubeconfig, "-o", "json"}, args...)...)
			if err := json.Unmarshal([]byte(out), &s); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			return s
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var s statusJSON
		err := eventually.Poll(ctx, func(context.Context) (bool, error) {
			s = status(t)
			return s.Models[s.row(t, "iris-classifier", "staging")].Cluster.Sync == "in-sync", nil
		})
		if err != nil {
			t.Fatalf("staging never in sync: %+v", s)
		}
		staging := s.Models[s.row(t, "iris-classifier", "staging")].Cluster
		if len(staging.Workloads) != 1 || staging.Workloads[0].Kind != "Deployment" || staging.Workloads[0].Version != "1.0.0" ||
			!staging.Workloads[0].Ready || *staging.Workloads[0].ReadyReplicas == 0 {
			t.Errorf("iris staging: %+v", staging)
		}
		if prod := s.Models[s.row(t, "iris-classifier", "prod")].Cluster; prod.Sync != "out-of-sync" || len(prod.Workloads) != 1 || prod.Workloads[0].Version != "1.0.0" {
			t.Errorf("prod runs 1.0.0 while Git says 1.1.0: %+v", prod)
		}
		gpu := s.Models[s.row(t, "vision-gpu", "staging")].Cluster
		if gpu.Sync != "progressing" || len(gpu.Workloads) != 1 || gpu.Workloads[0].Kind != "ModelDeployment" || gpu.Workloads[0].Ready ||
			gpu.Workloads[0].Version != "1.0.0" || gpu.Workloads[0].Message != "no Ready condition yet" {
			t.Errorf("vision-gpu without a controller: %+v", gpu)
		}

		// The controller reports the ModelDeployment Ready.
		md := &unstructured.Unstructured{}
		md.SetAPIVersion("marina.dev/v1alpha1")
		md.SetKind("ModelDeployment")
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: "models-staging", Name: "vision-gpu"}, md); err != nil {
			t.Fatal(err)
		}
		cond := map[string]any{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "1.0.0 serves all traffic",
			"lastTransitionTime": metav1.Now().UTC().Format(time.RFC3339), "observedGeneration": md.GetGeneration()}
		if err := unstructured.SetNestedSlice(md.Object, []any{cond}, "status", "conditions"); err != nil {
			t.Fatal(err)
		}
		if err := c.Client.Status().Update(ctx, md); err != nil {
			t.Fatal(err)
		}
		s = status(t, "vision-gpu")
		if gpu := s.Models[0].Cluster; gpu.Sync != "in-sync" || !gpu.Workloads[0].Ready {
			t.Errorf("a Ready ModelDeployment: %+v", gpu)
		}

		out := mustMarina(t, "--repo", dir, "status", "--kubeconfig", c.Kubeconfig, "-n", "models-prod")
		if !strings.Contains(out, "CLUSTER") || !strings.Contains(out, "out-of-sync") || !strings.Contains(out, "1.0.0 ") || strings.Contains(out, "staging") {
			t.Errorf("-n models-prod table:\n%s", out)
		}
		code, out, errOut := marina(t, "--repo", dir, "status", "--kubeconfig", c.Kubeconfig, "-n", "default")
		if code != 2 || !strings.Contains(errOut, "-n default: no environment of marina.yaml deploys to it") {
			t.Errorf("-n default: exit %d\n%s%s", code, out, errOut)
		}
	})
}
