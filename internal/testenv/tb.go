package testenv

import "testing"

// TB is what testenv's entry points need of their caller. testing.TB satisfies it; so does internal/sandbox's
// implementation, which runs the same entry points outside `go test`: there Fatal ends the step that called it with
// an error, and the cleanups run in reverse order when the sandbox goes down.
type TB interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	// Skip ends the caller because a prerequisite is missing (see package prereq).
	Skip(args ...any)
	Failed() bool
	Cleanup(f func())
	TempDir() string
}

var _ TB = testing.TB(nil)
