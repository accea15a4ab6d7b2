package testenv

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/testenv/proc"
)

// run starts one control-plane binary from the assets directory; see start.
func (c *Cluster) run(tb testing.TB, component string, args ...string) {
	tb.Helper()
	c.start(tb, component, exec.Command(filepath.Join(c.Assets, component), args...))
}

// start starts cmd, its output going to <component>.log (see Logs), and stops it in the test's Cleanup: SIGTERM,
// then SIGKILL after 10 s. The kernel kills it too if the test binary dies first.
func (c *Cluster) start(tb testing.TB, component string, cmd *exec.Cmd) {
	tb.Helper()
	p, err := proc.Start(cmd, filepath.Join(c.logs, component+".log"))
	if err != nil {
		tb.Fatalf("%s: %v", component, err)
	}
	tb.Cleanup(func() { p.Stop(10 * time.Second) })
}
