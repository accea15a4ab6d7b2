package ci

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/marina-dev/marina/internal/check"
	"github.com/marina-dev/marina/internal/gate"
	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/repo"
)

// Modes of Options.Checks.
const (
	// ChecksAuto runs the model checks when ONNX Runtime is installed, and says they were skipped otherwise.
	ChecksAuto = "auto"
	// ChecksOn runs the model checks; a missing ONNX Runtime stops the run with inference.ErrNoRuntime.
	ChecksOn = "on"
	// ChecksOff never runs them: gates judge the recorded metrics.
	ChecksOff = "off"
)

// ChecksModes lists the modes, for flag help and errors.
var ChecksModes = []string{ChecksAuto, ChecksOn, ChecksOff}

// NoRuntimeNote is the summary's note when ChecksAuto finds no ONNX Runtime library.
const NoRuntimeNote = "model checks skipped: ONNX Runtime not installed (install it with `marina runtime install`, or run marina ci --checks on to fail instead)"

// NotInBuildNote is the summary's note when ChecksAuto runs in a marina built without cgo, which cannot load
// ONNX Runtime at all.
var NotInBuildNote = "model checks skipped: " + inference.ErrNotInBuild.Error()

// ModelCheck is the model check of one version whose gates ci evaluates.
type ModelCheck struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	// Note says why the version was not checked (its artifact is not in the repository); its gates then judge
	// the recorded metrics.
	Note string `json:"note,omitempty"`
	// Report is check.Check's report, without its gates: ci's gates (Result.Gates) judge the measured metrics
	// against ci's reference version. Nil when the version was not checked.
	Report *check.Report `json:"report,omitempty"`
}

// Ref is NAME@VERSION.
func (c ModelCheck) Ref() string { return c.Model + "@" + c.Version }

// FailedSteps lists the failed steps of the check (a digest or signature mismatch, a load failure…).
func (c ModelCheck) FailedSteps() []check.Step {
	if c.Report == nil {
		return nil
	}
	var out []check.Step
	for _, s := range c.Report.Steps {
		if !s.Passed {
			out = append(out, s)
		}
	}
	return out
}

// FailedChecks lists the checked versions with a failed step.
func (res *Result) FailedChecks() []ModelCheck {
	var out []ModelCheck
	for _, c := range res.Checks {
		if len(c.FailedSteps()) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// checker runs the model checks of one ci run, loading ONNX Runtime the first time a version needs it.
type checker struct {
	r       *repo.Repo
	mode    string
	opts    check.Options
	res     *Result
	noLib   bool
	started bool
}

// check checks v when it is an ONNX model whose artifact is in the repository, and returns v with the measured
// metrics in place of the recorded ones (v itself when it was not checked).
func (c *checker) check(ctx context.Context, v *model.Version) (*model.Version, error) {
	if c.mode != ChecksOn && c.mode != ChecksAuto || c.noLib || v.Format != "onnx" {
		return v, nil
	}
	mc := ModelCheck{Model: v.Name, Version: v.Version}
	if uri := v.Artifact.URI; strings.Contains(uri, "://") || path.IsAbs(uri) || repo.CheckPath(uri) != nil {
		mc.Note = fmt.Sprintf("not checked: artifact at %s is not in the repository", uri)
		c.res.Checks = append(c.res.Checks, mc)
		return v, nil
	}
	if !c.started {
		c.started = true
		if err := inference.Init(); err != nil {
			if c.mode == ChecksAuto && errors.Is(err, inference.ErrNoRuntime) {
				c.noLib = true
				c.res.ChecksSkipped = NoRuntimeNote
				if errors.Is(err, inference.ErrNotInBuild) {
					c.res.ChecksSkipped = NotInBuildNote
				}
				return v, nil
			}
			return nil, err
		}
	}
	rep, err := check.Check(ctx, c.r, v.Name, v.Version, c.opts)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, inference.ErrNoRuntime) {
			return nil, err
		}
		mc.Note = "not checked: " + err.Error()
		c.res.Checks = append(c.res.Checks, mc)
		return v, nil
	}
	rep.Gates = nil
	rep.Passed = rep.Failures() == 0
	mc.Report = rep
	c.res.Checks = append(c.res.Checks, mc)
	return rep.Measured(v), nil
}

// measuredLine is the measured metrics of a check, e.g. "accuracy 0.553333, f1 0.5; latency p50 0.01 ms,
// p95 0.02 ms, p99 0.03 ms over 50 runs".
func measuredLine(rep *check.Report) string {
	var parts []string
	for _, k := range []string{check.MetricAccuracy, check.MetricF1, check.MetricMAE} {
		if m, ok := rep.Metrics[k]; ok {
			parts = append(parts, k+" "+gate.Format(m))
		}
	}
	line := strings.Join(parts, ", ")
	if l := rep.Latency; l != nil {
		lat := fmt.Sprintf("latency p50 %s ms, p95 %s ms, p99 %s ms over %d runs", gate.Format(l.P50Ms), gate.Format(l.P95Ms), gate.Format(l.P99Ms), l.Runs)
		if line != "" {
			line += "; "
		}
		line += lat
	}
	return line
}

// stepMark is ✅, ❌ or ⏭️.
func stepMark(s check.Step) string {
	switch {
	case s.Skipped:
		return "⏭️"
	case s.Passed:
		return "✅"
	}
	return "❌"
}
