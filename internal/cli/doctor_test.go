package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/testenv"
)

type doctorJSON struct {
	Checks []struct {
		Name, Target, Status, Evidence, Fix string
	}
	Summary map[string]int
}

// TestDoctorReportsTheExampleRepositoryOnABareCluster runs marina doctor end to end: a cluster with the CRDs but no
// Argo CD or Flux objects and no nodes fails the engine, GPU and device plugin checks, and says how to fix them.
func TestDoctorReportsTheExampleRepositoryOnABareCluster(t *testing.T) {
	t.Parallel()
	c := testenv.Start(t, testenv.Options{CRDs: true})
	dir := repotest.Example(t, nil)

	t.Run("json lists every check and exits 1 naming the failed ones", func(t *testing.T) {
		code, out, errOut := marina(t, "--repo", dir, "doctor", "--kubeconfig", c.Kubeconfig, "-o", "json")
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
		}
		var rep doctorJSON
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		status := map[string]string{}
		var failed []string
		for _, ch := range rep.Checks {
			status[ch.Name+" "+ch.Target] = ch.Status
			if ch.Status == "fail" {
				failed = append(failed, ch.Name)
				if ch.Fix == "" || ch.Evidence == "" {
					t.Errorf("%s %s fails without evidence or fix: %+v", ch.Name, ch.Target, ch)
				}
			}
		}
		slices.Sort(failed)
		if want := []string{"argocd", "device-plugin", "flux", "gpu"}; !slices.Equal(failed, want) {
			t.Errorf("failed checks %v, want %v\n%s", failed, want, out)
		}
		for k, want := range map[string]string{
			"api " + strings.TrimSuffix(c.Config.Host, "/"): "pass",
			"crd modeldeployments.marina.dev":               "pass",
			"gpu vision-gpu/staging":                        "fail",
			"controller marina-system/marina-controller":    "skip",
			"hpa ": "skip",
		} {
			if status[k] != want {
				t.Errorf("%q: %q, want %q", k, status[k], want)
			}
		}
		if rep.Summary["fail"] != 4 || rep.Summary["pass"] < 2 {
			t.Errorf("summary %v", rep.Summary)
		}
		if !strings.Contains(errOut, "4 of ") || !strings.Contains(errOut, "checks failed: argocd, flux, gpu vision-gpu/staging, device-plugin") {
			t.Errorf("stderr: %s", errOut)
		}
	})

	t.Run("the table shows each failure's evidence and fix", func(t *testing.T) {
		code, out, _ := marina(t, "--repo", dir, "doctor", "--kubeconfig", c.Kubeconfig, "--env", "staging")
		if code != 1 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		for _, want := range []string{"STATUS", "EVIDENCE", "no Argo CD Application pulls https://git.example.com/ml-platform.git",
			"fix: bootstrap the repository once: kubectl apply -k gitops/argocd", "fix: add GPU nodes labelled nvidia.com/gpu.present=true"} {
			if !strings.Contains(out, want) {
				t.Errorf("table lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "\x1b[") {
			t.Errorf("colour outside a terminal:\n%s", out)
		}
		if strings.Contains(out, "models-prod") {
			t.Errorf("--env staging checked prod:\n%s", out)
		}
	})

	t.Run("an unreachable API server fails the api check", func(t *testing.T) {
		kc := filepath.Join(t.TempDir(), "kubeconfig")
		if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: down, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: secret-token}}]
contexts: [{name: down, context: {cluster: down, user: u}}]
current-context: down
`), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := marina(t, "--repo", dir, "doctor", "--kubeconfig", kc, "-o", "yaml")
		if code != 1 || !strings.Contains(out, "connection refused") || !strings.Contains(out, "unreachable") ||
			!strings.Contains(errOut, "checks failed: api https://127.0.0.1:1") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		if strings.Contains(out+errOut, "secret-token") {
			t.Fatalf("the token leaked:\n%s%s", out, errOut)
		}
	})

	t.Run("usage and environment errors exit 2", func(t *testing.T) {
		wantUsageErrors(t, []usageError{
			{[]string{"--repo", dir, "doctor", "--env", "qa", "--kubeconfig", c.Kubeconfig}, `--env "qa" is not an environment of marina.yaml`},
			{[]string{"--repo", dir, "doctor", "-n", "default", "--kubeconfig", c.Kubeconfig}, "-n default: no single environment"},
			{[]string{"--repo", dir, "doctor", "--kubeconfig", filepath.Join(t.TempDir(), "missing")}, "kubeconfig"},
			{[]string{"--repo", dir, "doctor", "extra", "--kubeconfig", c.Kubeconfig}, "takes no arguments"},
		})
	})

	t.Run("help shows examples", func(t *testing.T) {
		out := mustMarina(t, "doctor", "--help")
		for _, want := range []string{"marina doctor --env staging --context staging-cluster -o json", "device-plugin", "--kubeconfig"} {
			if !strings.Contains(out, want) {
				t.Errorf("help lacks %q", want)
			}
		}
	})
}
