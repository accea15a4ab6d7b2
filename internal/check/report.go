package check

import (
	"fmt"
	"io"
	"strings"

	"github.com/marina-dev/marina/internal/report"
)

var _ report.Report = (*Report)(nil)

func (r *Report) title() string {
	if r.Model == "" {
		return r.Artifact
	}
	return r.Model + "@" + r.Version
}

func status(passed, skipped bool) string {
	switch {
	case skipped:
		return "SKIP"
	case passed:
		return "PASS"
	}
	return "FAIL"
}

// WriteText writes one line per step and gate, then a summary; it has no colours.
func (rep *Report) WriteText(w io.Writer, _ bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "model check %s\n", rep.title())
	for _, s := range rep.Steps {
		fmt.Fprintf(&b, "  %s  %-10s %s\n", status(s.Passed, s.Skipped), s.Name, s.Message)
	}
	for _, g := range rep.Gates {
		fmt.Fprintf(&b, "  %s  gate %s  %s\n", status(g.Passed, g.Skipped), g.Gate, g.Message)
	}
	if n := rep.Failures(); n > 0 {
		fmt.Fprintf(&b, "%s: %d of %d checks failed\n", rep.title(), n, len(rep.Steps)+len(rep.Gates))
	} else {
		fmt.Fprintf(&b, "%s: all %d checks passed\n", rep.title(), len(rep.Steps)+len(rep.Gates))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// JUnit builds one testsuite with a testcase per step and per gate.
func (rep *Report) JUnit() *report.JUnitSuites {
	suite := report.JUnitSuite{Name: "model check " + rep.title()}
	class := "marina.check." + rep.title()
	add := func(name, message string, passed, skipped bool) {
		c := report.JUnitCase{Name: name, ClassName: class, SystemOut: message}
		switch {
		case skipped:
			c.Skipped = &report.JUnitSkipped{Message: message}
			suite.Skipped++
		case !passed:
			c.Failure = &report.JUnitFailure{Message: message, Type: name, Text: message}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, c)
	}
	for _, s := range rep.Steps {
		add(s.Name, s.Message, s.Passed, s.Skipped)
	}
	for _, g := range rep.Gates {
		add("gate "+g.Gate, g.Message, g.Passed, g.Skipped)
	}
	doc := &report.JUnitSuites{Name: "marina model check"}
	doc.Add(suite)
	return doc
}
