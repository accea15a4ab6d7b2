package ci

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"

	"github.com/marina-dev/marina/internal/validate"
)

// The JUnit XML validate writes, read back so the ci suites can be added to the same document. Fields mirror
// validate's reporter; skipped is added for gates that could not be measured.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr,omitempty"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr,omitempty"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// WriteJUnit writes validate's JUnit report with two more suites: one testcase per gate result, and one per
// stale rendered file (a single passing testcase when the output is up to date).
func WriteJUnit(w io.Writer, res *Result) error {
	var buf bytes.Buffer
	if err := validate.WriteJUnit(&buf, res.Validate); err != nil {
		return err
	}
	var doc junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		return fmt.Errorf("reading validate's JUnit report back: %w", err)
	}
	doc.Name = "marina ci"

	gates := junitSuite{Name: "marina ci: quality gates"}
	for _, g := range res.Gates {
		c := junitCase{Name: g.Model + "@" + g.Version + " " + g.Gate, ClassName: "gates." + g.Model, SystemOut: g.Message + "\n"}
		switch {
		case g.Skipped:
			c.Skipped = &junitSkipped{Message: g.Message}
			gates.Skipped++
		case !g.Passed:
			c.Failure = &junitFailure{Message: g.Message, Type: g.Gate, Text: g.Message + "\n"}
			gates.Failures++
		}
		gates.Cases = append(gates.Cases, c)
	}
	if len(gates.Cases) == 0 {
		gates.Cases = append(gates.Cases, junitCase{Name: "no changed version to check", ClassName: "gates"})
	}

	rendered := junitSuite{Name: "marina ci: rendered manifests"}
	switch {
	case res.RenderError != "":
		rendered.Cases = append(rendered.Cases, junitCase{Name: "render", ClassName: "rendered",
			Failure: &junitFailure{Message: "the repository does not render", Type: "render", Text: res.RenderError + "\n"}})
		rendered.Failures++
	case len(res.Stale) == 0:
		rendered.Cases = append(rendered.Cases, junitCase{Name: "up to date", ClassName: "rendered"})
	}
	for _, s := range res.Stale {
		msg := fmt.Sprintf("%s would be %s by marina render --write; run it and commit", s.Path, s.Change)
		rendered.Cases = append(rendered.Cases, junitCase{Name: s.Path, ClassName: "rendered",
			Failure: &junitFailure{Message: msg, Type: "stale-render", Text: msg + "\n"}})
		rendered.Failures++
	}

	for _, s := range []junitSuite{gates, rendered} {
		s.Tests = len(s.Cases)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Skipped += s.Skipped
		doc.Suites = append(doc.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteSARIF writes validate's findings as SARIF 2.1.0 (gates of deployed versions and stale rendered output are
// among them: validate checks both for the whole repository).
func WriteSARIF(w io.Writer, res *Result, tool validate.Tool) error {
	return validate.WriteSARIF(w, res.Validate, tool)
}
