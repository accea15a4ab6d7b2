package testenv

import (
	"context"
	"time"

	"github.com/marina-dev/marina/internal/eventually"
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
