package validate_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/testenv"
	"github.com/marina-dev/marina/internal/validate"
)

// serverRoute passes the offline schemas but breaks a CEL rule of Gateway API's HTTPRoute CRD.
const serverRoute = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: redirect}
spec:
  rules:
  - filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]
    backendRefs: [{name: iris-classifier, port: 80}]
`

// TestServer checks the example repository with two additions on a real API server: a route the prod overlay
// deploys, which the server rejects (and only with prod in scope), and a kustomization that does not build.
func TestServer(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true})
	c.CreateNamespaces(t, project.ArgoCDNamespace, project.FluxNamespace)
	overlay, err := os.ReadFile(filepath.Join(repotest.ExamplePath(), "infrastructure/overlays/prod/kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := repotest.Open(t, repotest.Example(t, map[string]string{
		"infrastructure/overlays/prod/kustomization.yaml": string(overlay) + "- route.yaml\n",
		"infrastructure/overlays/prod/route.yaml":         serverRoute,
		"infrastructure/broken/kustomization.yaml":        "resources: [missing.yaml]\n",
	}))
	tests := []struct {
		env  string
		want []validate.Finding
	}{
		{"", []validate.Finding{
			{Rule: "k8s-server-skipped", File: "infrastructure/broken/kustomization.yaml"},
			{Rule: "k8s-server", File: "infrastructure/overlays/prod/route.yaml", Path: "spec.rules[0]"},
		}},
		{"staging", []validate.Finding{
			{Rule: "k8s-server-skipped", File: "infrastructure/broken/kustomization.yaml"},
		}},
	}
	for _, tt := range tests {
		t.Run("env="+tt.env, func(t *testing.T) {
			fs, err := validate.Server(context.Background(), r, c.Config, validate.ServerOptions{Env: tt.env})
			if err != nil {
				t.Fatal(err)
			}
			var got []validate.Finding
			for _, f := range fs {
				got = append(got, validate.Finding{Rule: f.Rule, File: f.File, Path: f.Path})
				if f.Rule == "k8s-server" && (!strings.HasPrefix(f.Message, "HTTPRoute.gateway.networking.k8s.io/models-prod/redirect: ") ||
					!strings.Contains(f.Message, "RequestRedirect filter must not be used together with backendRefs")) {
					t.Errorf("message %q does not name the object and the rule it breaks", f.Message)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("findings\n got %+v\nwant %+v\nfull: %+v", got, tt.want, fs)
			}
		})
	}
}
