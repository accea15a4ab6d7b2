package charts_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

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
