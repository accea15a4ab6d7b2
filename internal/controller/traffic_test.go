package controller

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/marina-dev/marina/api/v1alpha1"
)

func TestSplitRulesOwnsOnlyTheRulesThatRouteToTheModel(t *testing.T) {
	t.Parallel()
	const (
		rendered = `{"matches":[{"path":{"type":"PathPrefix","value":"/v2/models/iris"}}],"backendRefs":[{"name":"iris","port":80}]}`
		split    = `{"matches":[{"path":{"type":"PathPrefix","value":"/v2/models/iris"}}],"backendRefs":[{"name":"iris-stable","port":80,"weight":80},{"name":"iris-canary","port":80,"weight":20}]}`
		mirrored = `{"matches":[{"path":{"type":"PathPrefix","value":"/v2/models/iris"}}],"backendRefs":[{"name":"iris-stable","port":80,"weight":100},{"name":"iris-canary","port":80,"weight":0}],"filters":[{"type":"RequestMirror","requestMirror":{"backendRef":{"name":"iris-canary","port":80},"percent":10}}]}`
		docs     = `{"matches":[{"path":{"type":"PathPrefix","value":"/docs"}}],"backendRefs":[{"name":"docs","port":8080}],"filters":[{"type":"RequestMirror","requestMirror":{"backendRef":{"name":"audit","port":80}}}]}`
		redirect = `{"matches":[{"path":{"type":"PathPrefix","value":"/old"}}],"filters":[{"type":"RequestRedirect","requestRedirect":{"statusCode":301}}]}`
		shared   = `{"backendRefs":[{"name":"iris-stable","port":80,"weight":50},{"name":"fallback","port":80,"weight":50}]}`
		routed   = `{"matches":[{"path":{"type":"PathPrefix","value":"/v2/models/iris"}}],"backendRefs":[{"name":"iris","port":80,"weight":100}]}`
	)
	canary20 := v1alpha1.TrafficWeights{Stable: 80, Canary: 20}
	shadow10 := v1alpha1.TrafficWeights{Stable: 100, Shadow: 10}
	for _, tc := range []struct {
		name        string
		rules       string
		w           v1alpha1.TrafficWeights
		viaRouter   bool
		want        string
		wantCarried bool
	}{
		{"the rule marina render wrote gets the split", `[` + rendered + `]`, canary20, false, `[` + split + `]`, true},
		{"a shadow share mirrors to the canary", `[` + split + `]`, shadow10, false, `[` + mirrored + `]`, true},
		{"marina's mirror goes when the shadow ends", `[` + mirrored + `]`, canary20, false, `[` + split + `]`, true},
		{"a hand-written rule to another Service survives, its mirror too", `[` + rendered + `,` + docs + `]`, canary20, false, `[` + split + `,` + docs + `]`, true},
		{"a redirect rule without backends survives", `[` + redirect + `,` + rendered + `]`, canary20, false, `[` + redirect + `,` + split + `]`, true},
		{"a rule sharing traffic with another Service is not marina's", `[` + shared + `]`, canary20, false, `[` + shared + `]`, false},
		{"a route without rules gets one carrying the split", `[]`, canary20, false, `[{"backendRefs":[{"name":"iris-stable","port":80,"weight":80},{"name":"iris-canary","port":80,"weight":20}]}]`, true},
		{"with the router the rule marina render wrote sends everything to it", `[` + rendered + `]`, canary20, true, `[` + routed + `]`, true},
		{"with the router a split rule goes back to the router and its mirror goes", `[` + mirrored + `,` + docs + `]`, shadow10, true, `[` + routed + `,` + docs + `]`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, carried, err := splitRules("iris", decodeRules(t, tc.rules), tc.w, tc.viaRouter)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(decodeRules(t, tc.want), got); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			if carried != tc.wantCarried {
				t.Errorf("carried = %t, want %t", carried, tc.wantCarried)
			}
		})
	}
}

func TestSplitRulesNamesARuleThatIsNotAnObject(t *testing.T) {
	t.Parallel()
	_, _, err := splitRules("iris", []any{"backendRefs"}, v1alpha1.TrafficWeights{Stable: 100}, false)
	if err == nil || err.Error() != "spec.rules[0] is not an object" {
		t.Fatalf("err = %v, want spec.rules[0] is not an object", err)
	}
}

// decodeRules reads rules as the unstructured client returns them (JSON numbers as int64).
func decodeRules(t *testing.T, s string) []any {
	t.Helper()
	var rules []any
	if err := json.Unmarshal([]byte(s), &rules); err != nil {
		t.Fatal(err)
	}
	return intify(rules).([]any)
}

func intify(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = intify(e)
		}
	case []any:
		for i, e := range v {
			v[i] = intify(e)
		}
	case float64:
		return int64(v)
	}
	return v
}
