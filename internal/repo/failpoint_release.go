//go:build !failpoints

package repo

// failpoint does nothing: only a build with -tags failpoints (test/crash) can be stopped at a named point, so
// no environment variable can kill a released marina mid-commit.
func failpoint(string) {}
