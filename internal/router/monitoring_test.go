package router

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/internal/kubeschema"
)

const monitoring = "../../config/monitoring/"

// routerMetricNames are the metric families a router with a shadow exports, histograms by their series names.
func routerMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	rt, err := New(mustParse(t, config(`upstreams: [{version: "1", url: "http://127.0.0.1:1", weight: 1}]
shadow: {version: "2", url: "http://127.0.0.1:2", percent: 1}
`)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rt.metrics.reloads.WithLabelValues("failure")
	rt.metrics.inFlight.WithLabelValues("iris")
	rt.metrics.dropped.WithLabelValues("iris", "2", dropQueueFull)
	families, err := rt.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f.GetName()+s] = true
			}
		}
	}
	return names
}

func mustParse(t *testing.T, yaml string) *Config {
	t.Helper()
	c, err := Parse("router.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var metricRE = regexp.MustCompile(`marina_router_[a-z_]+`)

// checkMetrics fails for every marina_router_ metric expr names that the router does not export.
func checkMetrics(t *testing.T, where, expr string, names map[string]bool) {
	t.Helper()
	for _, m := range metricRE.FindAllString(expr, -1) {
		if !names[m] {
			t.Errorf("%s: %s is not a metric the router exports", where, m)
		}
	}
}

func TestPrometheusRuleIsAValidObjectAboutRouterMetrics(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(monitoring + "prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := yaml.UnmarshalStrict(data, &obj); err != nil {
		t.Fatal(err)
	}
	v, err := kubeschema.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(obj); err != nil {
		t.Fatalf("prometheusrule.yaml: %v", err)
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert, Expr string
				}
			}
		}
	}
	if err := yaml.Unmarshal(data, &rule); err != nil {
		t.Fatal(err)
	}
	names := routerMetricNames(t)
	alerts := map[string]bool{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			checkMetrics(t, r.Alert, r.Expr, names)
		}
	}
	for _, want := range []string{"MarinaRouterHighErrorRate", "MarinaRouterHighLatency", "MarinaShadowDisagreement", "MarinaMirrorDrops"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}

	// promtool (Debian package prometheus) parses the PromQL when it is installed.
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed: PromQL syntax not checked")
		return
	}
	spec, err := yaml.Marshal(obj["spec"])
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}

func TestGrafanaDashboardChartsRouterMetrics(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(monitoring + "router-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	names := routerMetricNames(t)
	ids := map[int]bool{}
	charted := map[string]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			checkMetrics(t, p.Title, q.Expr, names)
			for _, m := range metricRE.FindAllString(q.Expr, -1) {
				charted[strings.TrimSuffix(m, "_bucket")] = true
			}
		}
	}
	for name := range names {
		if strings.HasPrefix(name, "marina_router_") && !strings.HasSuffix(name, "_sum") && !strings.HasSuffix(name, "_count") &&
			!strings.HasSuffix(name, "_bucket") && !charted[name] && name != "marina_router_config_reloads_total" {
			t.Errorf("the dashboard does not chart %s", name)
		}
	}
}
