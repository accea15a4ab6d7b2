package testenv

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/prereq"
)

// PodMetrics serves the resource metrics API (metrics.k8s.io/v1beta1, what metrics-server serves) for the cluster's
// Pods, through kube-apiserver's aggregation layer, so that HorizontalPodAutoscalers work. It is a stand-in by
// necessity: kwok's Pods run no containers, so there is no CPU use to measure; the test says what each
// namespace's containers use, and the real HPA controller scales on it.
type PodMetrics struct {
	c  client.Client
	mu sync.Mutex
	// cpu is the CPU use of every container in a namespace.
	cpu map[string]resource.Quantity
}

// SetCPU makes every container of every Pod in namespace report cpu in use (e.g. "100m").
func (m *PodMetrics) SetCPU(namespace, cpu string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cpu[namespace] = resource.MustParse(cpu)
}

// metricsService is where the APIService points; the aggregator routes to its endpoint.
const metricsService = "metrics-server"

// servePodMetrics starts the metrics API on the host's first non-loopback IPv4 address (the API server's
// aggregator refuses loopback endpoints) and registers it as APIService v1beta1.metrics.k8s.io.
func (c *Cluster) servePodMetrics(tb TB) *PodMetrics {
	tb.Helper()
	ip := hostIP()
	if ip == nil {
		prereq.Missing(tb, "no non-loopback IPv4 address for the metrics API's endpoint (the API server refuses loopback ones)")
	}
	m := &PodMetrics{c: c.Client, cpu: map[string]resource.Quantity{}}
	l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(m)
	_ = srv.Listener.Close()
	srv.Listener = l
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	port := int32(l.Addr().(*net.TCPAddr).Port)

	ctx := context.Background()
	ns := metav1.NamespaceSystem
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: metricsService, Namespace: ns},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(port)}}}},
		&discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: metricsService, Namespace: ns, Labels: map[string]string{
				discoveryv1.LabelServiceName: metricsService, discoveryv1.LabelManagedBy: "marina-testenv"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip.String()}}},
			Ports:       []discoveryv1.EndpointPort{{Name: new("https"), Port: &port}},
		},
		metricsAPIService(),
	} {
		if err := c.Client.Create(ctx, o); client.IgnoreAlreadyExists(err) != nil {
			tb.Fatalf("registering the metrics API: %v", err)
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = eventually.Poll(waitCtx, func(ctx context.Context) (bool, error) {
		var l unstructured.UnstructuredList
		l.SetAPIVersion("metrics.k8s.io/v1beta1")
		l.SetKind("PodMetricsList")
		return c.Client.List(ctx, &l, client.InNamespace(ns)) == nil, nil
	})
	if err != nil {
		tb.Fatalf("the API server does not serve metrics.k8s.io through %s:%d: %v", ip, port, err)
	}
	return m
}

// ServeHTTP answers discovery and pod metrics lists and gets, as metrics-server does.
func (m *PodMetrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix = "/apis/metrics.k8s.io/v1beta1"
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == prefix:
		writeJSON(w, map[string]any{
			"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "metrics.k8s.io/v1beta1",
			"resources": []any{map[string]any{"name": "pods", "namespaced": true, "kind": "PodMetrics", "verbs": []string{"get", "list"}}},
		})
	case strings.HasPrefix(path, prefix+"/namespaces/"):
		// namespaces/NS/pods[/NAME]
		parts := strings.Split(strings.TrimPrefix(path, prefix+"/namespaces/"), "/")
		if len(parts) < 2 || parts[1] != "pods" {
			http.NotFound(w, r)
			return
		}
		sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		items, err := m.pods(r.Context(), parts[0], sel)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if len(parts) == 3 {
			for _, it := range items {
				if it["metadata"].(map[string]any)["name"] == parts[2] {
					writeJSON(w, it)
					return
				}
			}
			http.NotFound(w, r)
			return
		}
		writeJSON(w, map[string]any{"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": map[string]any{}, "items": items})
	default:
		http.NotFound(w, r)
	}
}

// pods returns the PodMetrics of the running Pods in namespace that match sel.
func (m *PodMetrics) pods(ctx context.Context, namespace string, sel labels.Selector) ([]map[string]any, error) {
	var pods corev1.PodList
	if err := m.c.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, err
	}
	m.mu.Lock()
	cpu, ok := m.cpu[namespace]
	m.mu.Unlock()
	if !ok {
		cpu = resource.MustParse("0")
	}
	now := time.Now().UTC().Format(time.RFC3339)
	items := []map[string]any{}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		var containers []any
		for _, ct := range p.Spec.Containers {
			containers = append(containers, map[string]any{"name": ct.Name,
				"usage": map[string]any{"cpu": cpu.String(), "memory": "64Mi"}})
		}
		items = append(items, map[string]any{
			"metadata":  map[string]any{"name": p.Name, "namespace": p.Namespace, "labels": p.Labels, "creationTimestamp": now},
			"timestamp": now, "window": "1s", "containers": containers,
		})
	}
	return items, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// hostIP is the first IPv4 address of an up, non-loopback interface.
func hostIP() net.IP {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	for _, i := range ifaces {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
				return n.IP
			}
		}
	}
	return nil
}

// metricsAPIService registers metrics.k8s.io v1beta1 as served by the metrics-server Service in kube-system. The
// aggregator does not verify the server's certificate, which is self-signed (metrics-server's --cert-dir, or the
// stand-in's test server), as metrics-server's own manifests register it.
func metricsAPIService() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": "v1beta1.metrics.k8s.io"},
		"spec": map[string]any{
			"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100,
			"insecureSkipTLSVerify": true,
			"service":               map[string]any{"namespace": metav1.NamespaceSystem, "name": metricsService, "port": 443},
		},
	}}
}
