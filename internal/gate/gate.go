package gate

import (
	"fmt"
	"math"
	"strconv"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
)

// Gates of marina.yaml spec.gates, as named in results.
const (
	AccuracyMin           = "accuracy.min"
	AccuracyMaxRegression = "accuracy.maxRegression"
	LatencyP95Max         = "latencyP95Ms.max"
)

// Metrics the gates read from a version's metadata.
const (
	MetricAccuracy   = "accuracy"
	MetricLatencyP95 = "latency_p95_ms"
)

// tolerance absorbs float noise in comparisons (0.98-0.97 is 0.010000000000000009).
const tolerance = 1e-9

// Result is one gate checked against one version: plain data for summaries and reports.
type Result struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	// Gate is one of AccuracyMin, AccuracyMaxRegression, LatencyP95Max.
	Gate      string  `json:"gate"`
	Threshold float64 `json:"threshold"`
	// Value is what was compared with Threshold (the regression for maxRegression); nil when not measured.
	Value  *float64 `json:"value"`
	Passed bool     `json:"passed"`
	// Skipped is true when the gate could not be measured for a reason that is not the version's fault
	// (no version deployed in the last environment yet); a skipped gate passes.
	Skipped bool   `json:"skipped,omitempty"`
	Message string `json:"message"`
}

// Reference is the version a regression is measured against: the one deployed in the last environment.
type Reference struct {
	// Env is the last environment of marina.yaml.
	Env string
	// Version is deployed there; nil when none is.
	Version *model.Version
	// Note, when set, explains why Version is nil or was chosen (e.g. it is the candidate itself).
	Note string
}

// Check compares v's recorded metrics with the gates. A gate that is configured but whose metric v does not
// record fails: an unmeasured version must not slip through. Results are in the order of the gate constants.
func Check(g *project.Gates, v *model.Version, ref Reference) []Result {
	if g == nil {
		return nil
	}
	var out []Result
	res := func(gate string, threshold float64) Result {
		return Result{Model: v.Name, Version: v.Version, Gate: gate, Threshold: threshold}
	}
	acc, hasAcc := v.Metrics[MetricAccuracy]
	missingAcc := "no " + MetricAccuracy + " metric recorded; " + RecordHint(v, MetricAccuracy)
	if a := g.Accuracy; a != nil && a.Min != nil {
		r := res(AccuracyMin, *a.Min)
		switch {
		case !hasAcc:
			r.Message = missingAcc
		case acc+tolerance < *a.Min:
			r.Value = &acc
			r.Message = fmt.Sprintf("accuracy %s is below the minimum %s (spec.gates.accuracy.min)", Format(acc), Format(*a.Min))
		default:
			r.Value, r.Passed = &acc, true
			r.Message = fmt.Sprintf("accuracy %s meets the minimum %s", Format(acc), Format(*a.Min))
		}
		out = append(out, r)
	}
	if a := g.Accuracy; a != nil && a.MaxRegression != nil {
		out = append(out, regression(res(AccuracyMaxRegression, *a.MaxRegression), acc, hasAcc, missingAcc, ref))
	}
	if l := g.LatencyP95Ms; l != nil {
		r := res(LatencyP95Max, l.Max)
		lat, ok := v.Metrics[MetricLatencyP95]
		name := MetricLatencyP95
		switch {
		case !ok:
			r.Message = "no " + MetricLatencyP95 + " metric recorded; " + RecordHint(v, MetricLatencyP95)
		case lat > l.Max+tolerance:
			r.Value = &lat
			r.Message = fmt.Sprintf("%s %s ms is above the maximum %s ms (spec.gates.latencyP95Ms.max)", name, Format(lat), Format(l.Max))
		default:
			r.Value, r.Passed = &lat, true
			r.Message = fmt.Sprintf("%s %s ms is within the maximum %s ms", name, Format(lat), Format(l.Max))
		}
		out = append(out, r)
	}
	return out
}

// RecordHint says how to record metric on v: the commands work on a registered version (one commit each).
func RecordHint(v *model.Version, metric string) string {
	return fmt.Sprintf("record it with `marina model register %s --version %s --metric %s=VALUE`, or measure it with `marina model register %s --version %s --file MODEL.onnx --evaluate`",
		v.Name, v.Version, metric, v.Name, v.Version)
}

// regression measures how much accuracy drops against the reference version.
func regression(r Result, acc float64, hasAcc bool, missing string, ref Reference) Result {
	if !hasAcc {
		r.Message = missing
		return r
	}
	if ref.Version == nil {
		r.Passed, r.Skipped = true, true
		r.Message = fmt.Sprintf("skipped: no version is deployed in %s yet, so there is nothing to regress from", ref.Env)
		if ref.Note != "" {
			r.Message = "skipped: " + ref.Note
		}
		return r
	}
	base, ok := ref.Version.Metrics[MetricAccuracy]
	if !ok {
		r.Passed, r.Skipped = true, true
		r.Message = fmt.Sprintf("skipped: %s@%s in %s records no accuracy metric to compare with", ref.Version.Name, ref.Version.Version, ref.Env)
		return r
	}
	drop := base - acc
	r.Value = &drop
	from := fmt.Sprintf("%s of %s@%s in %s", Format(base), ref.Version.Name, ref.Version.Version, ref.Env)
	switch {
	case drop > r.Threshold+tolerance:
		r.Message = fmt.Sprintf("accuracy %s regresses %s from %s, more than maxRegression %s", Format(acc), Format(drop), from, Format(r.Threshold))
	case drop <= 0:
		r.Passed = true
		r.Message = fmt.Sprintf("accuracy %s does not regress from %s", Format(acc), from)
	default:
		r.Passed = true
		r.Message = fmt.Sprintf("accuracy %s regresses %s from %s, within maxRegression %s", Format(acc), Format(drop), from, Format(r.Threshold))
	}
	return r
}

// Format writes a metric rounded to 6 decimals, so differences print without float noise.
func Format(f float64) string {
	return strconv.FormatFloat(math.Round(f*1e6)/1e6, 'f', -1, 64)
}
