package cli_test

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/marina-dev/marina/internal/cli"
)

// TestClusterFlagsReadTheSameEverywhere: every command that talks to a cluster takes --kubeconfig and --context
// from the one shared definition, so they mean and say the same thing in each command's help.
func TestClusterFlagsReadTheSameEverywhere(t *testing.T) {
	t.Parallel()
	root := cli.NewRootCommand(strings.NewReader(""), io.Discard, io.Discard)
	for _, name := range []string{"kubeconfig", "context"} {
		usages := map[string][]string{} // usage → the commands that print it
		var walk func(*cobra.Command)
		walk = func(c *cobra.Command) {
			if f := c.LocalFlags().Lookup(name); f != nil {
				usages[f.Usage] = append(usages[f.Usage], c.CommandPath())
			}
			for _, sub := range c.Commands() {
				walk(sub)
			}
		}
		walk(root)
		if len(usages) != 1 {
			t.Errorf("--%s has %d different help texts, want one: %q", name, len(usages), usages)
		}
		for _, cmds := range usages {
			if len(cmds) < 4 {
				t.Errorf("--%s: only %v take it; controller, doctor, promote, router and validate talk to clusters", name, cmds)
			}
		}
	}
}
