package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/testenv"
)

// badRoute passes the offline schemas but breaks a CEL rule of Gateway API's HTTPRoute CRD.
const badRoute = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: redirect, namespace: models-staging}
spec:
  rules:
  - filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]
    backendRefs: [{name: iris-classifier, port: 80}]
`

func TestValidateServer(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true})
	// The engines' namespaces exist once Argo CD and Flux are installed; without them every object of
	// gitops/ is reported (the namespace-missing case is covered in internal/dryrun).
	c.CreateNamespaces(t, project.ArgoCDNamespace, project.FluxNamespace)

	dir := repotest.Example(t, nil)
	code, out, errOut := marina(t, "--repo", dir, "validate", "--server", "--kubeconfig", c.Kubeconfig)
	if code != 0 {
		t.Fatalf("example repository: exit %d\n%s%s", code, out, errOut)
	}

	dir = repotest.Example(t, map[string]string{"infrastructure/extra/route.yaml": badRoute})
	code, out, errOut = marina(t, "--repo", dir, "validate", "--kubeconfig", c.Kubeconfig)
	if code != 0 {
		t.Fatalf("offline, the route passes: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = marina(t, "--repo", dir, "validate", "--server", "--kubeconfig", c.Kubeconfig)
	if code != 1 || !strings.Contains(out, "infrastructure/extra/route.yaml: error k8s-server: HTTPRoute.gateway.networking.k8s.io/models-staging/redirect:") ||
		!strings.Contains(out, "RequestRedirect filter must not be used together with backendRefs") {
		t.Fatalf("want a k8s-server error naming the file: exit %d\n%s%s", code, out, errOut)
	}

	// No API server: an environment error (exit 2) that says where it tried.
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	b, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kc, regexp.MustCompile(`server: .*`).ReplaceAll(b, []byte("server: https://127.0.0.1:1")), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = marina(t, "--repo", dir, "validate", "--server", "--kubeconfig", kc)
	if code != 2 || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Fatalf("unreachable server: exit %d\n%s", code, errOut)
	}
}
