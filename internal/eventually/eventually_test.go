package eventually_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/eventually"
)

func TestPollReturnsWhenTheConditionHoldsFailsOrTimeRunsOut(t *testing.T) {
	t.Parallel()
	calls := 0
	if err := eventually.Poll(context.Background(), func(context.Context) (bool, error) { calls++; return calls == 3, nil }); err != nil || calls != 3 {
		t.Fatalf("Poll = %v after %d calls, want nil after 3", err, calls)
	}
	boom := errors.New("boom")
	if err := eventually.Poll(context.Background(), func(context.Context) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Fatalf("Poll = %v, want the condition's error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	if err := eventually.Poll(ctx, func(context.Context) (bool, error) { return false, nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Poll = %v, want the context's deadline", err)
	}
}

// recorder is a testing.TB that records Fatalf instead of ending the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = format
}

func TestTrueFailsTheTestOnlyWhenTimeRunsOut(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	n := 0
	eventually.True(r, time.Second, "n reaches 5", func() bool { n++; return n >= 5 })
	if r.failed != "" || n != 5 {
		t.Fatalf("failed %q after %d checks", r.failed, n)
	}
	eventually.True(r, 50*time.Millisecond, "never", func() bool { return false })
	if r.failed == "" {
		t.Fatal("True did not fail the test when the condition never held")
	}
}
