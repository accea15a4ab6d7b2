package tbtest

import (
	"fmt"
	"runtime"
	"testing"
)

// recorder is a testing.TB whose failures are recorded; the rest (Cleanup, Logf, TempDir, …) is the real test's.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper()      {}
func (r *recorder) Failed() bool { return len(r.failures) > 0 }

func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recorder) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }

// Fatalf records the failure and ends the goroutine, as testing.T's does.
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// Failures runs f as a test of its own, on a goroutine of its own (a Fatal ends f, not the caller), and returns the
// messages of its Error, Errorf, Fatal and Fatalf calls, nil when there were none; t is not failed by them.
func Failures(t testing.TB, f func(testing.TB)) []string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.failures
}
