package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/eventually"
)

// The add-ons hack/addons.sh builds from their Go modules; the versions name its cache directory.
const (
	MetricsServerVersion = "v0.8.0"
	CoreDNSVersion       = "v1.15.0"
)

// ClusterDNS is the kube-dns Service's ClusterIP, which a real node started with RealNode.DNS announces to its Pods
// as their name server; ClusterDomain is the domain of Service names (NAME.NAMESPACE.svc.cluster.local).
const (
	ClusterDNS    = "10.0.0.10"
	ClusterDomain = "cluster.local"
)

// AddonAssets returns the directory hack/addons.sh prints (MARINA_ADDON_ASSETS, or its default under the cache):
// the metrics-server and coredns binaries.
func AddonAssets(tb TB) string {
	tb.Helper()
	return cached(tb, AddonsAsset)
}

// addon is one add-on Deployment on the real node.
type addon struct {
	name  string // of the Deployment, its ServiceAccount and its k8s-app label
	image string
	args  []string
	// ready is the readiness probe's port and path (HTTPS when https).
	readyPort int
	readyPath string
	https     bool
	// files are mounted read-only at /etc/marina-addon besides kubeconfig.
	files map[string]string
	rules []rbacv1.PolicyRule
}

// addonDir is where an add-on's kubeconfig (and files) are mounted.
const addonDir = "/etc/marina-addon"

// startAddons runs metrics-server and CoreDNS on the node, as RealNode asks, and waits until they serve.
//
// They run with the host's network: the test's kube-apiserver listens on loopback only and its ServiceAccount
// admission is off (envtest's defaults), so Pods on the Pod network could not reach it, and no token is mounted.
// Each gets a kubeconfig for the API server's loopback address with a token of its own ServiceAccount instead
// (TokenRequest), so RBAC applies to it as in a real cluster. Their Services (metrics-server, kube-dns) point at
// their host ports through kube-proxy, as any Service does.
func (rn *realNode) startAddons(tb TB, n RealNode, ip net.IP) {
	tb.Helper()
	assets := AddonAssets(tb)
	ports := freePorts(tb, 3)
	var started []string
	if n.MetricsServer {
		if rn.c.Metrics != nil {
			tb.Fatal("RealNode.MetricsServer and Options.Metrics both serve metrics.k8s.io: choose one")
		}
		started = append(started, "metrics-server")
		rn.startAddon(tb, addon{
			name:  "metrics-server",
			image: pushBinary(tb, filepath.Join(assets, "metrics-server"), n.Registry.Host+"/marina-test/metrics-server:"+MetricsServerVersion, "65534:65534"),
			args: []string{
				"--secure-port=" + strconv.Itoa(ports[0]), "--bind-address=" + ip.String(), "--cert-dir=/tmp",
				"--kubeconfig=" + addonDir + "/kubeconfig", "--authentication-kubeconfig=" + addonDir + "/kubeconfig",
				"--authorization-kubeconfig=" + addonDir + "/kubeconfig",
				"--kubelet-preferred-address-types=InternalIP", "--kubelet-use-node-status-port",
				// The kubelet's serving certificate is self-signed (no CA signs it here): a test may skip its
				// verification, as metrics-server's own docs allow for test clusters. Never in production.
				"--kubelet-insecure-tls",
				"--metric-resolution=10s", "--kubelet-request-timeout=5s", // the timeout must be shorter
			},
			readyPort: ports[0], readyPath: "/readyz", https: true,
			rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"nodes/metrics"}, Verbs: []string{"get"}},
				{APIGroups: []string{""}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}},
			},
		})
		rn.registerMetricsAPI(tb, ports[0])
	}
	if n.DNS {
		started = append(started, "coredns")
		dns, ready := strconv.Itoa(ports[1]), net.JoinHostPort(ip.String(), strconv.Itoa(ports[2]))
		// Cluster names only: nothing a test runs resolves names outside the cluster, and the host's resolver may be
		// one CoreDNS cannot forward to.
		corefile := fmt.Sprintf(".:%s {\n  bind %s\n  errors\n  ready %s\n  kubernetes %s in-addr.arpa ip6.arpa {\n"+
			"    kubeconfig %s/kubeconfig marina\n    pods insecure\n  }\n  cache 5\n}\n", dns, ip, ready, ClusterDomain, addonDir)
		rn.startAddon(tb, addon{
			name:      "coredns",
			image:     pushBinary(tb, filepath.Join(assets, "coredns"), n.Registry.Host+"/marina-test/coredns:"+CoreDNSVersion, "65534:65534"),
			args:      []string{"-conf", addonDir + "/Corefile"},
			readyPort: ports[2], readyPath: "/ready",
			files: map[string]string{"Corefile": corefile},
			rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"services", "endpoints", "pods", "namespaces"}, Verbs: []string{"list", "watch"}},
				{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
			},
		})
		target := intstr.FromInt(ports[1])
		rn.create(tb, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: metav1.NamespaceSystem, Labels: map[string]string{"k8s-app": "kube-dns"}},
			Spec: corev1.ServiceSpec{ClusterIP: ClusterDNS, Selector: map[string]string{"k8s-app": "coredns"}, Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: target},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: target},
			}},
		})
	}
	for _, name := range started {
		rn.waitAddon(tb, name)
	}
	if n.MetricsServer {
		rn.waitMetricsAPI(tb)
	}
}

// create creates objects, failing the test on any error but AlreadyExists.
func (rn *realNode) create(tb TB, objs ...client.Object) {
	tb.Helper()
	for _, o := range objs {
		if err := rn.c.Client.Create(context.Background(), o); client.IgnoreAlreadyExists(err) != nil {
			tb.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// startAddon creates a's ServiceAccount, RBAC, kubeconfig Secret and Deployment in kube-system.
func (rn *realNode) startAddon(tb TB, a addon) {
	tb.Helper()
	ns := metav1.NamespaceSystem
	meta := metav1.ObjectMeta{Name: a.name, Namespace: ns, Labels: map[string]string{"k8s-app": a.name}}
	sa := &corev1.ServiceAccount{ObjectMeta: meta}
	role := "marina-test:" + a.name
	rn.create(tb, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, sa,
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: role}, Rules: a.rules},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: a.name, Namespace: ns}}})
	if a.name == "metrics-server" {
		// An aggregated API server checks its callers with the API server (TokenReview, SubjectAccessReview) and
		// reads the front proxy's CA from the extension-apiserver-authentication ConfigMap.
		rn.create(tb,
			&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role + ":auth-delegator"},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:auth-delegator"},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: a.name, Namespace: ns}}},
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role + ":auth-reader", Namespace: ns},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "extension-apiserver-authentication-reader"},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: a.name, Namespace: ns}}})
	}
	files := map[string]string{"kubeconfig": rn.addonKubeconfig(tb, sa)}
	for k, v := range a.files {
		files[k] = v
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: a.name + "-files", Namespace: ns}, StringData: files}
	rn.create(tb, secret)

	scheme := corev1.URISchemeHTTP
	if a.https {
		scheme = corev1.URISchemeHTTPS
	}
	readable := int32(0o444)
	pod := corev1.PodSpec{
		HostNetwork: true, DNSPolicy: corev1.DNSDefault, ServiceAccountName: a.name, AutomountServiceAccountToken: new(false),
		NodeSelector: map[string]string{RealNodeLabel: "real"},
		Tolerations:  []corev1.Toleration{{Key: RealNodeTaint.Key, Operator: corev1.TolerationOpEqual, Value: RealNodeTaint.Value, Effect: RealNodeTaint.Effect}},
		Containers: []corev1.Container{{
			Name: a.name, Image: a.image, Args: a.args,
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")}},
			ReadinessProbe: &corev1.Probe{PeriodSeconds: 2, ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: a.readyPath, Port: intstr.FromInt(a.readyPort), Scheme: scheme}}},
			SecurityContext: &corev1.SecurityContext{RunAsNonRoot: new(true), ReadOnlyRootFilesystem: new(true),
				AllowPrivilegeEscalation: new(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			VolumeMounts: []corev1.VolumeMount{{Name: "files", MountPath: addonDir, ReadOnly: true}, {Name: "tmp", MountPath: "/tmp"}},
			// Why it exited (its last log lines) is in the Pod's status, for PodState.
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		}},
		Volumes: []corev1.Volume{
			{Name: "files", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret.Name, DefaultMode: &readable}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
	rn.create(tb, &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{
		Replicas: new(int32(1)),
		Selector: &metav1.LabelSelector{MatchLabels: meta.Labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: meta.Labels}, Spec: pod},
	}})
}

// addonKubeconfig returns a kubeconfig for the API server with a token of sa (an hour's, longer than a test).
func (rn *realNode) addonKubeconfig(tb TB, sa *corev1.ServiceAccount) string {
	tb.Helper()
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))}}
	if err := rn.c.Client.SubResource("token").Create(context.Background(), sa, tr); err != nil {
		tb.Fatalf("requesting a token for ServiceAccount %s/%s: %v", sa.Namespace, sa.Name, err)
	}
	cfg := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"marina": {Server: rn.c.Config.Host, CertificateAuthorityData: rn.c.Config.CAData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"marina": {Token: tr.Status.Token}},
		Contexts:       map[string]*clientcmdapi.Context{"marina": {Cluster: "marina", AuthInfo: "marina"}},
		CurrentContext: "marina",
	}
	b, err := clientcmd.Write(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// registerMetricsAPI points metrics.k8s.io at metrics-server's Service.
func (rn *realNode) registerMetricsAPI(tb TB, port int) {
	tb.Helper()
	ns := metav1.NamespaceSystem
	rn.create(tb,
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: metricsService, Namespace: ns},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"k8s-app": "metrics-server"},
				Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt(port)}}}},
		metricsAPIService())
}

// waitAddon waits until the add-on's Deployment has a Ready replica.
func (rn *realNode) waitAddon(tb TB, name string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var why string
	err := eventually.Poll(ctx, func(ctx context.Context) (bool, error) {
		var pods corev1.PodList
		if err := rn.c.Client.List(ctx, &pods, client.InNamespace(metav1.NamespaceSystem), client.MatchingLabels{"k8s-app": name}); err != nil {
			return false, err
		}
		why = fmt.Sprintf("no Pod of %s yet", name)
		for _, p := range pods.Items {
			why = PodState(&p)
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		tb.Fatalf("add-on %s did not become Ready on the real node: %v: %s\n%s", name, err, why, rn.c.Logs("kubelet"))
	}
}

// PodState says where a Pod is, for failure messages: its phase and each container's state.
func PodState(p *corev1.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Pod %s: %s", p.Name, p.Status.Phase)
	for _, s := range p.Status.ContainerStatuses {
		switch {
		case s.State.Waiting != nil:
			fmt.Fprintf(&b, "; %s waiting: %s %s", s.Name, s.State.Waiting.Reason, s.State.Waiting.Message)
		case s.State.Terminated != nil:
			fmt.Fprintf(&b, "; %s exited %d: %s", s.Name, s.State.Terminated.ExitCode, s.State.Terminated.Message)
		default:
			fmt.Fprintf(&b, "; %s running, ready=%v, restarts %d", s.Name, s.Ready, s.RestartCount)
		}
		if t := s.LastTerminationState.Terminated; t != nil {
			fmt.Fprintf(&b, " (last exit %d: %s)", t.ExitCode, t.Message)
		}
	}
	return b.String()
}

// waitMetricsAPI waits until metrics.k8s.io answers with the real node's measured use through the aggregator.
func (rn *realNode) waitMetricsAPI(tb TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var why string
	err := eventually.Poll(ctx, func(ctx context.Context) (bool, error) {
		var m unstructured.Unstructured
		m.SetAPIVersion("metrics.k8s.io/v1beta1")
		m.SetKind("NodeMetrics")
		if err := rn.c.Client.Get(ctx, client.ObjectKey{Name: rn.name}, &m); err != nil {
			why = err.Error()
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		tb.Fatalf("metrics.k8s.io does not serve node %s's metrics from metrics-server: %v: %s", rn.name, err, why)
	}
}

// pushBinary packs the static program file as /NAME (its base name), the image's entrypoint run as user, into a
// one-layer OCI image, pushes it to ref (plain HTTP) and returns ref@digest.
func pushBinary(tb TB, file, ref, user string) string {
	tb.Helper()
	bin, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	base := filepath.Base(file)
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := tw.WriteHeader(&tar.Header{Name: base, Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg}); err != nil {
		tb.Fatal(err)
	}
	if _, err := tw.Write(bin); err != nil {
		tb.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer.Bytes())), nil })
	if err != nil {
		tb.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), l)
	if err != nil {
		tb.Fatal(err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Config(img, v1.Config{Entrypoint: []string{"/" + base}, User: user})
	if err != nil {
		tb.Fatal(err)
	}
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		tb.Fatalf("pushing %s to %s: %v", base, ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return ref + "@" + digest.String()
}

// clusterDNS is the kubelet configuration's DNS settings: the kube-dns Service CoreDNS answers behind when dns.
func clusterDNS(dns bool) string {
	if !dns {
		return ""
	}
	return fmt.Sprintf("clusterDNS: [%s]\nclusterDomain: %s\n", ClusterDNS, ClusterDomain)
}
