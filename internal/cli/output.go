package cli

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// outputAnnotation holds the -o formats a command declares, comma-separated, the default first.
const outputAnnotation = "marina.dev/output-formats"

var dataFormats = []string{"table", "json", "yaml"}

// outputs are the -o formats of each command, the first its default; an empty list means the command has
// no -o output. A command's help says which it takes, and any other is refused.
var outputs = map[string][]string{
	"marina version":               dataFormats,
	"marina init":                  dataFormats,
	"marina model register":        dataFormats,
	"marina model list":            dataFormats,
	"marina model show":            dataFormats,
	"marina model set-image":       dataFormats,
	"marina model sign":            dataFormats,
	"marina model check":           {"text", "json", "junit"},
	"marina model push":            dataFormats,
	"marina model pull":            dataFormats,
	"marina image sign":            dataFormats,
	"marina image verify":          dataFormats,
	"marina promote":               dataFormats,
	"marina rollback":              dataFormats,
	"marina history":               dataFormats,
	"marina render":                {"yaml"},
	"marina ci":                    {"text", "markdown", "json"},
	"marina validate":              {"text", "json", "sarif", "junit"},
	"marina doctor":                dataFormats,
	"marina status":                dataFormats,
	"marina ui":                    nil,
	"marina runtime":               nil,
	"marina runtime install":       nil,
	"marina serve":                 nil,
	"marina router":                nil,
	"marina controller":            nil,
	"marina sandbox":               nil,
	"marina sandbox up":            dataFormats,
	"marina sandbox status":        dataFormats,
	"marina sandbox demo":          nil,
	"marina sandbox down":          nil,
	"marina-serve version":         dataFormats,
	"marina-serve serve":           nil,
	"marina-serve runtime":         nil,
	"marina-serve runtime install": nil,
}

// declareOutputs records each command's -o formats from outputs and adds them to its help.
func declareOutputs(root *cobra.Command) {
	for _, c := range root.Commands() {
		declareOutputs(c)
	}
	formats, ok := outputs[root.CommandPath()]
	if !ok {
		return
	}
	if root.Annotations == nil {
		root.Annotations = map[string]string{}
	}
	root.Annotations[outputAnnotation] = strings.Join(formats, ",")
	line := "This command has no -o output."
	if len(formats) > 0 {
		line = "Output (-o): " + strings.Join(formats, ", ") + "; default " + formats[0] + "."
	}
	long := root.Long
	if long == "" {
		long = root.Short + "."
	}
	root.Long = long + "\n\n" + line
}

// checkOutput refuses an -o value the command does not declare.
func checkOutput(cmd *cobra.Command, output string) error {
	f := cmd.Flags().Lookup("output")
	declared, ok := cmd.Annotations[outputAnnotation]
	if f == nil || !f.Changed || !ok {
		return nil
	}
	if declared == "" {
		return usagef("-o %s: %s has no -o output (it serves or runs until stopped)", output, cmd.CommandPath())
	}
	formats := strings.Split(declared, ",")
	if slices.Contains(formats, output) {
		return nil
	}
	return usagef("unknown output format %q for %s: use -o %s", output, cmd.CommandPath(), strings.Join(formats, ", -o "))
}
