package eventually

import (
	"context"
	"testing"
	"time"
)

// Poll calls cond every 100 ms, the first time at once, until it returns true (nil), an error (that error), or ctx
// ends (ctx's error).
func Poll(ctx context.Context, cond func(context.Context) (bool, error)) error {
	return poll(ctx, 100*time.Millisecond, cond)
}

// True fails tb unless cond holds within timeout, checking every 10 ms; what says what the test waited for.
func True(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := poll(ctx, 10*time.Millisecond, func(context.Context) (bool, error) { return cond(), nil }); err != nil {
		tb.Fatalf("after %s: %s", timeout, what)
	}
}

func poll(ctx context.Context, every time.Duration, cond func(context.Context) (bool, error)) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ok, err := cond(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
