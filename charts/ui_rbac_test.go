package charts_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/status"
	"github.com/marina-dev/marina/internal/testenv"
)

// TestUIReadsTheClusterAsItsServiceAccount runs marina ui's reads of the cluster (status.Cluster, what each page
// reads) with a real token of marina ui's ServiceAccount, bound by nothing but the RBAC each install ships, on a
// repository whose models use every backend (so Deployments, ModelDeployments and InferenceServices are all
// listed); then checks the token reads no Secret and writes nothing.
func TestUIReadsTheClusterAsItsServiceAccount(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true})
	dir := repotest.Example(t, map[string]string{
		"applications/iris-classifier/model.yaml": withBackend(t, "iris-classifier", project.BackendMarina),
		"applications/vision-gpu/model.yaml":      withBackend(t, "vision-gpu", project.BackendKServe),
	})
	r := repotest.Open(t, dir)
	rows, err := status.Read(r, status.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	rollout := modelDeployment(t, c, rows)
	var rules [][]any
	for _, install := range testenv.UIInstalls {
		// Not parallel: both installs create the same cluster-wide ClusterRole and binding.
		t.Run(install.Name, func(t *testing.T) {
			for _, o := range install.RBAC(t) {
				if o.GetKind() == "ClusterRole" {
					rs, _ := o.Object["rules"].([]any)
					rules = append(rules, rs)
				}
			}
			c.InstallRBAC(t, install)
			sa := c.ServiceAccount(t, testenv.ControllerNamespace, testenv.UIAccount)
			cluster, err := status.NewCluster(sa.Config)
			if err != nil {
				t.Fatal(err)
			}
			got := append([]status.Row(nil), rows...)
			if err := cluster.Read(context.Background(), got); err != nil {
				t.Fatalf("marina ui's reads as its ServiceAccount: %v", err)
			}
			models := map[string]bool{}
			for _, row := range got {
				if row.Environment == "" {
					continue
				}
				if row.Cluster == nil {
					t.Fatalf("%s/%s: no cluster view", row.Model, row.Environment)
				}
				for _, w := range row.Cluster.Workloads {
					if w.Name == "" {
						t.Errorf("%s/%s: %s", row.Model, row.Environment, w.Message)
					}
				}
				models[row.Model] = true
			}
			if len(models) != 2 {
				t.Errorf("the cluster was read for %v, want both models", models)
			}

			// A rollout page: the ModelDeployment and the Events about it.
			md := got[0]
			for _, row := range got {
				if row.Model == "iris-classifier" && row.Environment != "" {
					md = row
				}
			}
			if _, err := cluster.Rollout(context.Background(), md.Namespace, md.Model); !apierrors.IsNotFound(err) {
				t.Errorf("a rollout page of a ModelDeployment that does not exist, as marina ui: err %v, want not found", err)
			}
			if ro, err := cluster.Rollout(context.Background(), rollout.Namespace, rollout.Name); err != nil || len(ro.Events) != 1 {
				t.Errorf("a rollout page as marina ui: %+v, %v; want the ModelDeployment and its Event", ro, err)
			}

			cs, err := kubernetes.NewForConfig(sa.Config)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cs.CoreV1().Secrets(testenv.ControllerNamespace).Get(context.Background(), "marina-ui-token", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
				t.Errorf("getting a Secret as marina ui: err %v, want forbidden", err)
			}
			if _, err := cs.CoreV1().Secrets("").List(context.Background(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
				t.Errorf("listing Secrets as marina ui: err %v, want forbidden", err)
			}
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: testenv.ControllerNamespace}}
			if _, err := cs.AppsV1().Deployments(testenv.ControllerNamespace).Create(context.Background(), d, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); !apierrors.IsForbidden(err) {
				t.Errorf("creating a Deployment as marina ui: err %v, want forbidden", err)
			}
			if _, err := cs.CoreV1().Pods(testenv.ControllerNamespace).List(context.Background(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
				t.Errorf("listing Pods as marina ui: err %v, want forbidden (it reads nothing else)", err)
			}
		})
	}
	if len(rules) == 2 && !reflect.DeepEqual(rules[0], rules[1]) {
		t.Errorf("config/ui's ClusterRole marina-ui grants %v, the chart's %v: keep them one", rules[0], rules[1])
	}
}

// withBackend is the example's model.yaml of name with its backend replaced.
func withBackend(t *testing.T, name, backend string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repotest.ExamplePath(), "applications", name, "model.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "backend: plain", "backend: "+backend, 1)
	if s == string(b) {
		t.Fatalf("%s's model.yaml names no backend: plain", name)
	}
	return s
}

// modelDeployment creates, as the admin, the ModelDeployment of iris-classifier's first environment, with an Event
// about it, as the controller's recorder writes one.
func modelDeployment(t *testing.T, c *testenv.Cluster, rows []status.Row) *v1alpha1.ModelDeployment {
	t.Helper()
	ctx := context.Background()
	var row status.Row
	for _, r := range rows {
		if r.Model == "iris-classifier" && r.Environment != "" {
			row = r
			break
		}
	}
	c.CreateNamespaces(t, row.Namespace)
	md := &v1alpha1.ModelDeployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: row.Namespace, Name: "iris-rollout", Labels: map[string]string{
			v1alpha1.LabelModel: row.Model, v1alpha1.LabelEnvironment: row.Environment, v1alpha1.LabelVersion: row.Version,
		}},
		Spec: v1alpha1.ModelDeploymentSpec{
			Model: row.Model, Version: row.Version,
			Artifact: v1alpha1.Artifact{URI: "models/iris-classifier/artifacts/v1.0.0.onnx", Format: "onnx", Size: 350,
				Digest: "sha256:05f6759bd4f24b056f0d290267459d5b63dcc1f451fd702ee5796f4179c78cf5"},
			Runtime: v1alpha1.Runtime{Image: "ghcr.io/marina-dev/marina-serve:0.1.0", Port: 8080},
		},
	}
	if err := c.Client.Create(ctx, md); err != nil {
		t.Fatal(err)
	}
	e := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: md.Namespace, GenerateName: md.Name + "."},
		InvolvedObject: corev1.ObjectReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ModelDeployment",
			Namespace: md.Namespace, Name: md.Name, UID: md.UID},
		Type: corev1.EventTypeNormal, Reason: "Progressing", Message: "step 1", Count: 1,
		FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(),
	}
	if err := c.Client.Create(ctx, e); err != nil {
		t.Fatal(err)
	}
	return md
}
