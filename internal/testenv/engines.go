package testenv

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/prereq"
)

// The GitOps engines hack/flux.sh and hack/argocd.sh build; the versions name their cache directories.
const (
	FluxVersion     = "v1.9.6"
	FluxNamespace   = "flux-system"
	ArgoCDVersion   = "v3.6.1"
	ArgoCDNamespace = "argocd"
)

// StartFlux runs Flux's source-controller and kustomize-controller (from hack/flux.sh) against the cluster, in
// namespace flux-system, until the test ends. The cluster needs Options.CRDs (Flux's CRDs are among them).
// requeueDependency is how soon a Kustomization waiting for its dependsOn is looked at again (Flux's default: 30s).
func (c *Cluster) StartFlux(tb TB, requeueDependency time.Duration) {
	tb.Helper()
	dir := cached(tb, FluxAsset)
	c.CreateNamespaces(tb, FluxNamespace)
	storage := tb.TempDir()
	ports := freePorts(tb, 5)
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	env := append(os.Environ(), "KUBECONFIG="+c.Kubeconfig, "RUNTIME_NAMESPACE="+FluxNamespace)

	source := exec.Command(filepath.Join(dir, "source-controller"), "--storage-path="+storage,
		"--storage-addr="+addr(0), "--storage-adv-addr="+addr(0), "--metrics-addr="+addr(1), "--health-addr="+addr(2),
		"--events-addr=", "--log-level=debug")
	source.Env = env
	c.start(tb, "source-controller", source)
	kustomize := exec.Command(filepath.Join(dir, "kustomize-controller"), "--metrics-addr="+addr(3),
		"--health-addr="+addr(4), "--events-addr=", "--requeue-dependency="+requeueDependency.String(), "--log-level=debug")
	kustomize.Env = env
	c.start(tb, "kustomize-controller", kustomize)
	c.waitHealthy(tb, "source-controller", "http://"+addr(2)+"/readyz")
	c.waitHealthy(tb, "kustomize-controller", "http://"+addr(4)+"/readyz")
}

// ArgoCD is what StartArgoCD runs.
type ArgoCD struct {
	// Reconciliation is argocd-cm's timeout.reconciliation (Argo CD's install passes it to every component as
	// ARGOCD_RECONCILIATION_TIMEOUT): how often Applications are compared with Git, and how long the repo-server
	// caches what a branch points to. Argo CD's default is 180 s; jitter is off here, and repository errors show in
	// Application conditions after two reconciliations (Argo CD's default grace: 180 s).
	Reconciliation time.Duration
}

// StartArgoCD runs Argo CD's repo-server, application-controller and applicationset-controller (one binary from
// hack/argocd.sh) and Debian's redis-server against the cluster, in namespace argocd, until the test ends. It
// creates what an Argo CD install has besides the workloads: the namespace, ConfigMap argocd-cm, Secret
// argocd-secret and AppProject default. The cluster needs Options.CRDs (Argo CD's CRDs are among them).
func (c *Cluster) StartArgoCD(tb TB, o ArgoCD) {
	tb.Helper()
	dir := cached(tb, ArgoCDAsset)
	redis, err := exec.LookPath("redis-server")
	if err != nil {
		prereq.Missing(tb, "redis-server is not installed: run `bash hack/argocd.sh` (installs the Debian package)")
	}
	c.CreateNamespaces(tb, ArgoCDNamespace)
	c.createArgoCDSettings(tb)

	ports := freePorts(tb, 7)
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	home := tb.TempDir()
	for _, d := range []string{"tls", "ssh", "gnupg"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	env := append(os.Environ(), "KUBECONFIG="+c.Kubeconfig, "HOME="+home,
		// The repo-server of v3.6 runs git through hack/git-verify-wrapper.sh, found on PATH.
		"PATH="+filepath.Join(dir, "path")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"ARGOCD_FAKE_IN_CLUSTER=true", "ARGOCD_GPG_ENABLED=false",
		"ARGOCD_TLS_DATA_PATH="+filepath.Join(home, "tls"), "ARGOCD_SSH_DATA_PATH="+filepath.Join(home, "ssh"),
		"ARGOCD_GNUPGHOME="+filepath.Join(home, "gnupg"), "ARGOCD_RECONCILIATION_TIMEOUT="+o.Reconciliation.String(),
		"ARGOCD_RECONCILIATION_JITTER=0s",
		// How long repository errors are kept out of Application conditions (default 3 min): two reconciliations.
		"ARGOCD_REPO_ERROR_GRACE_PERIOD_SECONDS="+(2*o.Reconciliation).String())
	argocd := func(component string, args ...string) {
		cmd := exec.Command(filepath.Join(dir, "argocd"), args...)
		cmd.Env = append(env, "ARGOCD_BINARY_NAME="+component)
		c.start(tb, component, cmd)
	}

	c.start(tb, "redis-server", exec.Command(redis, "--port", strconv.Itoa(ports[0]), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no"))
	// The repo-server keeps TLS on: --disable-tls conflicts with the client CA default in v3.6.
	argocd("argocd-repo-server", "--address=127.0.0.1", "--port="+strconv.Itoa(ports[1]),
		"--metrics-address=127.0.0.1", "--metrics-port="+strconv.Itoa(ports[2]), "--redis="+addr(0), "--loglevel=debug")
	argocd("argocd-application-controller", "--namespace="+ArgoCDNamespace, "--repo-server="+addr(1),
		"--redis="+addr(0), "--metrics-port="+strconv.Itoa(ports[3]), "--loglevel=debug")
	argocd("argocd-applicationset-controller", "--namespace="+ArgoCDNamespace, "--argocd-repo-server="+addr(1),
		"--metrics-addr="+addr(4), "--probe-addr="+addr(5), "--webhook-addr="+addr(6), "--loglevel=debug")
	c.waitHealthy(tb, "argocd-repo-server", "http://"+addr(2)+"/metrics")
	c.waitHealthy(tb, "argocd-applicationset-controller", "http://"+addr(4)+"/metrics")
}

// createArgoCDSettings creates the objects Argo CD's install manifests carry besides its workloads.
func (c *Cluster) createArgoCDSettings(tb TB) {
	tb.Helper()
	partOf := map[string]string{"app.kubernetes.io/part-of": "argocd"}
	project := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
		"metadata": map[string]any{"name": "default", "namespace": ArgoCDNamespace},
		"spec": map[string]any{
			"sourceRepos":              []any{"*"},
			"destinations":             []any{map[string]any{"namespace": "*", "server": "*"}},
			"clusterResourceWhitelist": []any{map[string]any{"group": "*", "kind": "*"}},
		},
	}}
	ctx := context.Background()
	for _, obj := range []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "argocd-cm", Namespace: ArgoCDNamespace, Labels: partOf}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "argocd-secret", Namespace: ArgoCDNamespace, Labels: partOf},
			StringData: map[string]string{"server.secretkey": "marina-e2e-not-a-secret"}},
		project,
	} {
		if err := c.Client.Create(ctx, obj); err != nil {
			tb.Fatalf("creating Argo CD's %s %s: %v", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
		}
	}
}

// waitHealthy waits up to a minute for url to answer 200.
func (c *Cluster) waitHealthy(tb TB, component, url string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := eventually.Poll(ctx, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		tb.Fatalf("%s did not become ready at %s: %v\n%s", component, url, err, c.Logs(component))
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(tb TB, n int) []int {
	tb.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}
