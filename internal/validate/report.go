package validate

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Formats the reporters write.
const (
	FormatText  = "text"
	FormatJSON  = "json"
	FormatSARIF = "sarif"
	FormatJUnit = "junit"
)

// Formats lists the output formats, for flag help and errors.
var Formats = []string{FormatText, FormatJSON, FormatSARIF, FormatJUnit}

// Tool identifies the program in SARIF output.
type Tool struct {
	Name, Version, InformationURI string
}

// WriteOptions tune the reporters.
type WriteOptions struct {
	// Color adds ANSI colours to the text format.
	Color bool
	// Tool names the producer in SARIF output.
	Tool Tool
}

// Write writes the report in format (text, json, sarif or junit).
func Write(w io.Writer, format string, rep *Report, opts WriteOptions) error {
	switch format {
	case FormatText:
		return WriteText(w, rep, opts.Color)
	case FormatJSON:
		return WriteJSON(w, rep)
	case FormatSARIF:
		return WriteSARIF(w, rep, opts.Tool)
	case FormatJUnit:
		return WriteJUnit(w, rep)
	}
	return fmt.Errorf("unknown format %q: use %s", format, strings.Join(Formats, ", "))
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiBlue   = "\x1b[34m"
)

// WriteText writes one line per finding, `file:line: severity rule: message (path)`, its hint indented below, and
// a summary line.
func WriteText(w io.Writer, rep *Report, color bool) error {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	var b strings.Builder
	for _, f := range rep.Findings {
		loc := f.File
		if f.Line > 0 {
			loc += fmt.Sprintf(":%d", f.Line)
		}
		sevColor := map[Severity]string{SeverityError: ansiRed, SeverityWarning: ansiYellow, SeverityInfo: ansiBlue}[f.Severity]
		fmt.Fprintf(&b, "%s: %s %s: %s", paint(ansiBold, loc), paint(sevColor, string(f.Severity)), f.Rule, f.Message)
		if f.Path != "" {
			fmt.Fprintf(&b, " (%s)", f.Path)
		}
		b.WriteByte('\n')
		if f.Hint != "" {
			fmt.Fprintf(&b, "    %s\n", paint(ansiDim, "hint: "+f.Hint))
		}
	}
	errs, warns := rep.Errors(), rep.Warnings()
	infos := len(rep.Findings) - errs - warns
	if len(rep.Findings) == 0 {
		fmt.Fprintf(&b, "%s: no problems in %d files\n", paint(ansiBold, "ok"), len(rep.Files))
	} else {
		fmt.Fprintf(&b, "%s, %s, %s in %d files\n", plural(errs, "error"), plural(warns, "warning"), plural(infos, "note"), len(rep.Files))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, rep *Report) error {
	out := *rep
	if out.Findings == nil {
		out.Findings = []Finding{}
	}
	if out.Files == nil {
		out.Files = []string{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// SARIF 2.1.0 (OASIS), the subset marina writes.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string          `json:"id"`
	Name                 string          `json:"name"`
	ShortDescription     sarifText       `json:"shortDescription"`
	FullDescription      sarifText       `json:"fullDescription"`
	Help                 sarifText       `json:"help"`
	DefaultConfiguration sarifRuleConfig `json:"defaultConfiguration"`
	Properties           map[string]any  `json:"properties,omitempty"`
}

type sarifRuleConfig struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	RuleIndex  int             `json:"ruleIndex"`
	Level      string          `json:"level"`
	Message    sarifText       `json:"message"`
	Locations  []sarifLocation `json:"locations"`
	Properties map[string]any  `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifactLoc `json:"artifactLocation"`
	Region           *sarifRegion     `json:"region,omitempty"`
}

type sarifArtifactLoc struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

func sarifLevel(s Severity) string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	}
	return "note"
}

// WriteSARIF writes the report as a SARIF 2.1.0 log with one run, whose tool.driver.rules is Rules. File URIs are
// repository-relative against the uriBaseId %SRCROOT%, as code scanning services expect.
func WriteSARIF(w io.Writer, rep *Report, tool Tool) error {
	if tool.Name == "" {
		tool.Name = "marina"
	}
	index := map[string]int{}
	rules := make([]sarifRule, len(Rules))
	for i, r := range Rules {
		index[r.ID] = i
		rules[i] = sarifRule{
			ID: r.ID, Name: ruleName(r.ID),
			ShortDescription:     sarifText{r.Short},
			FullDescription:      sarifText{r.Short + ". " + r.Help},
			Help:                 sarifText{r.Help},
			DefaultConfiguration: sarifRuleConfig{sarifLevel(r.Severity)},
		}
	}
	results := make([]sarifResult, 0, len(rep.Findings))
	for _, f := range rep.Findings {
		msg := f.Message
		if f.Path != "" {
			msg += " (" + f.Path + ")"
		}
		if f.Hint != "" {
			msg += ". Hint: " + f.Hint
		}
		loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifactLoc{URI: uriPath(f.File), URIBaseID: "%SRCROOT%"}}}
		if f.Line > 0 {
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Line}
		}
		props := map[string]any{"severity": string(f.Severity)}
		if f.Path != "" {
			props["path"] = f.Path
		}
		if f.Hint != "" {
			props["hint"] = f.Hint
		}
		results = append(results, sarifResult{
			RuleID: f.Rule, RuleIndex: index[f.Rule], Level: sarifLevel(f.Severity),
			Message: sarifText{msg}, Locations: []sarifLocation{loc}, Properties: props,
		})
	}
	log := sarifLog{
		Schema:  "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
		Version: "2.1.0",
		Runs: []sarifRun{{
			Tool:    sarifTool{Driver: sarifDriver{Name: tool.Name, Version: tool.Version, InformationURI: tool.InformationURI, Rules: rules}},
			Results: results,
		}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

// ruleName is a rule id in PascalCase (SARIF's rule name is an identifier, e.g. K8sSchema).
func ruleName(id string) string {
	var b strings.Builder
	for _, part := range strings.Split(id, "-") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// uriPath percent-encodes what a relative URI reference may not hold as is.
func uriPath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~/!$&'()*+,;=:@", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// JUnitSuites is a JUnit XML document as Jenkins, GitLab and GitHub test reporters read it.
// marina ci adds its own suites to validate's before writing it.
type JUnitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr,omitempty"`
	Suites   []JUnitSuite `xml:"testsuite"`
}

// JUnitSuite is one testsuite.
type JUnitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr,omitempty"`
	Cases    []JUnitCase `xml:"testcase"`
}

// JUnitCase is one testcase: passed, failed or skipped.
type JUnitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *JUnitFailure `xml:"failure,omitempty"`
	Skipped   *JUnitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

// JUnitFailure fails a testcase.
type JUnitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// JUnitSkipped skips a testcase.
type JUnitSkipped struct {
	Message string `xml:"message,attr"`
}

// Add appends a suite and updates the document's totals; the suite's Tests is its number of cases.
func (d *JUnitSuites) Add(s JUnitSuite) {
	s.Tests = len(s.Cases)
	d.Tests += s.Tests
	d.Failures += s.Failures
	d.Skipped += s.Skipped
	d.Suites = append(d.Suites, s)
}

// Write writes the document with its XML header.
func (d *JUnitSuites) Write(w io.Writer) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(d); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteJUnit writes the report's JUnit document.
func WriteJUnit(w io.Writer, rep *Report) error {
	return JUnit(rep).Write(w)
}

// JUnit builds one testsuite per checked file and one testcase per rule with findings in it (a single passing
// "valid" testcase for a clean file). Error findings fail their testcase; warnings and notes go to its system-out.
func JUnit(rep *Report) *JUnitSuites {
	byFile := map[string][]Finding{}
	files := append([]string(nil), rep.Files...)
	seen := map[string]bool{}
	for _, f := range files {
		seen[f] = true
	}
	for _, f := range rep.Findings {
		byFile[f.File] = append(byFile[f.File], f)
		if !seen[f.File] {
			seen[f.File] = true
			files = append(files, f.File)
		}
	}
	slices.Sort(files)
	out := &JUnitSuites{Name: "marina validate"}
	for _, file := range files {
		suite := JUnitSuite{Name: file}
		var rules []string
		byRule := map[string][]Finding{}
		for _, f := range byFile[file] {
			if byRule[f.Rule] == nil {
				rules = append(rules, f.Rule)
			}
			byRule[f.Rule] = append(byRule[f.Rule], f)
		}
		slices.Sort(rules)
		if len(rules) == 0 {
			suite.Cases = append(suite.Cases, JUnitCase{Name: "valid", ClassName: file})
		}
		for _, rule := range rules {
			c := JUnitCase{Name: rule, ClassName: file}
			var failText, sysOut strings.Builder
			var first string
			for _, f := range byRule[rule] {
				line := findingLine(f)
				if f.Severity == SeverityError {
					if first == "" {
						first = f.Message
					}
					failText.WriteString(line)
				} else {
					sysOut.WriteString(line)
				}
			}
			if failText.Len() > 0 {
				c.Failure = &JUnitFailure{Message: first, Type: rule, Text: failText.String()}
				suite.Failures++
			}
			c.SystemOut = sysOut.String()
			suite.Cases = append(suite.Cases, c)
		}
		out.Add(suite)
	}
	return out
}

func findingLine(f Finding) string {
	s := f.File
	if f.Line > 0 {
		s += fmt.Sprintf(":%d", f.Line)
	}
	s += fmt.Sprintf(": %s %s: %s", f.Severity, f.Rule, f.Message)
	if f.Path != "" {
		s += " (" + f.Path + ")"
	}
	if f.Hint != "" {
		s += "\n    hint: " + f.Hint
	}
	return s + "\n"
}
