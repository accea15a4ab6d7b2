package report

import (
	"fmt"
	"io"
	"strings"
)

// Tool identifies the program in SARIF output.
type Tool struct {
	Name, Version, InformationURI string
}

// Levels of SARIF results and rules.
const (
	LevelError   = "error"
	LevelWarning = "warning"
	LevelNote    = "note"
)

// Rule describes one rule of the tool: its id (kebab-case), a short description, how to fix what it finds and the
// level of its results.
type Rule struct {
	ID, Short, Help, Level string
}

// Result is one finding of a rule in a repository-relative File, at Line when known (0 when not), with extra
// Properties (nil for none).
type Result struct {
	RuleID, Level, Message, File string
	Line                         int
	Properties                   map[string]any
}

// SARIF is a SARIF 2.1.0 log with one run of tool, whose tool.driver.rules is rules. File URIs are
// repository-relative against the uriBaseId %SRCROOT%, as code scanning services expect.
func SARIF(tool Tool, rules []Rule, results []Result) *SARIFLog {
	if tool.Name == "" {
		tool.Name = "marina"
	}
	index := map[string]int{}
	descriptors := make([]sarifRule, len(rules))
	for i, r := range rules {
		index[r.ID] = i
		descriptors[i] = sarifRule{
			ID: r.ID, Name: ruleName(r.ID),
			ShortDescription:     sarifText{r.Short},
			FullDescription:      sarifText{r.Short + ". " + r.Help},
			Help:                 sarifText{r.Help},
			DefaultConfiguration: sarifRuleConfig{r.Level},
		}
	}
	out := make([]sarifResult, 0, len(results))
	for _, r := range results {
		loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifactLoc{URI: uriPath(r.File), URIBaseID: "%SRCROOT%"}}}
		if r.Line > 0 {
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: r.Line}
		}
		out = append(out, sarifResult{
			RuleID: r.RuleID, RuleIndex: index[r.RuleID], Level: r.Level,
			Message: sarifText{r.Message}, Locations: []sarifLocation{loc}, Properties: r.Properties,
		})
	}
	return &SARIFLog{
		Schema:  "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
		Version: "2.1.0",
		Runs: []sarifRun{{
			Tool:    sarifTool{Driver: sarifDriver{Name: tool.Name, Version: tool.Version, InformationURI: tool.InformationURI, Rules: descriptors}},
			Results: out,
		}},
	}
}

// Write writes the log as indented JSON.
func (l *SARIFLog) Write(w io.Writer) error {
	return WriteJSON(w, l)
}

// SARIFLog is a SARIF 2.1.0 (OASIS) log, the subset marina writes.
type SARIFLog struct {
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
