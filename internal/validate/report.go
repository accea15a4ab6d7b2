package validate

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/marina-dev/marina/internal/report"
)

var _ report.SARIFReport = (*Report)(nil)

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
func (rep *Report) WriteText(w io.Writer, color bool) error {
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

// MarshalJSON writes empty lists as [], never null.
func (rep *Report) MarshalJSON() ([]byte, error) {
	type plain Report // without this method
	out := plain(*rep)
	if out.Findings == nil {
		out.Findings = []Finding{}
	}
	if out.Files == nil {
		out.Files = []string{}
	}
	return json.Marshal(out)
}

func sarifLevel(s Severity) string {
	switch s {
	case SeverityError:
		return report.LevelError
	case SeverityWarning:
		return report.LevelWarning
	}
	return report.LevelNote
}

// SARIF is the report as a SARIF 2.1.0 log whose tool.driver.rules is Rules.
func (rep *Report) SARIF(tool report.Tool) *report.SARIFLog {
	rules := make([]report.Rule, len(Rules))
	for i, r := range Rules {
		rules[i] = report.Rule{ID: r.ID, Short: r.Short, Help: r.Help, Level: sarifLevel(r.Severity)}
	}
	results := make([]report.Result, 0, len(rep.Findings))
	for _, f := range rep.Findings {
		msg := f.Message
		if f.Path != "" {
			msg += " (" + f.Path + ")"
		}
		if f.Hint != "" {
			msg += ". Hint: " + f.Hint
		}
		props := map[string]any{"severity": string(f.Severity)}
		if f.Path != "" {
			props["path"] = f.Path
		}
		if f.Hint != "" {
			props["hint"] = f.Hint
		}
		results = append(results, report.Result{RuleID: f.Rule, Level: sarifLevel(f.Severity), Message: msg, File: f.File, Line: f.Line, Properties: props})
	}
	return report.SARIF(tool, rules, results)
}

// JUnit builds one testsuite per checked file and one testcase per rule with findings in it (a single passing
// "valid" testcase for a clean file). Error findings fail their testcase; warnings and notes go to its system-out.
func (rep *Report) JUnit() *report.JUnitSuites {
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
	out := &report.JUnitSuites{Name: "marina validate"}
	for _, file := range files {
		suite := report.JUnitSuite{Name: file}
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
			suite.Cases = append(suite.Cases, report.JUnitCase{Name: "valid", ClassName: file})
		}
		for _, rule := range rules {
			c := report.JUnitCase{Name: rule, ClassName: file}
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
				c.Failure = &report.JUnitFailure{Message: first, Type: rule, Text: failText.String()}
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
