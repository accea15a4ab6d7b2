package cli

import (
	"errors"
	"fmt"

	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/release"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/schemas"
)

// checkedWrong are the errors that mean "the checked thing is wrong" (exit 1)
// rather than a usage or environment problem (exit 2).
var checkedWrong = []error{
	registry.ErrConflict, registry.ErrNotFound, release.ErrRefused,
	repo.ErrDirty, repo.ErrBadPath, repo.ErrTooLarge, repo.ErrPushRejected, schemas.ErrInvalid, render.ErrUnsupportedStrategy,
}

// Exit codes shared by every command (DESIGN §2).
const (
	// ExitOK means the command did what was asked.
	ExitOK = 0
	// ExitFailed means the checked thing is wrong: a validation or gate failure, a refused change.
	ExitFailed = 1
	// ExitUsage means a usage or environment error: bad flags, missing repo, missing tool.
	ExitUsage = 2
)

// exitError carries the exit code a command wants next to its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// failed marks err as "the checked thing is wrong" (exit 1).
func failed(err error) error { return &exitError{code: ExitFailed, err: err} }

// failedf is failed with a formatted message.
func failedf(format string, args ...any) error { return failed(fmt.Errorf(format, args...)) }

// usagef marks a usage or environment error (exit 2).
func usagef(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if isCheckedWrong(err) {
		return ExitFailed
	}
	return ExitUsage
}

// isCheckedWrong reports whether err says the checked thing is wrong (a bad repository file, a refused change).
func isCheckedWrong(err error) bool {
	for _, target := range checkedWrong {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
