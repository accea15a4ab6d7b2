package cli

import (
	"context"
	"io"
	"time"

	"github.com/marina-dev/marina/internal/forge"
)

// SetChecked makes serve call f with the model file between its checks and loading, for the test that replaces
// the file there; it returns what undoes it.
func SetChecked(f func(file string)) (restore func()) {
	checked = f
	return func() { checked = nil }
}

// PromoteBranch is the branch promote --pr pushes without --branch.
var PromoteBranch = promoteBranch

// ParsePromoteSubject reads a promotion commit's subject.
var ParsePromoteSubject = parsePromoteSubject

// DetectForge names the forge of a clone URL's host, the default of --forge.
var DetectForge = detectForge

// ExitCodeOf is the exit code of a command's error.
var ExitCodeOf = exitCode

// WaitAndMerge is promote --auto-merge's wait and merge of pr on f, polling every 5 s on a clock that sleeping
// moves on, without waiting.
func WaitAndMerge(ctx context.Context, f forge.Forge, pr *forge.PullRequest, approvals int, required []string, wait time.Duration,
	errOut io.Writer) (*forge.PullRequest, error) {
	clock := time.Unix(0, 0)
	a := autoMerge{approvals: approvals, required: required, wait: wait, poll: 5 * time.Second, errOut: errOut,
		now:   func() time.Time { return clock },
		sleep: func(_ context.Context, d time.Duration) error { clock = clock.Add(d); return nil }}
	return a.merge(ctx, f, pr)
}
