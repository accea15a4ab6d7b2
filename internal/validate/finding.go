package validate

import (
	"cmp"
	"slices"
)

// Severity is how bad a finding is. Only errors fail validation.
type Severity string

// Severities, from worst to mildest.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// Finding is one thing validation found.
type Finding struct {
	Severity Severity `json:"severity"`
	// Rule is the id of an entry of Rules, e.g. k8s-schema.
	Rule string `json:"rule"`
	// File is repository-relative, slash-separated.
	File string `json:"file"`
	// Path is the field, e.g. spec.environments.prod.version; empty for the whole file.
	Path string `json:"path,omitempty"`
	// Line is 1-based; 0 when unknown.
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
	// Hint says what to do about it.
	Hint string `json:"hint,omitempty"`
}

// Report is the result of a validation run.
type Report struct {
	// Findings are ordered by file, line, rule, path and message.
	Findings []Finding `json:"findings"`
	// Files lists every file that was checked, sorted.
	Files []string `json:"files"`
}

// Errors counts the error-level findings.
func (r *Report) Errors() int { return r.count(SeverityError) }

// Warnings counts the warning-level findings.
func (r *Report) Warnings() int { return r.count(SeverityWarning) }

func (r *Report) count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// sortFindings puts findings in the report's order and drops exact duplicates.
func sortFindings(fs []Finding) []Finding {
	slices.SortFunc(fs, compareFindings)
	return slices.Compact(fs)
}

func compareFindings(a, b Finding) int {
	return cmp.Or(
		cmp.Compare(a.File, b.File),
		cmp.Compare(a.Line, b.Line),
		cmp.Compare(a.Rule, b.Rule),
		cmp.Compare(a.Path, b.Path),
		cmp.Compare(a.Message, b.Message),
		cmp.Compare(a.Severity, b.Severity),
		cmp.Compare(a.Hint, b.Hint),
	)
}
