package cli

import (
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/registry"
)

// exactArgs is cobra.ExactArgs with a message that names what is missing.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %s (got %d arguments); see %s --help", cmd.CommandPath(), what, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// readCapped reads at most max bytes, failing beyond.
func readCapped(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, usagef("over the %d byte limit", max)
	}
	return b, nil
}

// versionArg splits NAME@VERSION, the argument of the commands that change one registered version.
func versionArg(target string) (name, version string, err error) {
	name, version, ok := strings.Cut(target, "@")
	if !ok || version == "" {
		return "", "", usagef("%q: name the version as NAME@VERSION, e.g. fraud-detector@1.2.0", target)
	}
	if err := registry.CheckName(name); err != nil {
		return "", "", usagef("%v", err)
	}
	if _, err := model.ParseSemver(version); err != nil {
		return "", "", usagef("%v", err)
	}
	return name, version, nil
}

// addPushFlags adds --push and --remote as promote has them, without --branch: for commands whose commit belongs
// on the branch the artifact was built from.
func (o *branchOptions) addPushFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.push, "push", false, "push the current branch to --remote after committing")
	fs.StringVar(&o.remote, "remote", "origin", "remote to push to")
}
