package ci

import (
	"fmt"
	"io"

	"github.com/marina-dev/marina/internal/check"
	"github.com/marina-dev/marina/internal/validate"
)

// WriteJUnit writes validate's JUnit report with more suites: one testcase per gate result, one suite per
// model check with a testcase per step, and one testcase per stale rendered file (a single passing testcase when
// the output is up to date).
func WriteJUnit(w io.Writer, res *Result) error {
	doc := validate.JUnit(res.Validate)
	doc.Name = "marina ci"

	gates := validate.JUnitSuite{Name: "marina ci: quality gates"}
	for _, g := range res.Gates {
		c := validate.JUnitCase{Name: g.Model + "@" + g.Version + " " + g.Gate, ClassName: "gates." + g.Model, SystemOut: g.Message + "\n"}
		switch {
		case g.Skipped:
			c.Skipped = &validate.JUnitSkipped{Message: g.Message}
			gates.Skipped++
		case !g.Passed:
			c.Failure = &validate.JUnitFailure{Message: g.Message, Type: g.Gate, Text: g.Message + "\n"}
			gates.Failures++
		}
		gates.Cases = append(gates.Cases, c)
	}
	if len(gates.Cases) == 0 {
		gates.Cases = append(gates.Cases, validate.JUnitCase{Name: "no changed version to check", ClassName: "gates"})
	}

	rendered := validate.JUnitSuite{Name: "marina ci: rendered manifests"}
	switch {
	case res.RenderError != "":
		rendered.Cases = append(rendered.Cases, validate.JUnitCase{Name: "render", ClassName: "rendered",
			Failure: &validate.JUnitFailure{Message: "the repository does not render", Type: "render", Text: res.RenderError + "\n"}})
		rendered.Failures++
	case len(res.Stale) == 0:
		rendered.Cases = append(rendered.Cases, validate.JUnitCase{Name: "up to date", ClassName: "rendered"})
	}
	for _, s := range res.Stale {
		msg := fmt.Sprintf("%s would be %s by marina render --write; run it and commit", s.Path, s.Change)
		rendered.Cases = append(rendered.Cases, validate.JUnitCase{Name: s.Path, ClassName: "rendered",
			Failure: &validate.JUnitFailure{Message: msg, Type: "stale-render", Text: msg + "\n"}})
		rendered.Failures++
	}

	doc.Add(gates)
	for _, c := range res.Checks {
		if c.Report != nil {
			suite := check.JUnit(c.Report).Suites[0] // the report carries no gates: the gates suite has them
			suite.Name = "marina ci: model check " + c.Ref()
			doc.Add(suite)
		}
	}
	doc.Add(rendered)
	return doc.Write(w)
}

// WriteSARIF writes validate's findings as SARIF 2.1.0 (gates of deployed versions and stale rendered output are
// among them: validate checks both for the whole repository).
func WriteSARIF(w io.Writer, res *Result, tool validate.Tool) error {
	return validate.WriteSARIF(w, res.Validate, tool)
}
