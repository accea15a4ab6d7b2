package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/prereq"
)

// KubernetesVersion is the version hack/controlplane.sh builds; it names the cache directory.
const KubernetesVersion = "v1.37.2"

// Options selects what Start runs besides kube-apiserver and etcd.
type Options struct {
	// CRDs installs marina's CRDs and every third-party CRD marina renders objects for (hack/crds.sh's cache and
	// KServe's from third_party/kserve).
	CRDs bool
	// Workloads starts kube-controller-manager, kube-scheduler and kwok: Deployments get Pods, Pods are scheduled
	// onto Nodes added with AddNode and become Running and Ready there.
	Workloads bool
	// Metrics serves the resource metrics API (metrics.k8s.io) so HorizontalPodAutoscalers scale; see PodMetrics.
	// It needs Workloads.
	Metrics bool
}

// Cluster is a running control plane.
type Cluster struct {
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// Client is a controller-runtime client for Config, knowing the types of Scheme.
	Client client.Client
	// Kubeconfig is the path of an admin kubeconfig file for Config.
	Kubeconfig string
	// Assets is the directory of the control-plane binaries.
	Assets string
	// Metrics sets the CPU use the metrics API reports (with Options.Metrics).
	Metrics *PodMetrics

	logs  string
	mu    sync.Mutex
	stops map[string]func() // by component; see start
}

func init() { logf.SetLogger(logr.Discard()) }

// Scheme knows the client-go types, CustomResourceDefinitions and marina.dev/v1alpha1.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err) // static registration of generated types; cannot fail at run time
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Assets returns the directory of the control-plane binaries: KUBEBUILDER_ASSETS, or hack/controlplane.sh's
// default cache directory. When neither holds kube-apiserver the test is skipped with a hint, or fails where
// prerequisites are required (see package prereq).
func Assets(tb testing.TB) string {
	tb.Helper()
	return cached(tb, "KUBEBUILDER_ASSETS", filepath.Join("controlplane", KubernetesVersion), "kube-apiserver",
		"hack/controlplane.sh", "~15 min once")
}

// cached returns the directory of binaries a hack/ script builds: the environment variable env, or sub under
// MARINA_CACHE (default ~/.cache/marina). When it holds no file probe the test is skipped with a hint, or
// fails where prerequisites are required (see package prereq).
func cached(tb testing.TB, env, sub, probe, script, cost string) string {
	tb.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		dir = filepath.Join(cacheDir(tb), sub)
	}
	if _, err := os.Stat(filepath.Join(dir, probe)); err == nil {
		return dir
	}
	prereq.Missing(tb, probe+" not found in "+dir+": run `bash "+script+"` ("+cost+") or set "+env+" to its output")
	return ""
}

// cacheDir is where the hack/ scripts cache what they build: MARINA_CACHE, default ~/.cache/marina.
func cacheDir(tb testing.TB) string {
	tb.Helper()
	if cache := os.Getenv("MARINA_CACHE"); cache != "" {
		return cache
	}
	home, err := os.UserHomeDir()
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(home, ".cache", "marina")
}

// Start runs a control plane for the test and stops it when the test ends.
func Start(tb testing.TB, o Options) *Cluster {
	tb.Helper()
	assets := Assets(tb)
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
		ErrorIfCRDPathMissing:    true,
		Scheme:                   Scheme(),
		// The API server needs ~10 s to serve 40 CRDs on 2 idle cores; more when tests run in parallel.
		CRDInstallOptions: envtest.CRDInstallOptions{MaxTime: 2 * time.Minute},
	}
	// envtest's default /24 has 254 Service IPs; marina runs three Services per model.
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.0.0.0/16")
	// The API server reaches a real node's kubelet (logs, exec) by its InternalIP, as kubeadm configures it: the
	// node's hostname resolves nowhere here.
	env.ControlPlane.GetAPIServer().Configure().Set("kubelet-preferred-address-types", "InternalIP,ExternalIP,Hostname")
	if o.Metrics {
		// Aggregated APIs are reached through their endpoints, not their Service's unroutable ClusterIP.
		env.ControlPlane.GetAPIServer().Configure().Set("enable-aggregator-routing", "true")
	}
	if o.CRDs {
		env.CRDDirectoryPaths = crdFiles(tb)
	}
	configureFrontProxy(tb, env, tb.TempDir())
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		tb.Fatalf("starting kube-apiserver and etcd from %s: %v", assets, err)
	}
	tb.Cleanup(func() {
		if err := env.Stop(); err != nil {
			tb.Errorf("stopping the control plane: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		tb.Fatal(err)
	}
	cl := &Cluster{Config: cfg, Client: c, Kubeconfig: kubeconfig, Assets: assets, logs: dir}
	if o.Workloads {
		cl.startWorkloads(tb)
	}
	if o.Metrics {
		cl.Metrics = cl.servePodMetrics(tb)
	}
	return cl
}

// startWorkloads runs kube-controller-manager, kube-scheduler and kwok against the cluster and waits until the
// controller manager has created the default ServiceAccount (Pods need it).
func (c *Cluster) startWorkloads(tb testing.TB) {
	tb.Helper()
	kc := "--kubeconfig=" + c.Kubeconfig
	c.run(tb, "kube-controller-manager", kc, "--controllers=*,-serviceaccount-token", "--leader-elect=false",
		"--secure-port=0", "--use-service-account-credentials=false",
		// Fast enough for tests: HPAs re-evaluate and unready nodes are noticed in seconds.
		"--horizontal-pod-autoscaler-sync-period=2s", "--horizontal-pod-autoscaler-cpu-initialization-period=5s",
		// model.yaml has no HPA behavior: scale-down waits 20 s for lower load to last, not 5 min.
		"--horizontal-pod-autoscaler-downscale-stabilization=20s",
		"--node-monitor-period=2s")
	c.run(tb, "kube-scheduler", kc, "--leader-elect=false", "--secure-port=0")
	c.run(tb, "kwok", kc, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+kwokAnnotation+"=fake",
		"--server-address=127.0.0.1:0", "--config="+filepath.Join(c.Assets, "kwok-stages.yaml"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := eventually.Poll(ctx, func(ctx context.Context) (bool, error) {
		var sa corev1.ServiceAccount
		err := c.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "default"}, &sa)
		return err == nil, client.IgnoreNotFound(err)
	})
	if err != nil {
		tb.Fatalf("kube-controller-manager did not create the default ServiceAccount: %v\n%s", err, c.Logs("kube-controller-manager"))
	}
}

// Logs returns the last lines a component started by the cluster wrote, for failure messages.
func (c *Cluster) Logs(component string) string {
	b, err := os.ReadFile(filepath.Join(c.logs, component+".log"))
	if err != nil {
		return err.Error()
	}
	if lines := bytes.Split(b, []byte("\n")); len(lines) > 40 {
		b = bytes.Join(lines[len(lines)-40:], []byte("\n"))
	}
	return fmt.Sprintf("--- last lines of %s ---\n%s", component, b)
}
