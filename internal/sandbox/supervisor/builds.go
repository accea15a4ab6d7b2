package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/marina-dev/marina/internal/sandbox"
	"github.com/marina-dev/marina/internal/testenv"
)

// build is a hack/ script whose output the supervisor needs: env is the variable its last line goes into.
type build struct {
	asset testenv.Asset
	env   string
}

// builds are the hack/ scripts Prepare runs, in order (as make e2e does); each is instant once its asset is cached.
var builds = []build{
	{testenv.ControlPlaneAsset, testenv.ControlPlaneAsset.Env},
	{testenv.Asset{Script: "hack/crds.sh", Cost: "~1 min once", Sub: "crds", Probe: "."}, "MARINA_CRDS_DIR"},
	{testenv.Asset{Script: "hack/registry.sh", Cost: "~3 min once", Sub: filepath.Join("registry", testenv.RegistryVersion),
		Probe: "registry"}, "MARINA_REGISTRY_BIN"},
	{testenv.NodeAsset, testenv.NodeAsset.Env},
	{testenv.AddonsAsset, testenv.AddonsAsset.Env},
	{testenv.FluxAsset, testenv.FluxAsset.Env},
	{testenv.Asset{Script: "hack/onnxruntime.sh", Cost: "~1 min once (a 113 MB download)", Sub: "onnxruntime", Probe: "."}, ""},
	{testenv.Asset{Script: "hack/prometheus.sh", Cost: "~1 min once (apt-get install prometheus)"}, ""},
}

// Prepare runs the hack/ scripts of source and returns the variables their last lines set. Before the first
// that must build, it says which will and about how long that takes.
func Prepare(ctx context.Context, source string, out io.Writer) ([]string, error) {
	var missing []string
	minutes := 0
	for _, b := range builds {
		if b.asset.Sub != "" && !b.asset.Present() {
			missing = append(missing, b.asset.Script+" ("+b.asset.Cost+")")
			minutes += costMinutes(b.asset.Cost)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(out, "First run: building what the sandbox runs, about %d min on 2 cores: %s. Later runs reuse the cache and start in a few minutes.\n",
			minutes, strings.Join(missing, ", "))
	}
	var env []string
	for _, b := range builds {
		fmt.Fprintf(out, "%sbash %s\n", sandbox.ProgressPrefix, b.asset.Script)
		cmd := exec.CommandContext(ctx, "bash", b.asset.Script)
		cmd.Dir = source
		var stdout, stderr bytes.Buffer
		cmd.Stdout = &stdout
		// What a script builds is worth watching; a cached asset prints only its path.
		cmd.Stderr = io.MultiWriter(&stderr, out)
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("bash %s (in %s): %w", b.asset.Script, source, err)
		}
		if b.env != "" {
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			env = append(env, b.env+"="+strings.TrimSpace(lines[len(lines)-1]))
		}
	}
	return env, nil
}

var minutesRE = regexp.MustCompile(`~(\d+) min`)

// costMinutes reads the minutes of an Asset's Cost ("~15 min once").
func costMinutes(cost string) int {
	m := minutesRE.FindStringSubmatch(cost)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
