package report_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/report"
)

// steps is a Report without findings in files: no SARIF.
type steps struct {
	Passed []string `json:"passed"`
}

func (s steps) WriteText(w io.Writer, color bool) error {
	_, err := io.WriteString(w, strings.Join(s.Passed, "\n")+"\n")
	return err
}

func (s steps) JUnit() *report.JUnitSuites {
	suite := report.JUnitSuite{Name: "steps"}
	for _, p := range s.Passed {
		suite.Cases = append(suite.Cases, report.JUnitCase{Name: p, ClassName: "steps"})
	}
	doc := &report.JUnitSuites{Name: "test"}
	doc.Add(suite)
	return doc
}

func TestWriteWritesEveryFormatOfAReport(t *testing.T) {
	t.Parallel()
	r := steps{Passed: []string{"digest", "smoke"}}
	for _, tc := range []struct{ format, want string }{
		{report.FormatText, "digest\nsmoke\n"},
		{report.FormatJSON, "{\n  \"passed\": [\n    \"digest\",\n    \"smoke\"\n  ]\n}\n"},
		{report.FormatJUnit, `<testsuites name="test" tests="2" failures="0" errors="0">`},
	} {
		var b bytes.Buffer
		if err := report.Write(&b, tc.format, r, report.Options{}); err != nil {
			t.Fatalf("%s: %v", tc.format, err)
		}
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("%s:\n%s\nwant it to contain %q", tc.format, b.String(), tc.want)
		}
	}
}

func TestAReportWithoutFindingsHasNoSARIF(t *testing.T) {
	t.Parallel()
	r := steps{}
	if got := strings.Join(report.Formats(r), ","); got != "text,json,junit" {
		t.Fatalf("Formats = %s, want text,json,junit", got)
	}
	err := report.Write(io.Discard, report.FormatSARIF, r, report.Options{})
	if err == nil || !strings.Contains(err.Error(), `unknown format "sarif": use text, json, junit`) {
		t.Fatalf("Write(sarif) = %v, want an error listing the report's formats", err)
	}
}

func TestSARIFNamesRulesAndLocatesResults(t *testing.T) {
	t.Parallel()
	log := report.SARIF(report.Tool{}, []report.Rule{{ID: "k8s-schema", Short: "s", Help: "h", Level: report.LevelError}},
		[]report.Result{{RuleID: "k8s-schema", Level: report.LevelError, Message: "m", File: "apps/a b.yaml", Line: 3}})
	var b bytes.Buffer
	if err := log.Write(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"name": "marina"`, `"name": "K8sSchema"`, `"uri": "apps/a%20b.yaml"`, `"startLine": 3`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("SARIF log lacks %s:\n%s", want, b.String())
		}
	}
}
