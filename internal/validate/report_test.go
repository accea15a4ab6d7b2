package validate_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/golden"
	"github.com/marina-dev/marina/internal/prereq"
	"github.com/marina-dev/marina/internal/report"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/marina-dev/marina/internal/validate"
)

func TestTextOutputOfARepositoryWithMistakesMatchesTheGoldenFile(t *testing.T) {
	t.Parallel()
	rep := run(t, mistakes(t), validate.Options{})
	var got bytes.Buffer
	if err := rep.WriteText(&got, false); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "mistakes.txt"), got.Bytes())
}

func TestTextOutputColoursOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	rep := &validate.Report{Findings: []validate.Finding{{Severity: validate.SeverityError, Rule: "schema", File: "marina.yaml", Line: 3, Message: "bad", Hint: "fix"}}, Files: []string{"marina.yaml"}}
	var plain, colour bytes.Buffer
	_ = rep.WriteText(&plain, false)
	_ = rep.WriteText(&colour, true)
	if strings.Contains(plain.String(), "\x1b[") || !strings.Contains(colour.String(), "\x1b[31merror") {
		t.Fatalf("plain %q\ncolour %q", plain.String(), colour.String())
	}
	if want := "marina.yaml:3: error schema: bad\n    hint: fix\n1 error, 0 warnings, 0 notes in 1 files\n"; plain.String() != want {
		t.Fatalf("got %q, want %q", plain.String(), want)
	}
}

func TestJSONOutputIsTheReport(t *testing.T) {
	t.Parallel()
	rep := run(t, mistakes(t), validate.Options{})
	var buf bytes.Buffer
	if err := report.Write(&buf, report.FormatJSON, rep, report.Options{}); err != nil {
		t.Fatal(err)
	}
	var back validate.Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Findings) != len(rep.Findings) || back.Findings[0] != rep.Findings[0] || len(back.Files) != len(rep.Files) {
		t.Fatalf("round trip lost findings:\n%s", buf.String())
	}
	buf.Reset()
	_ = report.Write(&buf, report.FormatJSON, &validate.Report{}, report.Options{})
	if !strings.Contains(buf.String(), `"findings": []`) {
		t.Fatalf("an empty report must list no findings as []: %s", buf.String())
	}
}

// sarifSchema finds the SARIF 2.1.0 schema hack/sarif-schema.sh caches. Missing, the test skips, except with
// CI=true, where it fails: CI must not pass by skipping.
func sarifSchema(t *testing.T) string {
	t.Helper()
	p := os.Getenv("MARINA_SARIF_SCHEMA")
	if p == "" {
		base := os.Getenv("MARINA_CACHE")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache", "marina")
		}
		p = filepath.Join(base, "sarif", "sarif-schema-2.1.0.json")
	}
	if _, err := os.Stat(p); err != nil {
		prereq.Missing(t, "SARIF 2.1.0 schema not found at "+p+": run hack/sarif-schema.sh (or set MARINA_SARIF_SCHEMA)")
	}
	return p
}

func TestSARIFOutputValidatesAgainstTheSARIFSchema(t *testing.T) {
	t.Parallel()
	schemaFile := sarifSchema(t)
	f, err := os.Open(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	rep := run(t, mistakes(t), validate.Options{})
	for name, r := range map[string]*validate.Report{"with findings": rep, "empty": {}} {
		var buf bytes.Buffer
		if err := r.SARIF(report.Tool{Name: "marina", Version: "v0.0.0-test", InformationURI: "https://github.com/marina-dev/marina"}).Write(&buf); err != nil {
			t.Fatal(err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Fatalf("%s: SARIF output does not match the schema: %v\n%s", name, err, buf.String())
		}
	}

	// And it says what code scanning needs.
	var buf bytes.Buffer
	_ = rep.SARIF(report.Tool{Name: "marina", Version: "v1"}).Write(&buf)
	var log struct {
		Runs []struct {
			Tool struct {
				Driver struct {
					Name  string
					Rules []struct {
						ID               string
						ShortDescription struct{ Text string }
						Help             struct{ Text string }
					}
				}
			}
			Results []struct {
				RuleID    string
				RuleIndex int
				Level     string
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI, URIBaseID string }
						Region           *struct{ StartLine int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	run0 := log.Runs[0]
	if run0.Tool.Driver.Name != "marina" || len(run0.Tool.Driver.Rules) != len(validate.Rules) || len(run0.Results) != len(rep.Findings) {
		t.Fatalf("driver %+v, %d results", run0.Tool.Driver, len(run0.Results))
	}
	for i, res := range run0.Results {
		f := rep.Findings[i]
		loc := res.Locations[0].PhysicalLocation
		if run0.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID || res.RuleID != f.Rule || loc.ArtifactLocation.URI != f.File || loc.ArtifactLocation.URIBaseID != "%SRCROOT%" {
			t.Errorf("result %d %+v does not match finding %+v", i, res, f)
		}
		if (f.Line > 0) != (loc.Region != nil) || (loc.Region != nil && loc.Region.StartLine != f.Line) {
			t.Errorf("result %d region %+v, finding line %d", i, loc.Region, f.Line)
		}
		want := map[validate.Severity]string{validate.SeverityError: "error", validate.SeverityWarning: "warning", validate.SeverityInfo: "note"}[f.Severity]
		if res.Level != want {
			t.Errorf("result %d level %s, want %s", i, res.Level, want)
		}
	}
}

func TestJUnitOutputParsesWithOneSuitePerFile(t *testing.T) {
	t.Parallel()
	rep := run(t, mistakes(t), validate.Options{})
	var buf bytes.Buffer
	if err := rep.JUnit().Write(&buf); err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &suites); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	// Expected counts, from the findings: a failing testcase per (file, rule) with an error.
	failing := map[string]bool{}
	files := map[string]bool{}
	for _, f := range rep.Findings {
		files[f.File] = true
		if f.Severity == validate.SeverityError {
			failing[f.File+" "+f.Rule] = true
		}
	}
	for _, f := range rep.Files {
		files[f] = true
	}
	if len(suites.Suites) != len(files) || suites.Failures != len(failing) {
		t.Fatalf("%d suites (want %d), %d failures (want %d)\n%s", len(suites.Suites), len(files), suites.Failures, len(failing), buf.String())
	}
	tests, failures := 0, 0
	for _, s := range suites.Suites {
		n := 0
		for _, c := range s.Cases {
			if c.Failure != nil {
				n++
				if !failing[s.Name+" "+c.Name] || c.Failure.Message == "" {
					t.Errorf("unexpected failure %s %s", s.Name, c.Name)
				}
			}
		}
		if s.Tests != len(s.Cases) || s.Failures != n {
			t.Errorf("suite %s says %d tests, %d failures; has %d, %d", s.Name, s.Tests, s.Failures, len(s.Cases), n)
		}
		tests += s.Tests
		failures += n
	}
	if suites.Tests != tests || suites.Failures != failures {
		t.Fatalf("totals %d/%d, suites add up to %d/%d", suites.Tests, suites.Failures, tests, failures)
	}
}

func TestWriteRejectsAnUnknownFormat(t *testing.T) {
	t.Parallel()
	if err := report.Write(&bytes.Buffer{}, "xml", &validate.Report{}, report.Options{}); err == nil || !strings.Contains(err.Error(), "sarif") {
		t.Fatalf("err = %v", err)
	}
}
