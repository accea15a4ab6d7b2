package testenv

import (
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/marina-dev/marina/internal/testenv/proc"
)

// run starts one control-plane binary from the assets directory; see start.
func (c *Cluster) run(tb TB, component string, args ...string) {
	tb.Helper()
	c.start(tb, component, exec.Command(filepath.Join(c.Assets, component), args...))
}

// start starts cmd, its output going to <component>.log (see Logs), and stops it in the test's Cleanup: SIGTERM,
// then SIGKILL after 10 s. The kernel kills it too if the test binary dies first.
func (c *Cluster) start(tb TB, component string, cmd *exec.Cmd) {
	tb.Helper()
	p, err := proc.Start(cmd, filepath.Join(c.logs, component+".log"))
	if err != nil {
		tb.Fatalf("%s: %v", component, err)
	}
	stop := func() { p.Stop(10 * time.Second) }
	c.mu.Lock()
	if c.stops == nil {
		c.stops = map[string]func(){}
	}
	c.stops[component] = stop
	c.mu.Unlock()
	tb.Cleanup(stop)
}

// stop stops a component started by start before the test's Cleanup would; it does nothing for one not running.
func (c *Cluster) stop(component string) {
	c.mu.Lock()
	stop := c.stops[component]
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Kubectl runs kubectl — hack/controlplane.sh's, of the cluster's version — with the admin kubeconfig, as a user
// would, and returns its output; a non-zero exit fails the test.
func (c *Cluster) Kubectl(tb TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command(filepath.Join(c.Assets, "kubectl"), append([]string{"--kubeconfig=" + c.Kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
