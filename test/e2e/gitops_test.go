//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/doctor"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model/onnxtest"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/testenv"
)

// gitopsRepo is a model repository made the way a team makes one — marina init, the example models registered
// and promoted — pushed to a Git server on loopback that the GitOps engine pulls from.
type gitopsRepo struct {
	work   string // the team's clone, with origin = url
	url    string // what marina.yaml and gitops/ name
	server *repotest.GitServer
	// v1 and v2 are iris-classifier's model files of 1.0.0 and 1.1.0 (v2 answers differently).
	v1, v2 string
}

// newGitOpsRepo makes the repository for one engine (argocd or flux). Every model runs marina's images from d's
// registry, pinned by digest, and every version is pushed there as an OCI artifact; staging's iris-classifier runs
// on the real node. edit runs on the fresh scaffold before the first push (the test's own settings, e.g. a shorter
// poll interval, as a team edits gitops/ by hand).
func newGitOpsRepo(t *testing.T, engine string, d *dataPath, edit func(work string)) *gitopsRepo {
	t.Helper()
	root := t.TempDir()
	server := repotest.ServeGit(t, root, repotest.GitAuth{})
	bare := filepath.Join(root, "ml-platform.git")
	example := repotest.ExamplePath()
	r := &gitopsRepo{work: filepath.Join(t.TempDir(), "ml-platform"), url: server.RepoURL(bare), server: server,
		v1: irisV1(), v2: onnxtest.Generated(t, "iris-classifier-v2-worse.onnx")}
	repotest.SetIdentity(t, "e2e")

	r.marina(t, "init", r.work, "--repo-url", r.url, "--engine", engine, "--ci", "github")
	for _, f := range []string{
		"models/iris-classifier/artifacts/v1.0.0.onnx", "models/iris-classifier/eval/iris.csv",
		"models/vision-gpu/artifacts/v1.0.0.onnx",
	} {
		copyFile(t, filepath.Join(example, f), filepath.Join(r.work, f))
	}
	for _, m := range []string{"iris-classifier", "vision-gpu"} {
		entries, err := os.ReadDir(filepath.Join(example, "..", "templates", m))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			copyFile(t, filepath.Join(example, "..", "templates", m, e.Name()), filepath.Join(r.work, "applications", m, e.Name()))
		}
	}
	// vision-gpu is rolled out by marina controller (a ModelDeployment), iris-classifier by plain Deployments:
	// each engine has to judge both.
	replaceIn(t, filepath.Join(r.work, "applications", "vision-gpu", "model.yaml"), "backend: plain", "backend: marina")
	// marina's images as make image built them, pinned by digest (prod's requireDigestPinnedImages holds).
	for _, m := range []string{"iris-classifier", "vision-gpu"} {
		replaceIn(t, filepath.Join(r.work, "applications", m, "model.yaml"), "  runtime:\n    image: ghcr.io/marina-dev/marina-serve:0.1.0\n    port: 8080\n", d.runtime())
	}
	if edit != nil {
		edit(r.work)
	}
	r.git(t, "add", "-A")
	r.git(t, "commit", "-qm", "e2e: models, applications and the test's GitOps settings")
	for _, v := range []struct{ model, version, file string }{
		{"iris-classifier", "1.0.0", r.v1}, {"iris-classifier", "1.1.0", r.v2}, {"vision-gpu", "1.0.0", "models/vision-gpu/artifacts/v1.0.0.onnx"},
	} {
		r.marina(t, "model", "register", v.model, "--version", v.version, "--file", v.file,
			"--push", "--to", d.reg.Host+"/models/"+v.model, "--plain-http")
	}
	r.marina(t, "promote", "iris-classifier@1.0.0", "--env", "staging")
	r.marina(t, "promote", "iris-classifier@1.0.0", "--env", "prod")
	r.marina(t, "promote", "vision-gpu@1.0.0", "--env", "staging")
	replaceIn(t, filepath.Join(r.work, "applications", "iris-classifier", "model.yaml"), "    staging:\n      version: 1.0.0\n", "    staging:\n      version: 1.0.0\n"+onRealNode())
	r.marina(t, "render", "--model", "iris-classifier", "--env", "staging", "--write")
	r.git(t, "commit", "-qam", "e2e: staging's iris-classifier runs on the real node")

	repotest.Publish(t, r.work, bare, r.url) // anonymous pushes, as the test's team pushes
	return r
}

// marina runs the marina binary in the repository and fails the test on a non-zero exit.
func (r *gitopsRepo) marina(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(marina, args...)
	cmd.Dir = r.work
	if args[0] == "init" {
		cmd.Dir = filepath.Dir(r.work)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("marina %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (r *gitopsRepo) git(t *testing.T, args ...string) string {
	t.Helper()
	return repotest.Git(t, r.work, args...)
}

// head is the commit the team's clone is at.
func (r *gitopsRepo) head(t *testing.T) string { return r.git(t, "rev-parse", "HEAD") }

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// applyKustomization does what `kubectl apply -k dir` does for the bootstrap step of the README: build the
// kustomization and server-side apply every object.
func applyKustomization(t *testing.T, c client.Client, dir string) {
	t.Helper()
	for _, u := range testenv.Kustomize(t, dir) {
		if err := c.Patch(context.Background(), u, client.Apply, client.FieldOwner("kubectl"), client.ForceOwnership); err != nil {
			t.Fatalf("applying %s %s from %s: %v", u.GetKind(), u.GetName(), dir, err)
		}
	}
}

// replaceIn replaces the first old in file by new, failing the test when file has no old.
func replaceIn(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), old, new, 1)
	if s == string(b) {
		t.Fatalf("%s has no %q", file, old)
	}
	if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// gitopsCluster is a control plane with workloads and resource metrics, a CPU node, a GPU node (both kwok), a
// real node with marina's images in a registry it pulls from (dataPath), the Gateway the rendered HTTPRoutes attach
// to (accepted by testenv's stand-in) and marina controller watching every namespace.
func gitopsCluster(t *testing.T) (*testenv.Cluster, *dataPath) {
	t.Helper()
	c := testenv.Start(t, testenv.Options{CRDs: true, Workloads: true, Metrics: true})
	c.AddNode(t, testenv.Node{Name: "cpu-0", CPU: "16", Memory: "64Gi"})
	c.AddNode(t, testenv.Node{Name: "gpu-0", GPUs: 2})
	d := startDataPath(t, c, testenv.RealNode{})
	c.AcceptRoutes(t, render.DefaultGatewayNamespace, render.DefaultGatewayName)
	runController(t, c.Kubeconfig, "")
	return c, d
}

// running reports whether each model (namespace/name → version) runs its version on all replicas, GPU models
// (vision-*, rolled out by marina controller) on the GPU node and the others on the CPU node.
func running(ctx context.Context, c client.Client, want map[string]string) (bool, string) {
	for key, version := range want {
		ns, name, _ := strings.Cut(key, "/")
		if !strings.HasPrefix(name, "vision-") {
			if ok, why := deploymentRunning(ctx, c, ns, name, version, "cpu-"); !ok {
				return false, why
			}
			continue
		}
		var md v1alpha1.ModelDeployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &md); err != nil {
			return false, err.Error()
		}
		ready := meta.FindStatusCondition(md.Status.Conditions, "Ready")
		if md.Status.ObservedGeneration < md.Generation || ready == nil || ready.Status != metav1.ConditionTrue || md.Status.StableVersion != version {
			return false, fmt.Sprintf("ModelDeployment %s: stable %q, want %s; Ready %+v", key, md.Status.StableVersion, version, ready)
		}
		if ok, why := deploymentRunning(ctx, c, ns, name+"-"+strings.ReplaceAll(version, ".", "-"), version, "gpu-"); !ok {
			return false, why
		}
	}
	return true, ""
}

// deploymentRunning reports whether Deployment ns/name runs version on all its replicas, Ready, on nodes whose
// names start with node.
func deploymentRunning(ctx context.Context, c client.Client, ns, name, version, node string) (bool, string) {
	var d appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
		return false, err.Error()
	}
	if v := d.Spec.Template.Labels["marina.dev/version"]; v != version {
		return false, fmt.Sprintf("Deployment %s/%s runs %s, want %s", ns, name, v, version)
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != want || s.ReadyReplicas != want || s.Replicas != want {
		return false, fmt.Sprintf("Deployment %s/%s: %d/%d updated, %d ready, %d in all", ns, name, s.UpdatedReplicas, want, s.ReadyReplicas, s.Replicas)
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(d.Spec.Selector.MatchLabels)); err != nil {
		return false, err.Error()
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && !strings.HasPrefix(p.Spec.NodeName, node) {
			return false, fmt.Sprintf("Pod %s is on node %q, want %s*", p.Name, p.Spec.NodeName, node)
		}
	}
	return true, ""
}

// conditionTrue reports whether an unstructured object's condition typ is True, and its message otherwise.
func conditionTrue(u *unstructured.Unstructured, typ string) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			msg, _ := m["message"].(string)
			return m["status"] == "True", fmt.Sprintf("%s %s=%v: %s", u.GetName(), typ, m["status"], msg)
		}
	}
	return false, u.GetName() + ": no " + typ + " condition yet"
}

// getUnstructured reads one object of apiVersion/kind.
func getUnstructured(ctx context.Context, c client.Client, apiVersion, kind, ns, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		return nil, fmt.Errorf("%s %s/%s: %w", kind, ns, name, err)
	}
	return u, nil
}

// stringAt is the string at path in u, or "".
func stringAt(u *unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, path...)
	return s
}

// hpaScales has the HPA of iris-classifier in prod scale its Deployment to the maximum (CPU use 2× the request
// against a 70% target) and returns the replica count.
func hpaScales(t *testing.T, c *testenv.Cluster) int32 {
	t.Helper()
	c.Metrics.SetCPU("models-prod", "500m")
	var replicas int32
	testenv.WaitUntil(t, "the HPA scales iris-classifier in prod up", 2*time.Minute, func(ctx context.Context) (bool, string) {
		var d appsv1.Deployment
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: "models-prod", Name: "iris-classifier"}, &d); err != nil {
			return false, err.Error()
		}
		replicas = *d.Spec.Replicas
		return replicas == 6, fmt.Sprintf("%d replicas, want the HPA's maximum 6", replicas)
	})
	return replicas
}

// replicasAfter checks that Deployment models-prod/iris-classifier still has want replicas; the caller has made sure
// the engine reconciled prod again after the HPA scaled it.
func replicasAfter(t *testing.T, c *testenv.Cluster, want int32) {
	t.Helper()
	var d appsv1.Deployment
	if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: "models-prod", Name: "iris-classifier"}, &d); err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != want {
		t.Fatalf("after the engine reconciled, iris-classifier in prod has %d replicas; the HPA had set %d", *d.Spec.Replicas, want)
	}
}

// doctor runs `marina doctor -o json` in the repository against the cluster (it exits 1 when a check fails) and
// returns the check named name on target.
func (r *gitopsRepo) doctor(t *testing.T, kubeconfig, name, target string) doctor.Check {
	t.Helper()
	checks := testenv.Doctor(t, marina, r.work, kubeconfig)
	for _, c := range checks {
		if c.Name == name && c.Target == target {
			return c
		}
	}
	t.Fatalf("marina doctor has no %s check of %q: %+v", name, target, checks)
	return doctor.Check{}
}

// expectFailure checks that a doctor check fails and that its evidence and fix say what they must.
func expectFailure(t *testing.T, c doctor.Check, evidence, fix string) {
	t.Helper()
	if c.Status != doctor.Fail || !strings.Contains(c.Evidence, evidence) || !strings.Contains(c.Fix, fix) {
		t.Errorf("marina doctor %s %s: %s\nevidence: %s\nfix: %s\nwant fail, evidence with %q, fix with %q", c.Name, c.Target, c.Status, c.Evidence, c.Fix, evidence, fix)
	}
}

// failurePaths runs the failures users meet with an engine: a pushed manifest the API server rejects, and a Git
// server that starts refusing the engine. rejected and refused say how the engine reports each and which doctor
// check must then fail. After each the cause is undone and the engine must apply the repository's head again.
func failurePaths(t *testing.T, c *testenv.Cluster, r *gitopsRepo, e engine, rejected, refused engineFailure) {
	synced := func(t *testing.T) {
		// Argo CD retries a failed automated sync 5 times (5 s doubling, ~2.5 min) before it syncs a newer commit.
		e.wait(t, c, r, "applies the repository again", 5*time.Minute, map[string]string{"models-staging/iris-classifier": "1.0.0"})
	}
	t.Run("a manifest the API server rejects", func(t *testing.T) {
		// A CPU request above the limit: kustomize builds it, offline validation has no rule for it, the server says no.
		file := "applications/iris-classifier/staging/deployment.yaml"
		replaceIn(t, filepath.Join(r.work, file), "cpu: 250m", `cpu: "2"`)
		r.git(t, "commit", "-qam", "iris-classifier: more CPU in staging")
		r.git(t, "push", "-q", "origin", "main")
		took := testenv.WaitUntil(t, "the engine reports the rejected Deployment", 2*time.Minute, rejected.wait)
		t.Logf("push to the engine reporting the rejection: %s", took.Round(100*time.Millisecond))
		expectFailure(t, r.doctor(t, c.Kubeconfig, rejected.check, rejected.target), "must be less than or equal to cpu limit", "fix "+file)
		r.git(t, "revert", "--no-edit", "HEAD")
		r.git(t, "push", "-q", "origin", "main")
		synced(t)
	})
	t.Run("the Git server refuses credentials", func(t *testing.T) {
		r.server.SetAuth(repotest.GitAuth{Username: "ci", Password: "rotated-token"})
		t.Cleanup(func() { r.server.SetAuth(repotest.GitAuth{}) }) // also when this subtest fails
		testenv.WaitUntil(t, "the engine reports the refusal", 2*time.Minute, refused.wait)
		expectFailure(t, r.doctor(t, c.Kubeconfig, refused.check, refused.target), "authentication required", "")
		r.server.SetAuth(repotest.GitAuth{})
		synced(t)
	})
}

// engineFailure is how a test waits for an engine to report a failure, and the doctor check that shows it.
type engineFailure struct {
	wait          func(ctx context.Context) (bool, string)
	check, target string
}

// engine is a GitOps engine as the tests drive it.
type engine struct {
	name string // "Flux", "Argo CD"
	dir  string // its directory under gitops/, applied once to bootstrap
	// applied reports whether the engine has applied revision rev of the repository and found it healthy.
	applied func(ctx context.Context, c client.Client, rev string) (bool, string)
	// setting names the test's poll setting, for the timings it logs.
	setting string
}

// wait waits until the engine has applied the head of the team's clone and the models run the versions of want
// (namespace/name → version), and returns how long that took.
func (e engine) wait(t *testing.T, c *testenv.Cluster, r *gitopsRepo, what string, timeout time.Duration, want map[string]string) time.Duration {
	t.Helper()
	rev := r.head(t)
	return testenv.WaitUntil(t, e.name+" "+what, timeout, func(ctx context.Context) (bool, string) {
		if ok, why := e.applied(ctx, c.Client, rev); !ok {
			return false, why
		}
		return running(ctx, c.Client, want)
	})
}

// deliver bootstraps the engine as the README says (kubectl apply -k gitops/<engine>) and follows a promotion and
// a rollback from `git push` to Ready Pods, logging how long each took.
func (e engine) deliver(t *testing.T, c *testenv.Cluster, r *gitopsRepo) {
	t.Helper()
	applyKustomization(t, c.Client, filepath.Join(r.work, "gitops", e.dir))
	took := e.wait(t, c, r, "applies the repository", 5*time.Minute, map[string]string{
		"models-staging/iris-classifier": "1.0.0", "models-prod/iris-classifier": "1.0.0", "models-staging/vision-gpu": "1.0.0",
	})
	t.Logf("bootstrap (kubectl apply -k gitops/%s) to every engine object healthy and every Pod Ready: %s", e.dir, took.Round(100*time.Millisecond))
	v1, v2 := inferencetest.IrisAnswers(t, r.v1), inferencetest.IrisAnswers(t, r.v2)
	answersAre(t, c, "models-staging", "iris-classifier", v1, "staging's iris-classifier 1.0.0 answers through its Service as ONNX Runtime on the host does")
	for _, step := range []struct {
		name    string
		args    []string
		want    map[string]string
		answers []float32
	}{
		{"promote", []string{"promote", "iris-classifier@1.1.0", "--env", "staging", "--push"},
			map[string]string{"models-staging/iris-classifier": "1.1.0", "models-prod/iris-classifier": "1.0.0"}, v2},
		{"rollback", []string{"rollback", "iris-classifier", "--env", "staging", "--reason", "e2e", "--push"},
			map[string]string{"models-staging/iris-classifier": "1.0.0"}, v1},
	} {
		t.Run(step.name, func(t *testing.T) {
			r.marina(t, step.args...)
			took := e.wait(t, c, r, "applies the "+step.name, 3*time.Minute, step.want)
			t.Logf("marina %s --push to Ready in staging: %s (%s)", step.name, took.Round(100*time.Millisecond), e.setting)
			answersAre(t, c, "models-staging", "iris-classifier", step.answers, "staging answers with the model of the "+step.name)
		})
	}
}
