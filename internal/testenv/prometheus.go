package testenv

import (
	"fmt"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis/prometheustest"
	"github.com/marina-dev/marina/internal/modelpod"
)

// StartPrometheus runs Debian's Prometheus (see prometheustest) scraping, every 5 s, the /metrics of every model
// server Pod marina rendered that runs on the node named node: targets come from Kubernetes service discovery
// against the cluster's API server (role pod, with the admin kubeconfig), as a Prometheus in a cluster finds
// them, labelled namespace, pod, model, version and environment. Pods on kwok nodes run no server and are left out.
func (c *Cluster) StartPrometheus(tb TB, node string) *prometheustest.Server {
	tb.Helper()
	return prometheustest.StartConfig(tb, fmt.Sprintf(`global: {scrape_interval: 5s, evaluation_interval: 5s}
scrape_configs:
  - job_name: marina-models
    kubernetes_sd_configs:
      - {role: pod, kubeconfig_file: %q}
    relabel_configs:
      - {source_labels: [__meta_kubernetes_pod_label_%s], regex: %s, action: keep}
      - {source_labels: [__meta_kubernetes_pod_node_name], regex: %q, action: keep}
      - {source_labels: [__meta_kubernetes_pod_container_port_name], regex: %s, action: keep}
      - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
      - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
      - {source_labels: [__meta_kubernetes_pod_label_%s], target_label: model}
      - {source_labels: [__meta_kubernetes_pod_label_%s], target_label: version}
      - {source_labels: [__meta_kubernetes_pod_label_%s], target_label: environment}
`, c.Kubeconfig, promLabel(v1alpha1.LabelManagedBy), v1alpha1.ManagedBy, node, modelpod.PortName,
		promLabel(v1alpha1.LabelModel), promLabel(v1alpha1.LabelVersion), promLabel(v1alpha1.LabelEnvironment)))
}

// promLabel is how Prometheus's Kubernetes discovery names a Kubernetes label: every character that is not
// [a-zA-Z0-9_] becomes _.
func promLabel(k string) string {
	b := []byte(k)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
