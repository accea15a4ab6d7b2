package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/marina-dev/marina/internal/testenv"
)

// runner is the sandbox's testenv.TB: testenv's entry points run through it as they run in a test. Fatal (and
// Skip: a prerequisite is missing) ends the step that called it with an error, Errorf records one, Logf writes to
// the log, and the cleanups run in reverse order in teardown, when the sandbox goes down.
type runner struct {
	log  io.Writer
	temp string // where TempDir makes directories

	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

var _ testenv.TB = (*runner)(nil)

func newRunner(log io.Writer, temp string) *runner { return &runner{log: log, temp: temp} }

// Helper does nothing: there are no test frames to hide.
func (r *runner) Helper() {}

// Name is what testenv.HoldHost records as the holder of the host.
func (r *runner) Name() string { return "marina-sandbox" }

// Logf writes one line to the log.
func (r *runner) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.log, format+"\n", args...)
}

// Errorf records an error and goes on, as testing.T's does.
func (r *runner) Errorf(format string, args ...any) { r.fail(fmt.Sprintf(format, args...)) }

// Fatal records an error and ends the step (see do).
func (r *runner) Fatal(args ...any) {
	r.fail(fmt.Sprint(args...))
	runtime.Goexit()
}

// Fatalf is Fatal with a format.
func (r *runner) Fatalf(format string, args ...any) {
	r.fail(fmt.Sprintf(format, args...))
	runtime.Goexit()
}

// Skip is how testenv says a prerequisite is missing (with the command that installs it): for a sandbox that is
// an error like any other.
func (r *runner) Skip(args ...any) {
	r.fail(fmt.Sprint(args...))
	runtime.Goexit()
}

// Failed reports whether an error was recorded.
func (r *runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs) > 0
}

// Cleanup registers f to run in teardown, after every function registered later.
func (r *runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// TempDir makes a new directory in the sandbox's temporary directory (removed in teardown).
func (r *runner) TempDir() string {
	if err := os.MkdirAll(r.temp, 0o700); err != nil {
		r.Fatal(err)
	}
	dir, err := os.MkdirTemp(r.temp, "")
	if err != nil {
		r.Fatal(err)
	}
	return dir
}

func (r *runner) fail(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, msg)
	fmt.Fprintf(r.log, "error: %s\n", msg)
}

// do runs fn on a goroutine of its own, as the testing package runs a test, so that Fatal ends fn and nothing
// else; it returns the errors recorded meanwhile, nil when there were none.
func (r *runner) do(fn func()) error {
	r.mu.Lock()
	before := len(r.errs)
	r.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) == before {
		return nil
	}
	return errors.New(strings.Join(r.errs[before:], "\n"))
}

// teardown runs the registered cleanups, last first, each on a goroutine of its own (a cleanup may call Fatal
// too), and removes the temporary directory; it returns the errors they recorded.
func (r *runner) teardown() error {
	r.mu.Lock()
	cleanups := slices.Clone(r.cleanups)
	r.cleanups = nil
	r.mu.Unlock()
	var errs []error
	for _, f := range slices.Backward(cleanups) {
		if err := r.do(f); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(r.temp); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
