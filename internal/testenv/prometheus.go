package testenv

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis/prometheustest"
	"github.com/marina-dev/marina/internal/controller"
	"github.com/marina-dev/marina/internal/modelpod"
)

// StartPrometheus runs Debian's Prometheus (see prometheustest) scraping, every 5 s, the Pods on the node named
// node that marina made: every model server's /metrics, labelled namespace, pod, model, version and environment,
// and every Pod annotated prometheus.io/scrape: "true" (marina router's) at its prometheus.io/port and
// prometheus.io/path, labelled namespace and pod only — the router's metrics carry their own model and version
// labels — as Prometheus' example Kubernetes configuration relabels such Pods. Debian builds Prometheus without
// Kubernetes service discovery (it refuses kubernetes_sd_configs), so the targets come through HTTP service
// discovery from an endpoint served here, which lists the cluster's Pods from the API server at each refresh
// (every 5 s): what kubernetes_sd's role pod with that relabelling finds. Pods on kwok nodes run nothing and are
// left out.
func (c *Cluster) StartPrometheus(tb TB, node string) *prometheustest.Server {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: podTargets{c: c.Client, node: node}}
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return prometheustest.StartConfig(tb, fmt.Sprintf(`global: {scrape_interval: 5s, evaluation_interval: 5s}
scrape_configs:
  - job_name: marina-models
    http_sd_configs:
      - {url: "http://%s/targets", refresh_interval: 5s}
`, l.Addr()))
}

// podTargets answers Prometheus's HTTP service discovery with the model server Pods running on one node.
type podTargets struct {
	c    client.Client
	node string
}

// target is one entry of an HTTP service discovery answer.
type target struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

func (p podTargets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var pods corev1.PodList
	if err := p.c.List(r.Context(), &pods, client.MatchingLabels{v1alpha1.LabelManagedBy: v1alpha1.ManagedBy}); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	targets := []target{}
	for _, pod := range pods.Items {
		if pod.Spec.NodeName != p.node || pod.Status.PodIP == "" || pod.Status.Phase != corev1.PodRunning {
			continue
		}
		if pod.Annotations[controller.AnnotationScrape] == "true" {
			path := pod.Annotations[controller.AnnotationScrapePath]
			if path == "" {
				path = "/metrics"
			}
			targets = append(targets, target{
				Targets: []string{net.JoinHostPort(pod.Status.PodIP, pod.Annotations[controller.AnnotationScrapePort])},
				Labels:  map[string]string{"__metrics_path__": path, "namespace": pod.Namespace, "pod": pod.Name},
			})
			continue
		}
		for _, ct := range pod.Spec.Containers {
			for _, port := range ct.Ports {
				if port.Name != modelpod.PortName {
					continue
				}
				targets = append(targets, target{
					Targets: []string{net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(port.ContainerPort)))},
					Labels: map[string]string{"namespace": pod.Namespace, "pod": pod.Name, "model": pod.Labels[v1alpha1.LabelModel],
						"version": pod.Labels[v1alpha1.LabelVersion], "environment": pod.Labels[v1alpha1.LabelEnvironment]},
				})
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(targets)
}
