package cli

import (
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at link time: -ldflags "-X github.com/marina-dev/marina/internal/cli.version=v0.1.0".
var (
	version = "dev"
	commit  = ""
)

// versionInfo is what `marina version` prints.
type versionInfo struct {
	Version   string `json:"version"`
	GitCommit string `json:"gitCommit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func currentVersion() versionInfo {
	v := versionInfo{Version: version, GitCommit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if v.GitCommit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					v.GitCommit = s.Value
				}
			}
		}
	}
	return v
}

func newVersionCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print marina's version, Git commit and Go version",
		Example: "  marina version\n  marina version -o json",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			p, err := g.printer()
			if err != nil {
				return err
			}
			v := currentVersion()
			return p.print(v, table{
				header: []string{"VERSION", "COMMIT", "GO", "PLATFORM"},
				rows:   [][]string{{v.Version, v.GitCommit, v.GoVersion, v.Platform}},
			})
		},
	}
}
