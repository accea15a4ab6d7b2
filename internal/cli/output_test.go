package cli_test

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/marina-dev/marina/internal/cli"
)

func TestEveryCommandDeclaresItsOutputFormatsInItsHelp(t *testing.T) {
	t.Parallel()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && c.Name() != "help" && c.Name() != "completion" && !strings.HasPrefix(c.Name(), "__") {
			if !strings.Contains(c.Long, "Output (-o): ") && !strings.Contains(c.Long, "This command has no -o output.") {
				t.Errorf("%s --help does not say which -o formats it takes", c.CommandPath())
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(cli.NewRootCommand(nil, nil, nil))
	walk(cli.NewServeRootCommand(nil, nil, nil))
}

func TestAnOutputFormatACommandDoesNotDeclareIsRefused(t *testing.T) {
	t.Parallel()
	checkExits(t, exampleDirWith(t, nil), []exitCase{
		{"render -o json is refused, not printed as YAML", []string{"render", "-o", "json"}, 2, `unknown output format "json" for marina render: use -o yaml`},
		{"render -o yaml is what it prints", []string{"render", "--env", "staging", "-o", "yaml"}, 0, "kind: Deployment"},
		{"serve has no -o", []string{"serve", "--model", "x.onnx", "-o", "json"}, 2, "marina serve has no -o output"},
		{"validate -o yaml is refused", []string{"validate", "-o", "yaml"}, 2, "use -o text, -o json, -o sarif, -o junit"},
		{"history -o yaml is data", []string{"history", "iris-classifier", "-o", "yaml"}, 0, "environment: prod"},
		{"ci -o sarif is refused (it has --sarif FILE)", []string{"ci", "-o", "sarif"}, 2, "use -o text, -o markdown, -o json"},
		{"model list -o json is data", []string{"model", "list", "-o", "json"}, 0, `"name": "iris-classifier"`},
	})
}
