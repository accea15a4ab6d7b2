package testenv

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/testenv/proc"
)

// WaitUntil polls cond until it holds and returns how long that took; after timeout it fails tb with what and
// the reason cond gave last.
func WaitUntil(tb TB, what string, timeout time.Duration, cond func(ctx context.Context) (bool, string)) time.Duration {
	tb.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last string
	err := eventually.Poll(ctx, func(ctx context.Context) (bool, error) {
		ok, why := cond(ctx)
		// A reason given as the deadline comes (a client's rate limiter refusing to wait past it) says nothing.
		if deadline, _ := ctx.Deadline(); time.Until(deadline) > time.Second {
			last = why
		}
		return ok, nil
	})
	if err != nil {
		tb.Fatalf("%s: not within %s: %s", what, timeout, last)
	}
	return time.Since(start)
}

// waitServing polls GET url with client until it answers with one of codes, for up to timeout; p exiting first
// fails tb at once, with what log returns (the process's log, or nothing where a cleanup logs it).
func waitServing(tb TB, what string, client *http.Client, url string, p *proc.Process, timeout time.Duration, log func() string, codes ...int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			tb.Fatal(err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if slices.Contains(codes, resp.StatusCode) {
				return
			}
			err = errors.New(resp.Status)
		}
		select {
		case <-p.Exited():
			tb.Fatalf("%s exited before answering GET %s:\n%s", what, url, log())
		case <-ctx.Done():
			tb.Fatalf("%s did not answer GET %s within %s: %v", what, url, timeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
