package sandbox

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestAStepThatDoesNotHappenSaysWhatItWaitedForAndWhatItLastSaw(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	d := &demo{out: io.Discard}
	polls := 0
	err := d.wait(ctx, "1.2.0 aborted", func(context.Context) (bool, string) {
		polls++
		return false, "spec.version 1.2.0, stable \"1.1.0\""
	})
	if err == nil || !strings.Contains(err.Error(), "waiting for 1.2.0 aborted") || !strings.Contains(err.Error(), `last seen: spec.version 1.2.0, stable "1.1.0"`) {
		t.Errorf("error %v", err)
	}
	if polls < 1 {
		t.Errorf("the condition was polled %d times", polls)
	}
}

func TestDemoWithoutASandboxIsErrNotRunning(t *testing.T) {
	t.Parallel()
	err := Demo(context.Background(), DemoOptions{Dir: t.TempDir(), Timeout: time.Minute}, io.Discard)
	if !errors.Is(err, ErrNotRunning) {
		t.Errorf("error %v, want %v", err, ErrNotRunning)
	}
}
