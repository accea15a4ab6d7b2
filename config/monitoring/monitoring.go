package monitoring

import _ "embed"

// PrometheusRule is prometheusrule.yaml: alerts on the router's error rate, latency, upstream errors, shadow
// disagreement and mirror drops.
//
//go:embed prometheusrule.yaml
var PrometheusRule []byte

// Dashboard is router-dashboard.json, the Grafana dashboard of the router's metrics.
//
//go:embed router-dashboard.json
var Dashboard []byte

// The dashboard's ConfigMap, as kustomization.yaml generates it and marina init writes it.
const (
	// DashboardConfigMap names the ConfigMap.
	DashboardConfigMap = "marina-router-dashboard"
	// DashboardKey is the ConfigMap's key holding Dashboard.
	DashboardKey = "router-dashboard.json"
	// DashboardLabel is the label the Grafana dashboard sidecar looks for, with the value "1".
	DashboardLabel = "grafana_dashboard"
)
