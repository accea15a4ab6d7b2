package ci

import (
	"fmt"
	"io"

	"github.com/marina-dev/marina/internal/report"
)

// WriteJUnit writes validate's JUnit report with more suites: one testcase per gate result, one suite per
// model check with a testcase per step, and one testcase per stale rendered file (a single passing testcase when
// the output is up to date).
func WriteJUnit(w io.Writer, res *Result) error {
	doc := res.Validate.JUnit()
	doc.Name = "marina ci"

	gates := report.JUnitSuite{Name: "marina ci: quality gates"}
	for _, g := range res.Gates {
		c := report.JUnitCase{Name: g.Model + "@" + g.Version + " " + g.Gate, ClassName: "gates." + g.Model, SystemOut: g.Message + "\n"}
		switch {
		case g.Skipped:
			c.Skipped = &report.JUnitSkipped{Message: g.Message}
			gates.Skipped++
		case !g.Passed:
			c.Failure = &report.JUnitFailure{Message: g.Message, Type: g.Gate, Text: g.Message + "\n"}
			gates.Failures++
		}
		gates.Cases = append(gates.Cases, c)
	}
	if len(gates.Cases) == 0 {
		gates.Cases = append(gates.Cases, report.JUnitCase{Name: "no changed version to check", ClassName: "gates"})
	}

	rendered := report.JUnitSuite{Name: "marina ci: rendered manifests"}
	switch {
	case res.RenderError != "":
		rendered.Cases = append(rendered.Cases, report.JUnitCase{Name: "render", ClassName: "rendered",
			Failure: &report.JUnitFailure{Message: "the repository does not render", Type: "render", Text: res.RenderError + "\n"}})
		rendered.Failures++
	case len(res.Stale) == 0:
		rendered.Cases = append(rendered.Cases, report.JUnitCase{Name: "up to date", ClassName: "rendered"})
	}
	for _, s := range res.Stale {
		msg := fmt.Sprintf("%s would be %s by marina render --write; run it and commit", s.Path, s.Change)
		rendered.Cases = append(rendered.Cases, report.JUnitCase{Name: s.Path, ClassName: "rendered",
			Failure: &report.JUnitFailure{Message: msg, Type: "stale-render", Text: msg + "\n"}})
		rendered.Failures++
	}

	doc.Add(gates)
	for _, c := range res.Checks {
		if c.Report != nil {
			suite := c.Report.JUnit().Suites[0] // the report carries no gates: the gates suite has them
			suite.Name = "marina ci: model check " + c.Ref()
			doc.Add(suite)
		}
	}
	doc.Add(rendered)
	return doc.Write(w)
}

// WriteSARIF writes validate's findings as SARIF 2.1.0 (gates of deployed versions and stale rendered output are
// among them: validate checks both for the whole repository).
func WriteSARIF(w io.Writer, res *Result, tool report.Tool) error {
	return res.Validate.SARIF(tool).Write(w)
}
