package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/marina-dev/marina/internal/forge"
)

// Defaults of promote --auto-merge's flags.
const (
	defaultMergeWait = 10 * time.Minute
	// mergePoll is how often --auto-merge reads the pull request's checks and reviews again while it waits.
	mergePoll = 5 * time.Second
)

// defaultRequiredStatus are the checks --auto-merge waits for by default: marina ci's.
var defaultRequiredStatus = []string{ciStatusContext}

// validateAutoMerge checks the --auto-merge flags: they go with --pr, and durations and counts are not negative.
func (o *promoteOptions) validateAutoMerge() error {
	if !o.autoMerge {
		if o.mergeWait != defaultMergeWait || o.approvals != 0 || !slices.Equal(o.requiredStatus, defaultRequiredStatus) {
			return usagef("--wait, --approvals and --required-status go with --auto-merge")
		}
		return nil
	}
	if !o.pr {
		return usagef("--auto-merge goes with --pr: it merges the pull request --pr opens")
	}
	if o.mergeWait < 0 {
		return usagef("--wait %s: want 0 (check once) or more", o.mergeWait)
	}
	if o.approvals < 0 {
		return usagef("--approvals %d: want 0 or more", o.approvals)
	}
	for i, c := range o.requiredStatus {
		o.requiredStatus[i] = strings.TrimSpace(c)
		if o.requiredStatus[i] == "" {
			return usagef("--required-status: an empty context name")
		}
	}
	return nil
}

// autoMerge merges a pull request once the statuses on its head are success (those of required among them)
// and it has approvals approving reviews, waiting for that up to wait.
type autoMerge struct {
	approvals int
	required  []string
	wait      time.Duration
	poll      time.Duration
	// errOut takes the progress.
	errOut io.Writer
	// now and sleep are the clock; nil is the real one.
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
}

// newAutoMerge is the auto-merge promote's flags ask for.
func (o *promoteOptions) newAutoMerge() autoMerge {
	return autoMerge{approvals: o.approvals, required: o.requiredStatus, wait: o.mergeWait, poll: mergePoll, errOut: o.errOut}
}

// sleepCtx waits d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// merge waits until pr may be merged and merges it (a merge commit, held to the head whose checks and reviews
// were read), returning it merged; a pull request merged already is returned as it is. A failed check ends the
// wait at once; a pull request still waiting when wait has passed, or closed, is an error (exit 1) saying what it
// waits for.
func (a autoMerge) merge(ctx context.Context, f forge.Forge, pr *forge.PullRequest) (*forge.PullRequest, error) {
	now, sleep := a.now, a.sleep
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	deadline := now().Add(a.wait)
	said := ""
	for {
		switch pr.State {
		case forge.Merged:
			return pr, nil
		case forge.Closed:
			return nil, failedf("pull request #%d (%s) is closed without being merged: nothing to merge", pr.Number, pr.URL)
		}
		waits, err := a.blockers(ctx, f, pr)
		if err != nil {
			return nil, err
		}
		if waits == "" {
			if err := f.Merge(ctx, pr.Number, pr.HeadSHA); err != nil {
				return nil, fmt.Errorf("%w (pull request #%d, %s)", err, pr.Number, pr.URL)
			}
			merged, err := f.Get(ctx, pr.Number)
			if err != nil {
				return nil, err
			}
			if merged.State != forge.Merged {
				return nil, fmt.Errorf("pull request #%d (%s): the forge took the merge but reads it %s", pr.Number, pr.URL, merged.State)
			}
			return merged, nil
		}
		left := deadline.Sub(now())
		if left <= 0 {
			return nil, failedf("pull request #%d (%s) is not merged: it waits for %s (--wait %s; run the same command again to wait more)",
				pr.Number, pr.URL, waits, a.wait)
		}
		if waits != said {
			fmt.Fprintf(a.errOut, "pull request #%d waits for %s (%s left)\n", pr.Number, waits, left.Round(time.Second))
			said = waits
		}
		if err := sleep(ctx, min(a.poll, left)); err != nil {
			return nil, err
		}
		if pr, err = f.Get(ctx, pr.Number); err != nil {
			return nil, err
		}
	}
}

// blockers says what pr still waits for ("" when nothing): checks of its head not posted or not finished, and
// approving reviews. A failed check is an error (exit 1) naming it and its description.
func (a autoMerge) blockers(ctx context.Context, f forge.Forge, pr *forge.PullRequest) (string, error) {
	cs, err := f.CombinedStatus(ctx, pr.HeadSHA)
	if err != nil {
		return "", err
	}
	var waits []string
	for _, s := range cs.Statuses {
		switch s.State {
		case "failure", "error":
			return "", failedf("pull request #%d (%s) is not merged: the check %s on its head %s is %s: %s", pr.Number, pr.URL,
				s.Context, short(pr.HeadSHA), s.State, s.Description)
		case "success":
		default:
			waits = append(waits, fmt.Sprintf("the check %s (%s)", s.Context, s.State))
		}
	}
	for _, c := range a.required {
		if cs.Find(c) == nil {
			waits = append(waits, fmt.Sprintf("the check %s (not posted on %s yet)", c, short(pr.HeadSHA)))
		}
	}
	if len(a.required) == 0 && len(cs.Statuses) == 0 {
		waits = append(waits, fmt.Sprintf("a check on %s (none posted yet)", short(pr.HeadSHA)))
	}
	if a.approvals > 0 {
		reviews, err := f.Reviews(ctx, pr.Number)
		if err != nil {
			return "", err
		}
		if n := forge.Approvals(reviews, pr.HeadSHA); n < a.approvals {
			waits = append(waits, fmt.Sprintf("an approval: %d of %d approving reviews", n, a.approvals))
		}
	}
	return strings.Join(waits, " and "), nil
}

// short is a commit's first 12 hex digits.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// approvalsNote says how many approvals the merge had, when it needed any.
func approvalsNote(n int) string {
	switch {
	case n == 1:
		return " and it has an approving review"
	case n > 1:
		return fmt.Sprintf(" and it has %d approving reviews", n)
	}
	return ""
}
