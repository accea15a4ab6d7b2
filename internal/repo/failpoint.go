//go:build failpoints

package repo

import (
	"os"
	"syscall"
)

// failpoint kills the process at a named point when MARINA_FAILPOINT names it, so the crash-consistency tests
// (test/crash, which builds marina with -tags failpoints) can stop a real marina process exactly there.
func failpoint(name string) {
	if os.Getenv("MARINA_FAILPOINT") == name {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}
