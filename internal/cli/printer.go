package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/mattn/go-isatty"
	"sigs.k8s.io/yaml"
)

// printer writes command results as a table, JSON or YAML (-o).
type printer struct {
	format string
	out    io.Writer
	color  bool
}

func newPrinter(format string, out io.Writer, color bool) (*printer, error) {
	switch format {
	case "table", "json", "yaml":
		return &printer{format: format, out: out, color: color}, nil
	}
	return nil, usagef("unknown output format %q: use -o table, -o json or -o yaml", format)
}

// table is the human view of a result: a header and rows of cells.
type table struct {
	header []string
	rows   [][]string
}

// print writes v as JSON or YAML, or t as an aligned table.
func (p *printer) print(v any, t table) error {
	switch p.format {
	case "json":
		enc := json.NewEncoder(p.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = p.out.Write(b)
		return err
	}
	tw := tabwriter.NewWriter(p.out, 0, 4, 3, ' ', 0)
	if len(t.header) > 0 {
		fmt.Fprintln(tw, p.bold(strings.Join(t.header, "\t")))
	}
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func (p *printer) bold(s string) string {
	if !p.color {
		return s
	}
	return "\x1b[1m" + s + "\x1b[0m"
}

// isTerminal reports whether w is a terminal, so colour and progress bars stay off in pipes and CI logs.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
