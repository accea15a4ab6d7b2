package ci

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/marina-dev/marina/internal/gate"
	"github.com/marina-dev/marina/internal/report"
	"github.com/marina-dev/marina/internal/validate"
)

// MaxListedFindings is how many findings the Markdown summary lists; the SARIF and JUnit files hold them all.
const MaxListedFindings = 20

// WriteJSON writes the result as indented JSON.
func WriteJSON(w io.Writer, res *Result) error {
	return report.WriteJSON(w, res)
}

// WriteBuilds writes one line per serving image to build, NAME@VERSION, a tab and the artifact's path, for
// shell loops in CI.
func WriteBuilds(w io.Writer, res *Result) error {
	var b strings.Builder
	for _, bd := range res.Builds {
		fmt.Fprintf(&b, "%s\t%s\n", bd.Ref(), bd.Artifact)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// changeRow is one line of the table of changes.
type changeRow struct {
	model, env, version, what string
}

// changeRows lists what changed per model and environment, then registered versions no environment picked up.
func changeRows(cs *ChangeSet) []changeRow {
	var rows []changeRow
	listed := map[string]bool{}
	for _, a := range cs.Applications {
		for _, e := range a.Envs {
			var what []string
			switch {
			case e.From == "" && e.To != "":
				what = append(what, "new deployment")
			case e.To == "" && e.From != "":
				what = append(what, "removed")
			case e.From != e.To:
				what = append(what, "version")
			case e.Spec:
				what = append(what, "settings")
			}
			if e.Rendered {
				what = append(what, "rendered manifests")
			}
			rows = append(rows, changeRow{a.Model, e.Env, arrow(e.From, e.To), strings.Join(what, ", ")})
			if e.To != "" {
				listed[a.Model+"@"+e.To] = true
			}
		}
	}
	for _, m := range cs.Models {
		for _, v := range m.Versions {
			if v.Change == Added && listed[m.Name+"@"+v.Version] {
				continue
			}
			rows = append(rows, changeRow{m.Name, "", v.Version, "version " + v.Change})
		}
		if len(m.Files) > 0 {
			rows = append(rows, changeRow{m.Name, "", "", plural(len(m.Files), "other file", "other files") + " under models/" + m.Name + "/"})
		}
	}
	slices.SortStableFunc(rows, func(a, b changeRow) int { return cmp.Compare(a.model, b.model) })
	return rows
}

func arrow(from, to string) string {
	switch {
	case from == to:
		return to
	case from == "":
		return "→ " + to
	case to == "":
		return from + " →"
	}
	return from + " → " + to
}

// otherChanges names the changed areas outside models/ and applications/.
func otherChanges(cs *ChangeSet) []string {
	var out []string
	if cs.Project {
		out = append(out, "marina.yaml")
	}
	if cs.Infrastructure {
		out = append(out, "infrastructure/")
	}
	if cs.GitOps {
		out = append(out, "gitops/")
	}
	if cs.CI {
		out = append(out, "CI configuration")
	}
	if n := len(cs.Other); n > 0 {
		out = append(out, plural(n, "other file", "other files"))
	}
	return out
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func (res *Result) baseLine() string {
	cs := res.Changes
	if cs.Base == "" {
		return fmt.Sprintf("%s: checked %s as a whole", cs.BaseRef, short(cs.Head))
	}
	return fmt.Sprintf("compared %s (%s) with %s", short(cs.Base), cs.BaseRef, short(cs.Head))
}

// findingCounts is "2 errors, 1 warning, 0 notes".
func findingCounts(rep *validate.Report) string {
	e, w := rep.Errors(), rep.Warnings()
	return fmt.Sprintf("%s, %s, %s", plural(e, "error", "errors"), plural(w, "warning", "warnings"), plural(len(rep.Findings)-e-w, "note", "notes"))
}

// worstFirst orders findings errors, warnings, notes, keeping the report's order within each.
func worstFirst(fs []validate.Finding) []validate.Finding {
	rank := map[validate.Severity]int{validate.SeverityError: 0, validate.SeverityWarning: 1, validate.SeverityInfo: 2}
	out := slices.Clone(fs)
	slices.SortStableFunc(out, func(a, b validate.Finding) int { return cmp.Compare(rank[a.Severity], rank[b.Severity]) })
	return out
}

func location(f validate.Finding) string {
	if f.Line > 0 {
		return fmt.Sprintf("%s:%d", f.File, f.Line)
	}
	return f.File
}

// WriteText writes the summary for a CI log or a terminal.
func WriteText(w io.Writer, res *Result) error {
	var b strings.Builder
	status := "PASSED"
	if !res.Passed {
		status = "FAILED"
	}
	fmt.Fprintf(&b, "marina ci %s: %s\n", status, res.baseLine())
	cs := res.Changes
	b.WriteString("\nchanges:\n")
	rows := changeRows(cs)
	if cs.Everything {
		fmt.Fprintf(&b, "  everything is in scope (%s)\n", cs.Reason)
	}
	if len(rows) == 0 && len(otherChanges(cs)) == 0 && !cs.Everything {
		b.WriteString("  nothing marina deploys changed\n")
	}
	for _, r := range rows {
		env := r.env
		if env == "" {
			env = "-"
		}
		fmt.Fprintf(&b, "  %-24s %-10s %-20s %s\n", r.model, env, r.version, r.what)
	}
	if o := otherChanges(cs); len(o) > 0 {
		fmt.Fprintf(&b, "  also changed: %s\n", strings.Join(o, ", "))
	}
	b.WriteString("\ngates:\n")
	if len(res.Gates) == 0 {
		b.WriteString("  no changed version to check\n")
	}
	for _, g := range res.Gates {
		fmt.Fprintf(&b, "  %s %s@%s %s: %s\n", gateMark(g, "ok  ", "skip", "FAIL"), g.Model, g.Version, g.Gate, g.Message)
	}
	if len(res.Checks) > 0 || res.ChecksSkipped != "" {
		b.WriteString("\nmodel checks:\n")
	}
	if res.ChecksSkipped != "" {
		fmt.Fprintf(&b, "  %s\n", res.ChecksSkipped)
	}
	for _, c := range res.Checks {
		if c.Report == nil {
			fmt.Fprintf(&b, "  skip %s: %s\n", c.Ref(), c.Note)
			continue
		}
		mark := "ok  "
		if len(c.FailedSteps()) > 0 {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "  %s %s (%s)\n", mark, c.Ref(), c.Report.Artifact)
		for _, s := range c.Report.Steps {
			m := "ok  "
			switch {
			case s.Skipped:
				m = "skip"
			case !s.Passed:
				m = "FAIL"
			}
			fmt.Fprintf(&b, "    %s %-10s %s\n", m, s.Name, s.Message)
		}
		if line := measuredLine(c.Report); line != "" {
			fmt.Fprintf(&b, "    measured: %s\n", line)
		}
	}
	b.WriteString("\nrendered output:\n")
	switch {
	case res.RenderError != "":
		fmt.Fprintf(&b, "  FAIL cannot render: %s\n", res.RenderError)
	case len(res.Stale) == 0:
		b.WriteString("  ok   up to date for the changed models and environments\n")
	default:
		for _, s := range res.Stale {
			fmt.Fprintf(&b, "  FAIL %s would be %s by marina render --write\n", s.Path, s.Change)
		}
	}
	fmt.Fprintf(&b, "\nvalidate: %s\n", findingCounts(res.Validate))
	for _, f := range worstFirst(res.Validate.Findings) {
		fmt.Fprintf(&b, "  %-7s %s %s: %s\n", f.Severity, location(f), f.Rule, f.Message)
		if f.Hint != "" {
			fmt.Fprintf(&b, "          hint: %s\n", f.Hint)
		}
	}
	if len(res.Builds) > 0 {
		b.WriteString("\nserving images to build on the main branch:\n")
		for _, bd := range res.Builds {
			fmt.Fprintf(&b, "  %s (%s)\n", bd.Ref(), bd.Artifact)
		}
	}
	if reasons := res.Reasons(); len(reasons) > 0 {
		b.WriteString("\nfailed because:\n")
		for _, r := range reasons {
			fmt.Fprintf(&b, "  - %s\n", r)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// md escapes text for a Markdown table cell.
func md(s string) string {
	s = strings.NewReplacer("|", `\|`, "\n", " ", "\r", "", "<", "&lt;", ">", "&gt;").Replace(s)
	return s
}

// code is s as inline code, or an em dash when empty.
func code(s string) string {
	if s == "" {
		return "—"
	}
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}

// MarkdownOptions tune the Markdown summary.
type MarkdownOptions struct {
	// UIURL is the base URL of marina ui (e.g. http://127.0.0.1:8089); when set, each model links to its page
	// there (/models/NAME) and the summary to the matrix (/).
	UIURL string
}

// ParseUIURL checks a base URL of marina ui: absolute http(s), no query or fragment. It returns it without a
// trailing slash.
func ParseUIURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("want an absolute http:// or https:// URL without query or fragment, e.g. http://127.0.0.1:8089")
	}
	return strings.TrimRight(raw, "/"), nil
}

// ModelPage is the address of model's page in the marina ui served at base (a ParseUIURL result).
func ModelPage(base, model string) string { return base + "/models/" + url.PathEscape(model) }

// links makes the summary's links to marina ui.
type links struct{ base string }

// model is the model's name as inline code, linked to its page when there is a UI.
func (l links) model(name string) string {
	if l.base == "" || name == "" {
		return code(name)
	}
	return "[" + code(name) + "](" + ModelPage(l.base, name) + ")"
}

// ref is model@version as inline code, linked to the model's page when there is a UI.
func (l links) ref(model, version string) string {
	if l.base == "" {
		return code(model + "@" + version)
	}
	return "[" + code(model+"@"+version) + "](" + ModelPage(l.base, model) + ")"
}

// WriteMarkdown writes a summary fit for a pull request comment or $GITHUB_STEP_SUMMARY: a headline, the changes,
// gate results, the model checks, the rendered-output check, and the first MaxListedFindings findings.
func WriteMarkdown(w io.Writer, res *Result) error {
	return WriteMarkdownWith(w, res, MarkdownOptions{})
}

// WriteMarkdownWith writes the summary of WriteMarkdown, tuned by opts.
func WriteMarkdownWith(w io.Writer, res *Result, opts MarkdownOptions) error {
	l := links{base: strings.TrimRight(opts.UIURL, "/")}
	var b strings.Builder
	if res.Passed {
		b.WriteString("## ✅ marina ci passed\n\n")
	} else {
		b.WriteString("## ❌ marina ci failed\n\n")
		for _, r := range res.Reasons() {
			fmt.Fprintf(&b, "- %s\n", md(r))
		}
		b.WriteString("\n")
	}
	cs := res.Changes
	fmt.Fprintf(&b, "<sub>%s</sub>\n\n", md(res.baseLine()))
	if l.base != "" {
		fmt.Fprintf(&b, "Every model in every environment: [marina ui](%s/).\n\n", l.base)
	}

	b.WriteString("### Changes\n\n")
	if cs.Everything {
		fmt.Fprintf(&b, "Everything is in scope: %s.\n\n", md(cs.Reason))
	}
	if rows := changeRows(cs); len(rows) > 0 {
		b.WriteString("| model | environment | version | what changed |\n|---|---|---|---|\n")
		for _, r := range rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", l.model(r.model), code(r.env), md(r.version), md(r.what))
		}
		b.WriteString("\n")
	} else if !cs.Everything {
		b.WriteString("No model or deployment changed.\n\n")
	}
	if o := otherChanges(cs); len(o) > 0 {
		fmt.Fprintf(&b, "Also changed: %s.\n\n", md(strings.Join(o, ", ")))
	}

	b.WriteString("### Quality gates\n\n")
	if len(res.Gates) == 0 {
		b.WriteString("No changed version to check.\n\n")
	} else {
		b.WriteString("| | version | gate | threshold | value | details |\n|---|---|---|---|---|---|\n")
		for _, g := range res.Gates {
			value := "—"
			if g.Value != nil {
				value = gate.Format(*g.Value)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", gateMark(g, "✅", "⏭️", "❌"), l.ref(g.Model, g.Version), code(g.Gate), gate.Format(g.Threshold), value, md(g.Message))
		}
		b.WriteString("\n")
	}

	if len(res.Checks) > 0 || res.ChecksSkipped != "" {
		b.WriteString("### Model checks\n\n")
	}
	if res.ChecksSkipped != "" {
		fmt.Fprintf(&b, "⏭️ %s.\n\n", md(res.ChecksSkipped))
	}
	for _, c := range res.Checks {
		if c.Report == nil {
			fmt.Fprintf(&b, "⏭️ %s: %s.\n\n", code(c.Ref()), md(c.Note))
			continue
		}
		mark := "✅"
		if len(c.FailedSteps()) > 0 {
			mark = "❌"
		}
		fmt.Fprintf(&b, "%s %s in ONNX Runtime (%s)", mark, code(c.Ref()), code(c.Report.Artifact))
		if line := measuredLine(c.Report); line != "" {
			fmt.Fprintf(&b, ": %s", md(line))
		}
		b.WriteString(".\n\n| | step | details |\n|---|---|---|\n")
		for _, s := range c.Report.Steps {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", stepMark(s), code(s.Name), md(s.Message))
		}
		b.WriteString("\n")
	}

	b.WriteString("### Rendered manifests\n\n")
	switch {
	case res.RenderError != "":
		fmt.Fprintf(&b, "❌ The repository does not render: %s\n\n", md(res.RenderError))
	case len(res.Stale) == 0:
		b.WriteString("✅ Up to date for the changed models and environments.\n\n")
	default:
		fmt.Fprintf(&b, "❌ %s out of date with `model.yaml` and `models/`; run `marina render --write` and commit:\n\n", plural(len(res.Stale), "file is", "files are"))
		for _, s := range res.Stale {
			fmt.Fprintf(&b, "- %s (%s)\n", code(s.Path), s.Change)
		}
		b.WriteString("\n")
	}

	b.WriteString("### Validation\n\n")
	rep := res.Validate
	mark := "✅"
	if rep.Errors() > 0 {
		mark = "❌"
	}
	fmt.Fprintf(&b, "%s %s.\n\n", mark, findingCounts(rep))
	if n := len(rep.Findings); n > 0 {
		b.WriteString("| severity | where | rule | message |\n|---|---|---|---|\n")
		for _, f := range worstFirst(rep.Findings)[:min(n, MaxListedFindings)] {
			msg := f.Message
			if f.Hint != "" {
				msg += " — " + f.Hint
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", f.Severity, code(location(f)), code(f.Rule), md(msg))
		}
		if n > MaxListedFindings {
			fmt.Fprintf(&b, "\n…and %d more: run `marina validate` or see the SARIF and JUnit reports.\n", n-MaxListedFindings)
		}
		b.WriteString("\n")
	}
	if len(res.Builds) > 0 {
		b.WriteString("### Serving images\n\nOn the main branch CI builds, scans, signs and records an image for:\n\n")
		for _, bd := range res.Builds {
			fmt.Fprintf(&b, "- %s (%s)\n", code(bd.Ref()), code(bd.Artifact))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, strings.TrimRight(b.String(), "\n")+"\n")
	return err
}

// gateMark is the mark of a gate result in a report: passed, skipped or failed.
func gateMark(g gate.Result, passed, skipped, failed string) string {
	switch {
	case g.Skipped:
		return skipped
	case !g.Passed:
		return failed
	}
	return passed
}
