package scaffold_test

import (
	"testing"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/internal/scaffold"
)

// healthScript returns the Lua health check the scaffold ships in argocd-cm.
func healthScript(t *testing.T) string {
	t.Helper()
	for _, f := range mustFiles(t, scaffold.Options{Name: "ml-platform", Engine: scaffold.EngineArgoCD}) {
		if f.Path != "gitops/argocd/argocd-cm.yaml" {
			continue
		}
		var cm struct {
			Data map[string]string `json:"data"`
		}
		if err := yaml.Unmarshal(f.Data, &cm); err != nil {
			t.Fatal(err)
		}
		script := cm.Data["resource.customizations.health.marina.dev_ModelDeployment"]
		if script == "" {
			t.Fatal("argocd-cm has no ModelDeployment health check")
		}
		return script
	}
	t.Fatal("no gitops/argocd/argocd-cm.yaml")
	return ""
}

// toLua converts a JSON-shaped value the way Argo CD hands objects to health scripts.
func toLua(L *lua.LState, v any) lua.LValue {
	switch t := v.(type) {
	case map[string]any:
		tbl := L.NewTable()
		for k, e := range t {
			tbl.RawSetString(k, toLua(L, e))
		}
		return tbl
	case []any:
		tbl := L.NewTable()
		for _, e := range t {
			tbl.Append(toLua(L, e))
		}
		return tbl
	case string:
		return lua.LString(t)
	case float64:
		return lua.LNumber(t)
	case bool:
		return lua.LBool(t)
	default:
		return lua.LNil
	}
}

func TestArgoCDHealthCheckMapsModelDeploymentConditions(t *testing.T) {
	t.Parallel()
	script := healthScript(t)
	tests := []struct {
		name       string
		obj        string
		wantStatus string
		wantMsg    string
	}{
		{"report Progressing before the controller writes status",
			"metadata: {generation: 1}", "Progressing", "Waiting for the marina controller to report status"},
		{"report Healthy when Ready is True for the current generation",
			"metadata: {generation: 2}\nstatus: {observedGeneration: 2, conditions: [{type: Ready, status: 'True', reason: Succeeded, message: 1.1.0 serves 100%}]}",
			"Healthy", "1.1.0 serves 100%"},
		{"report Progressing when the status is older than the spec",
			"metadata: {generation: 3}\nstatus: {observedGeneration: 2, conditions: [{type: Ready, status: 'True'}]}",
			"Progressing", "Waiting for the marina controller to observe generation 3"},
		{"report Degraded when Degraded is True even if Ready is True",
			"metadata: {generation: 1}\nstatus: {observedGeneration: 1, conditions: [{type: Ready, status: 'True'}, {type: Degraded, status: 'True', reason: AnalysisFailed, message: error rate 7%}]}",
			"Degraded", "error rate 7%"},
		{"report Degraded when Stalled is True, falling back to the reason",
			"metadata: {generation: 1}\nstatus: {observedGeneration: 1, conditions: [{type: Stalled, status: 'True', reason: ImagePullFailed}]}",
			"Degraded", "ImagePullFailed"},
		{"report Progressing while Ready is False",
			"metadata: {generation: 1}\nstatus: {observedGeneration: 1, conditions: [{type: Ready, status: 'False', message: canary step 2 of 4}]}",
			"Progressing", "canary step 2 of 4"},
		{"report Progressing without conditions",
			"metadata: {generation: 1}\nstatus: {observedGeneration: 1}", "Progressing", "Waiting for Ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var obj map[string]any
			if err := yaml.Unmarshal([]byte("apiVersion: marina.dev/v1alpha1\nkind: ModelDeployment\n"+tt.obj), &obj); err != nil {
				t.Fatal(err)
			}
			L := lua.NewState(lua.Options{SkipOpenLibs: false})
			defer L.Close()
			L.SetGlobal("obj", toLua(L, obj))
			if err := L.DoString(script); err != nil {
				t.Fatalf("health check: %v", err)
			}
			hs, ok := L.Get(-1).(*lua.LTable)
			if !ok {
				t.Fatalf("health check returned %v, want a table", L.Get(-1))
			}
			if got := hs.RawGetString("status").String(); got != tt.wantStatus {
				t.Errorf("status %q, want %q", got, tt.wantStatus)
			}
			if got := hs.RawGetString("message").String(); got != tt.wantMsg {
				t.Errorf("message %q, want %q", got, tt.wantMsg)
			}
		})
	}
}
