package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/inference/inferencetest"
)

var profilesRE = regexp.MustCompile(`profiles on (http://[0-9.:]+)/debug/pprof/`)

func TestServeAndRouterServeTheirProfilesOnPprofAddr(t *testing.T) {
	inferencetest.Lib(t)
	m, _ := startCommand(t, profilesRE, "stopped serving", "serve", "--addr", "127.0.0.1:0", "--pprof-addr", "127.0.0.1:0", "--model", thresholdModel(t, 0.5))
	serveProfiles := m[1]
	config := filepath.Join(t.TempDir(), "router.yaml")
	if err := os.WriteFile(config, []byte("listen: 127.0.0.1:0\nmodel: m\nupstreams: [{version: a, url: \"http://127.0.0.1:1\", weight: 1}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, _ = startCommand(t, profilesRE, "stopped routing", "router", "--config", config, "--pprof-addr", "127.0.0.1:0")
	routerProfiles := m[1]
	for base, pkg := range map[string]string{serveProfiles: "internal/serve.", routerProfiles: "internal/router."} {
		code, goroutines := get(t, base+"/debug/pprof/goroutine?debug=1")
		if code != 200 || !strings.Contains(goroutines, pkg) {
			t.Errorf("%s/debug/pprof/goroutine: %d, want 200 listing %s…:\n%s", base, code, pkg, goroutines)
		}
		if code, _ := get(t, base+"/debug/pprof/cmdline"); code != 404 {
			t.Errorf("%s/debug/pprof/cmdline: %d, want 404 (a command line is not a profile)", base, code)
		}
	}
	wantUsageErrors(t, []usageError{
		{[]string{"router", "--config", config, "--pprof-addr", "127.0.0.1:nonsense"}, "--pprof-addr"},
	})
}
