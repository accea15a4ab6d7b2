package cli

import (
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/marina-dev/marina/internal/kubeschema"
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
	// Schemas are the module versions of the Kubernetes and CRD schemas built in for validate (-o json/yaml).
	Schemas *schemaVersions `json:"schemas,omitempty"`
}

// schemaVersions are the sources of the builtin schema bundle.
type schemaVersions struct {
	Bundle []string `json:"bundle"`
	// GatewayAPIExperimental is the Gateway API version whose experimental channel a project may choose
	// (spec.gatewayAPI.channel in marina.yaml).
	GatewayAPIExperimental string `json:"gatewayAPIExperimental,omitempty"`
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
		Short:   "Print marina's version, Git commit and Go version (and, with -o json|yaml, the built-in schemas' sources)",
		Example: "  marina version\n  marina version -o json",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			p, err := g.printer()
			if err != nil {
				return err
			}
			v := currentVersion()
			kube, err := kubeschema.Builtin()
			if err != nil {
				return err
			}
			v.Schemas = &schemaVersions{Bundle: kube.Sources(), GatewayAPIExperimental: kube.ExperimentalSource()}
			return p.print(v, table{
				header: []string{"VERSION", "COMMIT", "GO", "PLATFORM"},
				rows:   [][]string{{v.Version, v.GitCommit, v.GoVersion, v.Platform}},
			})
		},
	}
}
