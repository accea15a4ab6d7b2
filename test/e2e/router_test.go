//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model/onnxtest"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/testenv"
)

// routedNamespace is staging's namespace in the repository marina init makes.
const routedNamespace = "models-staging"

// TestTheRouterRoutesAndComparesOnTheRealNode: a backend marina model, rendered from a repository made with
// marina init, runs on the real node behind the marina router the controller (a ServiceAccount bound to the RBAC
// config/rbac ships) deploys in front of it. The router's Pods are in-cluster clients as in any cluster — their
// ServiceAccount's token, the kubernetes Service — and read their ModelDeployment; the model's Service answers
// through them with the version's answers; under a shadow rollout they mirror every request to the new version and
// compare its answers, which Prometheus scrapes from them with the namespace the built-in analyses select.
func TestTheRouterRoutesAndComparesOnTheRealNode(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true, Workloads: true, InClusterClients: true})
	d := startDataPath(t, c, testenv.RealNode{DNS: true}) // the router reaches the versions by their Services' names
	c.InstallRBAC(t, testenv.Installs[0])
	runController(t, c.ServiceAccount(t, testenv.ControllerNamespace, "marina-controller").Kubeconfig, "")
	v1, v2 := irisV1(), onnxtest.Generated(t, "iris-classifier-v2-worse.onnx")
	work := routedRepo(t, d, "", "      strategy: {shadow: {percent: 100, duration: 1h}}\n", modelVersion{"1.0.0", v1}, modelVersion{"1.1.0", v2})
	staging := filepath.Join(work, "applications", "iris-classifier", "staging")
	c.Create(t, testenv.Kustomize(t, staging)...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s\n%s", endpoints(c, routedNamespace), c.Logs("kubelet"))
		}
	})

	waitModel(t, c, "1.0.0 stable and its router Ready on the real node", func(md *v1alpha1.ModelDeployment) bool {
		return md.Status.StableVersion == "1.0.0" && meta.IsStatusConditionTrue(md.Status.Conditions, v1alpha1.ReadyCondition)
	})
	routerRunning(t, c)
	answersAre(t, c, routedNamespace, "iris-classifier", inferencetest.IrisAnswers(t, v1), "the model's Service answers with 1.0.0 through the router")

	prom := c.StartPrometheus(t, realNodeName)
	testenv.RunMarina(t, marina, work, "promote", "iris-classifier@1.1.0", "--env", "staging")
	c.Kubectl(t, "apply", "--server-side", "--force-conflicts", "-k", staging)
	waitModel(t, c, "1.1.0 in shadow", func(md *v1alpha1.ModelDeployment) bool {
		return md.Status.CanaryVersion == "1.1.0" && md.Status.Weights != nil && md.Status.Weights.Shadow == 100
	})
	// The live answers stay 1.0.0's while 1.1.0 gets a copy of each request.
	answersAre(t, c, routedNamespace, "iris-classifier", inferencetest.IrisAnswers(t, v1), "1.0.0 answers while 1.1.0 is the shadow")
	if inferencetest.Same(inferencetest.IrisAnswers(t, v1), inferencetest.IrisAnswers(t, v2)) {
		t.Fatal("fixture: 1.1.0 answers as 1.0.0 does")
	}
	ctx := context.Background()
	for _, q := range []string{
		`sum(marina_router_shadow_comparisons_total{namespace="models-staging", model="iris-classifier", primary="1.0.0", shadow="1.1.0"}) > 0`,
		`sum(marina_router_shadow_argmax_rows_total{namespace="models-staging", model="iris-classifier", shadow="1.1.0"}) > 0`,
	} {
		prom.WaitForData(ctx, t, q, 1)
	}
}

// modelVersion is one version of iris-classifier and its model file.
type modelVersion struct{ version, file string }

// irisV1 is iris-classifier 1.0.0's model file, from the example repository.
func irisV1() string {
	return filepath.Join(repotest.ExamplePath(), "models", "iris-classifier", "artifacts", "v1.0.0.onnx")
}

// routedRepo makes staging's repository with marina init (--repo-url repoURL, unless ""): iris-classifier on
// backend marina, versions registered and pushed to d's registry, model servers and router on the real node,
// staging at the first version with the settings of staging (model.yaml lines under the environment, e.g. its
// strategy); rendered and committed. It returns the clone.
func routedRepo(t *testing.T, d *dataPath, repoURL, staging string, versions ...modelVersion) string {
	t.Helper()
	work := filepath.Join(t.TempDir(), "ml-platform")
	repotest.SetIdentity(t, "e2e")
	args := []string{"init", work, "--envs", "staging", "--engine", "flux", "--ci", "github"}
	if repoURL != "" {
		args = append(args, "--repo-url", repoURL)
	}
	testenv.RunMarina(t, marina, filepath.Dir(work), args...)
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
