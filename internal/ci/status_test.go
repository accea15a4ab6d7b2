package ci_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/marina-dev/marina/internal/ci"
	"github.com/marina-dev/marina/internal/gate"
	"github.com/marina-dev/marina/internal/validate"
)

func TestHeadlineIsThePassOrTheFirstFailuresReasonCutToAStatusDescription(t *testing.T) {
	t.Parallel()
	ok := gate.Result{Model: "iris", Version: "1.1.0", Gate: "latencyP95Ms.max", Passed: true, Message: "fine"}
	low := gate.Result{Model: "iris", Version: "1.1.0", Gate: "accuracy.min", Message: "accuracy 0.85 is below the minimum 0.9"}
	long := gate.Result{Model: "iris", Version: "1.1.0", Gate: "accuracy.min", Message: strings.Repeat("é", 300)}
	report := func(errs int) *validate.Report {
		r := &validate.Report{}
		for range errs {
			r.Findings = append(r.Findings, validate.Finding{Severity: validate.SeverityError, Message: "bad"})
		}
		return r
	}
	for _, tc := range []struct {
		name    string
		res     ci.Result
		want    string
		subject string
	}{
		{"passed, nothing to gate", ci.Result{Passed: true, Changes: &ci.ChangeSet{}, Validate: report(0)}, "marina ci passed", ""},
		{"passed with gates", ci.Result{Passed: true, Gates: []gate.Result{ok, ok}, Changes: &ci.ChangeSet{}, Validate: report(0)}, "marina ci passed: 2 gates", ""},
		{"a gate failed", ci.Result{Gates: []gate.Result{ok, low}, Changes: &ci.ChangeSet{}, Validate: report(0)},
			"iris@1.1.0 accuracy.min: accuracy 0.85 is below the minimum 0.9", "iris"},
		{"a gate and validate failed", ci.Result{Gates: []gate.Result{low}, Changes: &ci.ChangeSet{}, Validate: report(2)},
			"iris@1.1.0 accuracy.min: accuracy 0.85 is below the minimum 0.9 (and 1 more)", "iris"},
		{"two gates failed", ci.Result{Gates: []gate.Result{low, ok, low}, Changes: &ci.ChangeSet{}, Validate: report(0)},
			"iris@1.1.0 accuracy.min: accuracy 0.85 is below the minimum 0.9 (and 1 more)", "iris"},
		{"validate failed", ci.Result{Changes: &ci.ChangeSet{}, Validate: report(1)}, "validate found 1 error", ""},
		{"cut", ci.Result{Gates: []gate.Result{long}, Changes: &ci.ChangeSet{}, Validate: report(0)},
			"iris@1.1.0 accuracy.min: " + strings.Repeat("é", ci.StatusDescriptionMax-len("iris@1.1.0 accuracy.min: ")-1) + "…", "iris"},
	} {
		got := tc.res.Headline()
		if got != tc.want {
			t.Errorf("%s: Headline() = %q, want %q", tc.name, got, tc.want)
		}
		if n := utf8.RuneCountInString(got); n > ci.StatusDescriptionMax {
			t.Errorf("%s: %d characters, more than %d", tc.name, n, ci.StatusDescriptionMax)
		}
		if got := tc.res.Subject(); got != tc.subject {
			t.Errorf("%s: Subject() = %q, want %q", tc.name, got, tc.subject)
		}
	}
}
