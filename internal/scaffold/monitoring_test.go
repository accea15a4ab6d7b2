package scaffold_test

import (
	"os"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/internal/scaffold"
)

// TestInitWritesTheMonitoringOfConfigMonitoring compares what marina init writes with the files under
// config/monitoring, read from disk: the same alerts and the same dashboard, in marina-system, the dashboard labelled
// for Grafana's sidecar.
func TestInitWritesTheMonitoringOfConfigMonitoring(t *testing.T) {
	t.Parallel()
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile("../../config/monitoring/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var wantRule map[string]any
	if err := yaml.Unmarshal(read("prometheusrule.yaml"), &wantRule); err != nil {
		t.Fatal(err)
	}
	wantDashboard := string(read("router-dashboard.json"))

	got := map[string]map[string]any{}
	for _, f := range mustFiles(t, scaffold.Options{Name: "ml-platform"}) {
		switch f.Path {
		case "infrastructure/base/monitoring/prometheusrule.yaml", "infrastructure/base/monitoring/grafana-dashboard.yaml":
			docs := documents(t, f)
			if len(docs) != 1 {
				t.Fatalf("%s: %d documents, want 1", f.Path, len(docs))
			}
			got[f.Path] = docs[0]
		}
	}
	tests := []struct {
		name string
		file string
		path []string
		want any
	}{
		{"the alerts are config/monitoring's", "prometheusrule.yaml", []string{"spec"}, wantRule["spec"]},
		{"the rule keeps its name", "prometheusrule.yaml", []string{"metadata", "name"}, "marina-router"},
		{"the rule lives in marina-system", "prometheusrule.yaml", []string{"metadata", "namespace"}, "marina-system"},
		{"the dashboard is config/monitoring's, byte for byte", "grafana-dashboard.yaml", []string{"data", "router-dashboard.json"}, wantDashboard},
		{"the dashboard ConfigMap has the kustomization's name", "grafana-dashboard.yaml", []string{"metadata", "name"}, "marina-router-dashboard"},
		{"Grafana's sidecar finds the dashboard", "grafana-dashboard.yaml", []string{"metadata", "labels", "grafana_dashboard"}, "1"},
		{"the dashboard lives in marina-system", "grafana-dashboard.yaml", []string{"metadata", "namespace"}, "marina-system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any = got["infrastructure/base/monitoring/"+tt.file]
			for _, k := range tt.path {
				m, _ := v.(map[string]any)
				v = m[k]
			}
			if !reflect.DeepEqual(v, tt.want) {
				t.Errorf("%s %v = %v, want %v", tt.file, tt.path, v, tt.want)
			}
		})
	}
}
