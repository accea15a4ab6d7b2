package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
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
	"github.com/marina-dev/marina/internal/source"
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
	// InClusterClients makes Pods on a real node in-cluster API clients, as in a real cluster: their
	// ServiceAccount's token is mounted and the kubernetes Service leads to the API server (see
	// configureInClusterClients). marina router's Pods read their ModelDeployment so. It needs Workloads.
	InClusterClients bool
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

// Asset is what a hack/ script builds once into the cache (MARINA_CACHE, default ~/.cache/marina).
type Asset struct {
	// Env names the variable that overrides where the asset is; Sub is its directory under the cache otherwise.
	Env, Sub string
	// Probe is a file the directory holds once the script has run.
	Probe string
	// Script builds the asset and prints its directory last; Cost says how long that takes the first time.
	Script, Cost string
}

// The assets hack/ scripts build for testenv.
var (
	ControlPlaneAsset = Asset{Env: "KUBEBUILDER_ASSETS", Sub: filepath.Join("controlplane", KubernetesVersion),
		Probe: "kube-apiserver", Script: "hack/controlplane.sh", Cost: "~15 min once"}
	NodeAsset = Asset{Env: "MARINA_NODE_ASSETS", Sub: filepath.Join("node", KubernetesVersion), Probe: "pause",
		Script: "hack/node.sh", Cost: "~2 min once"}
	FluxAsset = Asset{Env: "MARINA_FLUX_ASSETS", Sub: filepath.Join("flux", FluxVersion), Probe: "kustomize-controller",
		Script: "hack/flux.sh", Cost: "~7 min once"}
	ArgoCDAsset = Asset{Env: "MARINA_ARGOCD_ASSETS", Sub: filepath.Join("argocd", ArgoCDVersion), Probe: "argocd",
		Script: "hack/argocd.sh", Cost: "~10 min once"}
	AddonsAsset = Asset{Env: "MARINA_ADDON_ASSETS", Probe: "coredns", Script: "hack/addons.sh", Cost: "~10 min once",
		Sub: filepath.Join("addons", "metrics-server-"+MetricsServerVersion+"-coredns-"+CoreDNSVersion)}
)

// Dir is where the asset is: $Env, or Sub under the cache.
func (a Asset) Dir() (string, error) {
	if dir := os.Getenv(a.Env); dir != "" {
		return dir, nil
	}
	cache, err := source.CacheDir()
	return filepath.Join(cache, a.Sub), err
}

// Present reports whether the asset has been built.
func (a Asset) Present() bool {
	dir, err := a.Dir()
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, a.Probe))
	return err == nil
}

// Assets returns the directory of the control-plane binaries (ControlPlaneAsset). When it does not hold
// kube-apiserver the test is skipped with a hint, or fails where prerequisites are required (see package prereq).
func Assets(tb TB) string {
	tb.Helper()
	return cached(tb, ControlPlaneAsset)
}

// cached returns the directory of asset a. When it is not there the test is skipped with a hint, or fails where
// prerequisites are required (see package prereq).
func cached(tb TB, a Asset) string {
	tb.Helper()
	dir, err := a.Dir()
	if err != nil {
		tb.Fatal(err)
	}
	if a.Present() {
		return dir
	}
	prereq.Missing(tb, a.Probe+" not found in "+dir+": run `bash "+a.Script+"` ("+a.Cost+") or set "+a.Env+" to its output")
	return ""
}

// Start runs a control plane for the test and stops it when the test ends.
func Start(tb TB, o Options) *Cluster {
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
	if o.InClusterClients {
		configureInClusterClients(tb, env)
	}
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
func (c *Cluster) startWorkloads(tb TB) {
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
