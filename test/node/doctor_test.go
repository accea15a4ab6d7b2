//go:build e2e

package node

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/doctor"
	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/testenv"
)

// brokenModel is a model whose rendered Deployment cannot serve on the real node, and what marina doctor must say
// about it: the evidence (the kubelet's or the container's own words) and the fix.
type brokenModel struct {
	name string
	// runtime is model.yaml's runtime block, given the server's and the init container's images.
	runtime func(serve, pull string) string
	// edit breaks the repository after the version is promoted (nil: the runtime block is what breaks it).
	edit     func(t *testing.T, work string)
	evidence []string
	fix      []string
}

// TestDoctorShowsWhyRenderedModelsDoNotServeOnARealNode renders four models the way a team does (marina init,
// model register --push, promote), each broken in one way users meet, applies what marina rendered to a cluster
// whose node runs containers for real, and runs marina doctor as a ServiceAccount bound to the marina-doctor
// ClusterRole that config/rbac ships: each failing model must be named, with the kubelet's or the container's
// message and the fix.
func TestDoctorShowsWhyRenderedModelsDoNotServeOnARealNode(t *testing.T) {
	inferencetest.Lib(t) // make image packs ONNX Runtime into marina-serve
	c := testenv.Start(t, testenv.Options{CRDs: true, Workloads: true})
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{HostIP: true})
	build := testenv.MakeImage(t, filepath.Join(t.TempDir(), "layout"), reg.Host+"/marina", true)
	c.StartRealNode(t, testenv.RealNode{Registry: reg})
	serve := reg.Host + "/marina/marina-serve@" + build.Digests["marina-serve"]
	pull := reg.Host + "/marina/marina@" + build.Digests["marina"]

	runtime := func(image string, args ...string) func(string, string) string {
		return func(serve, pull string) string {
			if image == "" {
				image = serve
			}
			s := fmt.Sprintf("  runtime:\n    image: %s\n    port: 8080\n    artifact: {pullImage: %s, plainHTTP: true}\n", image, pull)
			if len(args) > 0 {
				s += "    args: [" + strings.Join(args, ", ") + "]\n"
			}
			return s
		}
	}
	// A digest no image in the registry has: a team pinned a build it never pushed.
	missing := reg.Host + "/marina/marina-serve@sha256:" + strings.Repeat("0123456789abcdef", 4)
	models := []brokenModel{
		{
			name:     "iris-pull",
			runtime:  runtime(missing),
			evidence: []string{"pod iris-pull-", "container model-server", "not found"},
			fix:      []string{"runtime.image", "applications/iris-pull/model.yaml"},
		},
		{
			name:    "iris-digest",
			runtime: runtime(""),
			edit: func(t *testing.T, work string) {
				// The registered file's digest, edited: the artifact the pod pulls no longer matches its record.
				file := filepath.Join(work, "models", "iris-digest", "v1.0.0.json")
				replaceDigest(t, file)
			},
			evidence: []string{"pod iris-digest-", "container model-server", "exit code 1", "refusing to serve a different artifact"},
			fix:      []string{"artifact.digest", "models/iris-digest/v1.0.0.json"},
		},
		{
			name:     "iris-crash",
			runtime:  runtime("", "serve", "--model=/models/iris.onnx", "--addr=:8080"),
			evidence: []string{"pod iris-crash-", "container model-server", "exit code 2", "--model /models/iris.onnx: no such file"},
			fix:      []string{"runtime.args", "applications/iris-crash/model.yaml"},
		},
		{
			name: "iris-probe",
			// The server listens on 8081; the container port (and so every probe) says 8080.
			runtime:  runtime("", "serve", "--model=$(MARINA_MODEL_PATH)", "--digest=$(MARINA_MODEL_DIGEST)", "--name=$(MARINA_MODEL_NAME)", "--addr=:8081"),
			evidence: []string{"pod iris-probe-", "container model-server", "not Ready", "Startup probe failed", "connection refused"},
			fix:      []string{"runtime.port", "applications/iris-probe/model.yaml"},
		},
	}
	work := brokenRepo(t, reg.Host, serve, pull, models)
	for _, m := range models {
		c.Create(t, testenv.Kustomize(t, filepath.Join(work, "applications", m.name, "staging"))...)
	}

	kubeconfig := doctorAccount(t, c)
	var last []doctor.Check
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := eventually.Poll(ctx, func(ctx context.Context) (bool, error) {
		time.Sleep(2 * time.Second) // marina doctor is a process: not ten times a second
		last = testenv.Doctor(t, marina, work, kubeconfig)
		for _, m := range models {
			if !shows(find(last, doctor.CheckPods, m.name+"/staging"), m) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		for _, m := range models {
			ch := find(last, doctor.CheckPods, m.name+"/staging")
			if !shows(ch, m) {
				t.Errorf("marina doctor on %s: %s\nevidence: %s\nfix: %s\nwant fail, evidence with %q, fix with %q", m.name, ch.Status, ch.Evidence, ch.Fix, m.evidence, m.fix)
			}
		}
		t.Logf("every check:\n%s\npods and events:\n%s\n%s", dumpChecks(last), podsAndEvents(c), c.Logs("kubelet"))
	}
	for _, m := range models {
		ch := find(last, doctor.CheckPods, m.name+"/staging")
		t.Logf("marina doctor on %s: %s\nevidence: %s\nfix: %s", m.name, ch.Status, ch.Evidence, ch.Fix)
	}
	for _, ch := range last {
		if strings.Contains(strings.ToLower(ch.Evidence), "forbidden") {
			t.Errorf("%s %s could not read what it checks as marina-doctor: %s", ch.Name, ch.Target, ch.Evidence)
		}
	}
}

// brokenRepo makes the model repository: marina init, the iris classifier registered and pushed to the registry
// under each model's name, each model's model.yaml with its runtime block, promoted to staging, then each edit.
func brokenRepo(t *testing.T, registry, serve, pull string, models []brokenModel) string {
	t.Helper()
	work := filepath.Join(t.TempDir(), "ml-platform")
	repotest.SetIdentity(t, "e2e")
	testenv.RunMarina(t, marina, filepath.Dir(work), "init", work, "--envs", "staging", "--engine", "flux", "--ci", "github")
	onnx, err := os.ReadFile(filepath.Join(repotest.ExamplePath(), "models", "iris-classifier", "artifacts", "v1.0.0.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range models {
		repotest.WriteFile(t, work, "models/"+m.name+"/artifacts/v1.0.0.onnx", string(onnx))
		repotest.WriteFile(t, work, "applications/"+m.name+"/model.yaml", fmt.Sprintf(
			"apiVersion: marina.dev/v1alpha1\nkind: ModelApplication\nmetadata:\n  name: %s\nspec:\n  model: %s\n  backend: plain\n%s"+
				"  resources:\n    requests: {cpu: 100m, memory: 128Mi}\n    limits: {cpu: \"1\", memory: 512Mi}\n",
			m.name, m.name, m.runtime(serve, pull)))
	}
	repotest.Git(t, work, "add", "-A")
	repotest.Git(t, work, "commit", "-qm", "models and their applications")
	for _, m := range models {
		testenv.RunMarina(t, marina, work, "model", "register", m.name, "--version", "1.0.0", "--file", "models/"+m.name+"/artifacts/v1.0.0.onnx",
			"--push", "--to", registry+"/models/"+m.name, "--plain-http")
		testenv.RunMarina(t, marina, work, "promote", m.name+"@1.0.0", "--env", "staging")
	}
	for _, m := range models {
		if m.edit == nil {
			continue
		}
		m.edit(t, work)
		repotest.Git(t, work, "commit", "-qam", m.name+": edited")
		testenv.RunMarina(t, marina, work, "render", "--model", m.name, "--env", "staging", "--write")
		if repotest.Git(t, work, "status", "--porcelain") != "" {
			repotest.Git(t, work, "commit", "-qam", m.name+": rendered")
		}
	}
	return work
}

// replaceDigest replaces artifact.digest in a version's file by another well-formed digest.
func replaceDigest(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	artifact, _ := v["artifact"].(map[string]any)
	if artifact == nil || artifact["digest"] == nil {
		t.Fatalf("%s has no artifact.digest:\n%s", file, b)
	}
	artifact["digest"] = "sha256:" + strings.Repeat("ab", 32)
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// doctorAccount installs config/rbac and returns the kubeconfig of a ServiceAccount bound to marina-doctor only.
func doctorAccount(t *testing.T, c *testenv.Cluster) string {
	t.Helper()
	c.InstallRBAC(t, testenv.Installs[0])
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "doctor"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "marina-doctor"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "doctor", Namespace: "default"}}}
	if err := c.Client.Create(context.Background(), binding); err != nil {
		t.Fatal(err)
	}
	return c.ServiceAccount(t, "default", "doctor").Kubeconfig
}

func find(checks []doctor.Check, name, target string) doctor.Check {
	for _, c := range checks {
		if c.Name == name && c.Target == target {
			return c
		}
	}
	return doctor.Check{Name: name, Target: target, Status: "missing"}
}

// shows reports whether a check fails on m with m's evidence and fix.
func shows(c doctor.Check, m brokenModel) bool {
	if c.Status != doctor.Fail {
		return false
	}
	for _, s := range m.evidence {
		if !strings.Contains(c.Evidence, s) {
			return false
		}
	}
	for _, s := range m.fix {
		if !strings.Contains(c.Fix, s) {
			return false
		}
	}
	return true
}

func dumpChecks(checks []doctor.Check) string {
	var b strings.Builder
	for _, c := range checks {
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n\tfix: %s\n", c.Status, c.Name, c.Target, c.Evidence, c.Fix)
	}
	return b.String()
}

// podsAndEvents is every Pod's status and every Event of the cluster, for failure messages.
func podsAndEvents(c *testenv.Cluster) string {
	var b strings.Builder
	var pods corev1.PodList
	_ = c.Client.List(context.Background(), &pods)
	for _, p := range pods.Items {
		s, _ := json.Marshal(p.Status)
		fmt.Fprintf(&b, "Pod %s/%s: %s\n", p.Namespace, p.Name, s)
	}
	var events corev1.EventList
	_ = c.Client.List(context.Background(), &events, client.InNamespace("models-staging"))
	for _, e := range events.Items {
		fmt.Fprintf(&b, "Event %s %s/%s %s %s ×%d: %s\n", e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.InvolvedObject.FieldPath, e.Reason, e.Count, e.Message)
	}
	return b.String()
}
