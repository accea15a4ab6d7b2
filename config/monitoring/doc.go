// Package monitoring embeds the monitoring of marina router: the PrometheusRule and the Grafana dashboard. marina init
// writes them into a new repository's infrastructure/base from here, so what it writes and these files never differ.
package monitoring
