package cli_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/cli"
	"github.com/marina-dev/marina/internal/forge"
)

// fakeMerger is a forge whose pull request's head reads statuses[i] and reviews[i] at the i-th read (the last
// ones from then on), and that records the merges asked of it. The forge's other calls are not made by the wait
// (the nil Forge would panic on one).
type fakeMerger struct {
	forge.Forge
	pr       forge.PullRequest
	statuses [][]forge.Status
	reviews  [][]forge.Review
	reads    int
	merges   []string
	mergeErr error
}

func (f *fakeMerger) Get(_ context.Context, number int64) (*forge.PullRequest, error) {
	pr := f.pr
	return &pr, nil
}
func (f *fakeMerger) CombinedStatus(_ context.Context, sha string) (*forge.CombinedStatus, error) {
	var s []forge.Status
	if len(f.statuses) > 0 {
		s = f.statuses[min(f.reads, len(f.statuses)-1)]
	}
	f.reads++
	return &forge.CombinedStatus{SHA: sha, Statuses: s}, nil
}
func (f *fakeMerger) Reviews(context.Context, int64) ([]forge.Review, error) {
	if len(f.reviews) == 0 {
		return nil, nil
	}
	return f.reviews[min(f.reads-1, len(f.reviews)-1)], nil
}
func (f *fakeMerger) Merge(_ context.Context, number int64, head string) error {
	if f.mergeErr != nil {
		return f.mergeErr
	}
	f.merges = append(f.merges, head)
	f.pr.State = forge.Merged
	return nil
}

func TestAutoMergeWaitsForTheChecksAndApprovalsThenMerges(t *testing.T) {
	t.Parallel()
	const head = "0123456789abcdef0123"
	ci := func(state, desc string) forge.Status {
		return forge.Status{Context: "marina/ci", State: state, Description: desc}
	}
	lint := func(state string) forge.Status {
		return forge.Status{Context: "lint", State: state, Description: "lint " + state}
	}
	approval := []forge.Review{{Reviewer: "ada", State: forge.Approved, CommitID: head}}
	marinaCI := []string{"marina/ci"}
	for _, tc := range []struct {
		name      string
		state     forge.State
		statuses  [][]forge.Status
		reviews   [][]forge.Review
		approvals int
		required  []string
		wait      time.Duration
		mergeErr  error
		// code is the exit code of the error (0: merged); want is in its message, progress on stderr; reads is how
		// often the statuses were read.
		code           int
		want, progress string
		reads          int
	}{
		{name: "success at once", statuses: [][]forge.Status{{ci("success", "passed")}}, required: marinaCI, wait: time.Minute, reads: 1},
		{name: "pending, then success", statuses: [][]forge.Status{{ci("pending", "")}, {ci("pending", "")}, {ci("success", "passed")}},
			required: marinaCI, wait: time.Minute, progress: "waits for the check marina/ci (pending)", reads: 3},
		{name: "not posted, then success", statuses: [][]forge.Status{nil, {ci("success", "passed")}},
			required: marinaCI, wait: time.Minute, progress: "waits for the check marina/ci (not posted on 0123456789ab yet)", reads: 2},
		{name: "another check pending", statuses: [][]forge.Status{{ci("success", ""), lint("pending")}, {ci("success", ""), lint("success")}},
			required: marinaCI, wait: time.Minute, progress: "waits for the check lint (pending)", reads: 2},
		{name: "failure ends the wait", statuses: [][]forge.Status{{ci("pending", "")}, {ci("failure", "iris@1.1.0 accuracy.min: too low")}},
			required: marinaCI, wait: time.Hour, code: 1, want: "the check marina/ci on its head 0123456789ab is failure: iris@1.1.0 accuracy.min: too low", reads: 2},
		{name: "error ends the wait", statuses: [][]forge.Status{{ci("error", "marina ci could not run")}},
			required: marinaCI, wait: time.Hour, code: 1, want: "the check marina/ci on its head 0123456789ab is error: marina ci could not run", reads: 1},
		{name: "another check failed", statuses: [][]forge.Status{{ci("success", ""), lint("failure")}},
			required: marinaCI, wait: time.Hour, code: 1, want: "the check lint on its head 0123456789ab is failure: lint failure", reads: 1},
		{name: "times out without the check", statuses: [][]forge.Status{nil}, required: marinaCI, wait: 12 * time.Second,
			code: 1, want: "waits for the check marina/ci (not posted on 0123456789ab yet) (--wait 12s;", reads: 4},
		{name: "wait 0 checks once", statuses: [][]forge.Status{{ci("pending", "")}, {ci("success", "")}}, required: marinaCI,
			code: 1, want: "waits for the check marina/ci (pending) (--wait 0s;", reads: 1},
		{name: "no check required, none posted", required: nil, wait: 0, code: 1, want: "waits for a check on 0123456789ab (none posted yet)", reads: 1},
		{name: "no check required, one passed", statuses: [][]forge.Status{{lint("success")}}, required: nil, reads: 1},
		{name: "times out without an approval", statuses: [][]forge.Status{{ci("success", "")}}, reviews: [][]forge.Review{nil},
			approvals: 1, required: marinaCI, wait: time.Minute, code: 1, want: "waits for an approval: 0 of 1 approving reviews (--wait 1m0s;", reads: 13},
		{name: "an approval comes", statuses: [][]forge.Status{{ci("success", "")}}, reviews: [][]forge.Review{nil, nil, approval},
			approvals: 1, required: marinaCI, wait: time.Minute, progress: "waits for an approval: 0 of 1 approving reviews", reads: 3},
		{name: "one approval of two", statuses: [][]forge.Status{{ci("success", "")}}, reviews: [][]forge.Review{approval},
			approvals: 2, required: marinaCI, code: 1, want: "waits for an approval: 1 of 2 approving reviews", reads: 1},
		{name: "both", statuses: [][]forge.Status{{ci("pending", "")}}, reviews: [][]forge.Review{nil}, approvals: 1, required: marinaCI,
			code: 1, want: "waits for the check marina/ci (pending) and an approval: 0 of 1 approving reviews", reads: 1},
		{name: "merged already", state: forge.Merged, required: marinaCI, reads: 0},
		{name: "closed", state: forge.Closed, required: marinaCI, code: 1, want: "is closed without being merged", reads: 0},
		{name: "the forge refuses the merge", statuses: [][]forge.Status{{ci("success", "")}}, required: marinaCI,
			mergeErr: errors.New("the forge refused the merge (HTTP 405)"), code: 2, want: "the forge refused the merge (HTTP 405) (pull request #7", reads: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := tc.state
			if state == "" {
				state = forge.Open
			}
			f := &fakeMerger{pr: forge.PullRequest{Number: 7, URL: "http://gitea.test/acme/models/pulls/7", State: state, HeadSHA: head},
				statuses: tc.statuses, reviews: tc.reviews, mergeErr: tc.mergeErr}
			var errOut strings.Builder
			pr, err := cli.WaitAndMerge(context.Background(), f, &f.pr, tc.approvals, tc.required, tc.wait, &errOut)
			if code := cli.ExitCodeOf(err); code != tc.code || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("exit %d, %v; want %d, %q", code, err, tc.code, tc.want)
			}
			if err == nil && (pr == nil || pr.State != forge.Merged) {
				t.Errorf("returned %+v, want it merged", pr)
			}
			wantMerges := 0
			if tc.code == 0 && tc.state != forge.Merged {
				wantMerges = 1
			}
			if len(f.merges) != wantMerges || (wantMerges == 1 && f.merges[0] != head) {
				t.Errorf("merges %v, want %d at %s", f.merges, wantMerges, head)
			}
			if f.reads != tc.reads {
				t.Errorf("read the statuses %d times, want %d", f.reads, tc.reads)
			}
			if !strings.Contains(errOut.String(), tc.progress) {
				t.Errorf("stderr:\n%s\nwant %q", errOut.String(), tc.progress)
			}
		})
	}
}

// TestPromoteAutoMergeRefusesBadOptions: --auto-merge's flags are usage errors before anything is committed.
// Not parallel: it sets MARINA_GIT_TOKEN.
func TestPromoteAutoMergeRefusesBadOptions(t *testing.T) {
	dir, f := initIris(t)
	mustMarina(t, "--repo", dir, "model", "register", "iris", "--file", f+"1.0.0", "--uri", "s3://models/iris/1.0.0", "--version", "1.0.0")
	t.Setenv("MARINA_GIT_TOKEN", "unused-t0ken")
	promote := func(extra ...string) []string {
		return append([]string{"--repo", dir, "promote", "iris@1.0.0", "--env", "staging"}, extra...)
	}
	wantUsageErrors(t, []usageError{
		{promote("--auto-merge"), "--auto-merge goes with --pr"},
		{promote("--pr", "--wait", "1m"), "--wait, --approvals and --required-status go with --auto-merge"},
		{promote("--pr", "--approvals", "1"), "--wait, --approvals and --required-status go with --auto-merge"},
		{promote("--pr", "--required-status", "lint"), "--wait, --approvals and --required-status go with --auto-merge"},
		{promote("--pr", "--auto-merge", "--wait", "-1s"), "--wait -1s: want 0 (check once) or more"},
		{promote("--pr", "--auto-merge", "--approvals", "-1"), "--approvals -1: want 0 or more"},
		{promote("--pr", "--auto-merge", "--required-status", "marina/ci,,lint"), "--required-status: an empty context name"},
	})
}
