package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Formats a report can be written in.
const (
	FormatText  = "text"
	FormatJSON  = "json"
	FormatSARIF = "sarif"
	FormatJUnit = "junit"
)

// Report is a command's result. Every report is written as text and as JUnit, and as JSON by marshalling it.
type Report interface {
	// WriteText writes the report for a terminal or a CI log, with ANSI colours when color is set.
	WriteText(w io.Writer, color bool) error
	// JUnit is the report as JUnit test suites.
	JUnit() *JUnitSuites
}

// SARIFReport is a Report made of findings in files, which code scanning services read as SARIF.
type SARIFReport interface {
	Report
	// SARIF is the report as a SARIF log whose tool is tool.
	SARIF(tool Tool) *SARIFLog
}

// Options tune Write.
type Options struct {
	// Color adds ANSI colours to the text format.
	Color bool
	// Tool names the producer in SARIF output.
	Tool Tool
}

// Formats lists the formats r can be written in, for flag help and errors.
func Formats(r Report) []string {
	if _, ok := r.(SARIFReport); ok {
		return []string{FormatText, FormatJSON, FormatSARIF, FormatJUnit}
	}
	return []string{FormatText, FormatJSON, FormatJUnit}
}

// Write writes r in format, one of Formats(r).
func Write(w io.Writer, format string, r Report, opts Options) error {
	switch format {
	case FormatText:
		return r.WriteText(w, opts.Color)
	case FormatJSON:
		return WriteJSON(w, r)
	case FormatJUnit:
		return r.JUnit().Write(w)
	case FormatSARIF:
		if s, ok := r.(SARIFReport); ok {
			return s.SARIF(opts.Tool).Write(w)
		}
	}
	return fmt.Errorf("unknown format %q: use %s", format, strings.Join(Formats(r), ", "))
}

// WriteJSON writes v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
