package cli

import (
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/report"
)

// checkOptions are the flags validate and ci share: extra CRDs and concurrency.
type checkOptions struct {
	crds        []string
	concurrency int
}

func (o *checkOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.crds, "crds", nil, "a directory (or file) of CustomResourceDefinitions for kinds marina has no schema for; repeatable")
	fs.IntVar(&o.concurrency, "concurrency", 0, "files checked at once (default: the number of CPUs)")
}

func (o *checkOptions) Validate() error {
	if o.concurrency < 0 {
		return usagef("--concurrency must be 0 (one per CPU) or more, not %d", o.concurrency)
	}
	for _, d := range o.crds {
		if _, err := os.Stat(d); err != nil {
			return usagef("--crds %s: %v", d, err)
		}
	}
	return nil
}

// resolveFormat maps -o to one of a command's own formats. -o is the global flag,
// whose default "table" means the human format, text.
func resolveFormat(cmd, output string, formats []string) (string, error) {
	if output == "" || output == "table" {
		output = report.FormatText
	}
	if !slices.Contains(formats, output) {
		return "", usagef("unknown output format %q for %s: use -o %s", output, cmd, strings.Join(formats, ", -o "))
	}
	return output, nil
}

// marinaTool describes marina in SARIF and JUnit reports.
func marinaTool() report.Tool {
	return report.Tool{Name: "marina", Version: currentVersion().Version, InformationURI: "https://github.com/marina-dev/marina"}
}
